package derive

import (
	"slices"
	"time"
)

// Termination is a container of a pod whose last run ended within the recent window: its
// reason (one of TerminationReasons, or "Other") and when it finished.
type Termination struct {
	Pod, Container, Reason string
	FinishedAt             time.Time
}

// TerminationRecent tells whether a container that finished at finishedAt still counts as
// recently terminated at now. A window of 0 keeps none.
func TerminationRecent(finishedAt, now time.Time, window time.Duration) bool {
	return window > 0 && now.Sub(finishedAt) <= window
}

// EarliestTermination returns the earliest finish time of terms, the first to leave the
// recent window as the clock moves; false when terms is empty.
func EarliestTermination(terms []Termination) (time.Time, bool) {
	if len(terms) == 0 {
		return time.Time{}, false
	}
	earliest := terms[0].FinishedAt
	for _, t := range terms[1:] {
		if t.FinishedAt.Before(earliest) {
			earliest = t.FinishedAt
		}
	}
	return earliest, true
}

// recentTerminations lists the containers of p, init containers first, whose last
// termination (lastState.terminated) finished within window of now. A container without
// a finish time has no termination to date and is left out, and so is a second status of
// one container name, which the API server does not allow.
func recentTerminations(p *Pod, now time.Time, window time.Duration, out []Termination) []Termination {
	if window <= 0 {
		return out
	}
	first := len(out)
	for i, c := range p.allStates() {
		st := c.Value()
		finished := p.finishedAt(i)
		if !st.lastTerminatedSet || finished.IsZero() || !TerminationRecent(finished, now, window) ||
			slices.ContainsFunc(out[first:], func(o Termination) bool { return o.Container == st.name }) {
			continue
		}
		out = append(out, Termination{Pod: p.GetName(), Container: st.name, Reason: terminationReason(st.lastTerminated), FinishedAt: finished})
	}
	return out
}
