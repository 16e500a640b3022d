package pipeline

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
)

// ActiveAlert is one active alert of Prometheus's /api/v1/alerts.
type ActiveAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

// SeenAlert is what an AlertWatcher learnt about one alert (name and labels).
type SeenAlert struct {
	Labels        map[string]string
	ActiveAt      time.Time // Prometheus's activeAt: when the expression first matched (again, after a gap)
	FirstPending  time.Time // when the watcher first saw it pending (zero if never)
	FirstFiring   time.Time // when the watcher first saw it firing (zero if never)
	LastSeen      time.Time
	LastState     string
	FiringMessage string // description while firing
	// Gaps counts the times the alert came back after a poll that did not show it, or
	// showed it with a new activeAt: each is an alert that ended and began again.
	Gaps int
	// missing is set by a poll that did not show the alert.
	missing bool
}

// AlertWatcher polls Prometheus's active alerts and keeps their history, so that an
// alert that fired but was inhibited can be told from one that never fired, and pending
// alerts can be asserted on too.
type AlertWatcher struct {
	prom    *promstack.Process
	mu      sync.Mutex
	seen    map[string]*SeenAlert
	current []ActiveAlert
	errs    int
	last    error
}

// WatchAlerts polls prom every interval until ctx ends.
func WatchAlerts(ctx context.Context, prom *promstack.Process, every time.Duration) *AlertWatcher {
	w := &AlertWatcher{prom: prom, seen: map[string]*SeenAlert{}}
	go func() {
		for {
			w.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

func (w *AlertWatcher) poll(ctx context.Context) {
	body, err := w.prom.Get(ctx, "/api/v1/alerts")
	now := time.Now()
	var resp struct {
		Data struct {
			Alerts []ActiveAlert `json:"alerts"`
		} `json:"data"`
	}
	if err == nil {
		err = json.Unmarshal(body, &resp)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.errs++
			w.last = err
		}
		return
	}
	w.current = resp.Data.Alerts
	present := map[*SeenAlert]bool{}
	for _, a := range resp.Data.Alerts {
		key := LabelString(a.Labels)
		s := w.seen[key]
		if s == nil {
			s = &SeenAlert{Labels: a.Labels, ActiveAt: a.ActiveAt}
			w.seen[key] = s
		} else if s.missing || !a.ActiveAt.Equal(s.ActiveAt) {
			s.Gaps++
			s.ActiveAt = a.ActiveAt
		}
		present[s] = true
		switch a.State {
		case "pending":
			if s.FirstPending.IsZero() {
				s.FirstPending = now
			}
		case "firing":
			if s.FirstFiring.IsZero() {
				s.FirstFiring = now
				s.FiringMessage = a.Annotations["description"]
			}
		}
		s.LastSeen, s.LastState = now, a.State
	}
	for _, s := range w.seen {
		s.missing = !present[s]
	}
}

// Current returns the alerts active at the last successful poll.
func (w *AlertWatcher) Current() []ActiveAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.current)
}

// All returns every alert seen so far, sorted by labels.
func (w *AlertWatcher) All() []SeenAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []SeenAlert
	for _, k := range slices.Sorted(maps.Keys(w.seen)) {
		out = append(out, *w.seen[k])
	}
	return out
}

// Firing returns the first alert whose labels include match and that has been seen
// firing.
func (w *AlertWatcher) Firing(match map[string]string) (SeenAlert, bool) {
	for _, s := range w.All() {
		if !s.FirstFiring.IsZero() && HasLabels(s.Labels, match) {
			return s, true
		}
	}
	return SeenAlert{}, false
}

// Errors returns how many polls failed, and the last error.
func (w *AlertWatcher) Errors() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs, w.last
}
