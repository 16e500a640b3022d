package main

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The soak's checks, kept free of processes and clusters so that they can be tested:
// the alert oracle (expectations against what fired), the resource bounds over the
// exporter's samples, and the markdown report.

// Expectation is an alert the soak's breakage may or must raise.
type Expectation struct {
	Alert  string
	Labels map[string]string // a subset of the alert's labels
	// Required alerts must fire; the others are consequences of the same breakage that
	// may fire (an allowance, not an assertion).
	Required bool
	// Repaired says the breakage was repaired: a required alert must not be firing at
	// the end.
	Repaired bool
	// Mentions, when set, is a regular expression the description of a required alert
	// must match when it fires: the pod and the reason it names.
	Mentions string
	// Why says which breakage the expectation stands for.
	Why string
}

func (e Expectation) matches(alert string, labels map[string]string) bool {
	if e.Alert != alert {
		return false
	}
	for k, v := range e.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (e Expectation) String() string {
	return e.Alert + labelString(e.Labels)
}

// Fired is one alert (alert name and labels) seen firing during the run, in
// Prometheus or in a notification.
type Fired struct {
	Alert       string
	Labels      map[string]string
	First       time.Time // first seen firing
	FiringAtEnd bool      // still firing in Prometheus when the run ended
	Resolved    bool      // a resolved notification was received after the last firing one
	Description string
}

func (f Fired) String() string { return f.Alert + labelString(f.Labels) }

// Verdict is the oracle's answer.
type Verdict struct {
	Missed      []Expectation // required, never fired
	Unresolved  []Expectation // required and repaired, still firing at the end
	Unexplained []Expectation // required, fired, but no description matched Mentions
	Phantoms    []Fired       // fired, matching no expectation
	Matched     map[string][]Fired
}

// OK reports whether the alerts were exactly those expected.
func (v Verdict) OK() bool {
	return len(v.Missed) == 0 && len(v.Unresolved) == 0 && len(v.Unexplained) == 0 && len(v.Phantoms) == 0
}

// Judge compares what fired with what was expected: every required expectation must
// have fired (and, when repaired, no longer fire at the end); every alert that fired
// must match some expectation.
func Judge(expected []Expectation, fired []Fired) Verdict {
	v := Verdict{Matched: map[string][]Fired{}}
	for _, f := range fired {
		matched := false
		for _, e := range expected {
			if e.matches(f.Alert, f.Labels) {
				v.Matched[e.String()] = append(v.Matched[e.String()], f)
				matched = true
			}
		}
		if !matched {
			v.Phantoms = append(v.Phantoms, f)
		}
	}
	for _, e := range expected {
		if !e.Required {
			continue
		}
		got := v.Matched[e.String()]
		if len(got) == 0 {
			v.Missed = append(v.Missed, e)
			continue
		}
		if e.Repaired && slices.ContainsFunc(got, func(f Fired) bool { return f.FiringAtEnd }) {
			v.Unresolved = append(v.Unresolved, e)
		}
		if e.Mentions != "" {
			re := regexp.MustCompile(e.Mentions)
			if !slices.ContainsFunc(got, func(f Fired) bool { return re.MatchString(f.Description) }) {
				v.Unexplained = append(v.Unexplained, e)
			}
		}
	}
	return v
}

// Sample is one reading of the exporter's own metrics.
type Sample struct {
	At         time.Time
	Goroutines float64 // go_goroutines
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
	RSS        float64 // process_resident_memory_bytes
}

// Bound is the allowance of one resource: after the warm-up its maximum must stay
// below Factor × (maximum during the warm-up) + Slack, and the median of the last third
// of the run must not exceed the median of the middle third by more than
// TrendFactor × that median + TrendSlack.
type Bound struct {
	Name        string
	Get         func(Sample) float64
	Factor      float64
	Slack       float64
	TrendFactor float64
	TrendSlack  float64
	Unit        string // "" or "MiB"
}

// Bounds are the soak's allowances. Factor 1.2 on the warm-up maximum leaves room for
// what the warm-up cannot show at its end (a relist after each API server restart holds
// a second copy of a resource's list while it decodes; the heap between two collections
// grows up to GOGC=100 over the live heap); the slack is what a handful of restarts of
// the watch goroutines and one extra HTTP/2 connection cost. A leak of one goroutine or
// a few kilobytes per scrape, watch restart or pod churn grows without end and crosses
// both bounds within the hour: 3600 scrapes, dozens of relists.
var Bounds = []Bound{
	{Name: "goroutines", Get: func(s Sample) float64 { return s.Goroutines }, Factor: 1.2, Slack: 20, TrendFactor: 0.1, TrendSlack: 10},
	{Name: "heap in use", Get: func(s Sample) float64 { return s.HeapInuse }, Factor: 1.2, Slack: 16 << 20, TrendFactor: 0.1, TrendSlack: 8 << 20, Unit: "MiB"},
	{Name: "resident memory", Get: func(s Sample) float64 { return s.RSS }, Factor: 1.2, Slack: 16 << 20, TrendFactor: 0.1, TrendSlack: 8 << 20, Unit: "MiB"},
}

// BoundResult is the outcome of one Bound over the samples.
type BoundResult struct {
	Bound
	Min, Median, Max float64 // over every sample
	WarmupMax        float64
	Limit            float64 // Factor × WarmupMax + Slack
	AfterMax         float64 // maximum after the warm-up
	MiddleMedian     float64 // median of the middle third of the run
	LastMedian       float64 // median of the last third
	TrendLimit       float64
	Failures         []string
	WarmupN, AfterN  int
}

// CheckBounds applies each bound to the samples; samples before start+warmup are the
// warm-up. Too few samples after the warm-up is a failure: the run proved nothing.
func CheckBounds(samples []Sample, start time.Time, warmup time.Duration, bounds []Bound) []BoundResult {
	var out []BoundResult
	var warm, after []Sample
	for _, s := range samples {
		if s.At.Before(start.Add(warmup)) {
			warm = append(warm, s)
		} else {
			after = append(after, s)
		}
	}
	n := len(samples)
	middle, last := samples[n/3:2*n/3], samples[2*n/3:]
	for _, b := range bounds {
		r := BoundResult{Bound: b, WarmupN: len(warm), AfterN: len(after)}
		all := values(samples, b.Get)
		if len(all) == 0 || len(warm) == 0 || len(after) < 3 {
			r.Failures = append(r.Failures, fmt.Sprintf("too few samples (%d in the warm-up, %d after)", len(warm), len(after)))
			out = append(out, r)
			continue
		}
		r.Min, r.Median, r.Max = slices.Min(all), median(all), slices.Max(all)
		r.WarmupMax = slices.Max(values(warm, b.Get))
		r.Limit = b.Factor*r.WarmupMax + b.Slack
		r.AfterMax = slices.Max(values(after, b.Get))
		if r.AfterMax > r.Limit {
			r.Failures = append(r.Failures, fmt.Sprintf("%s reached %s after the warm-up, above its bound %s", b.Name, b.format(r.AfterMax), b.format(r.Limit)))
		}
		r.MiddleMedian, r.LastMedian = median(values(middle, b.Get)), median(values(last, b.Get))
		r.TrendLimit = r.MiddleMedian*(1+b.TrendFactor) + b.TrendSlack
		if r.LastMedian > r.TrendLimit {
			r.Failures = append(r.Failures, fmt.Sprintf("%s grows: median %s in the last third against %s in the middle third (allowed up to %s)",
				b.Name, b.format(r.LastMedian), b.format(r.MiddleMedian), b.format(r.TrendLimit)))
		}
		out = append(out, r)
	}
	return out
}

func (b Bound) format(v float64) string {
	if b.Unit == "MiB" {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.0f", v)
}

// MaxInWindow returns the largest number of times in any window of length w.
func MaxInWindow(times []time.Time, w time.Duration) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i := range ts {
		j := sort.Search(len(ts), func(j int) bool { return ts[j].Sub(ts[i]) >= w })
		best = max(best, j-i)
	}
	return best
}

// Report is everything the markdown report shows.
type Report struct {
	Started, Ended time.Time
	Settings       []string // "name: value" lines
	Churn          []string // "what: count (detail)" lines
	Expected       []Expectation
	Verdict        Verdict
	Bounds         []BoundResult
	Problems       []string // anything else that failed the run
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	if !r.Verdict.OK() || len(r.Problems) > 0 {
		return true
	}
	return slices.ContainsFunc(r.Bounds, func(b BoundResult) bool { return len(b.Failures) > 0 })
}

// Markdown renders the report.
func (r Report) Markdown() string {
	var b strings.Builder
	result := "PASS"
	if r.Failed() {
		result = "FAIL"
	}
	fmt.Fprintf(&b, "# Soak report: %s\n\n", result)
	fmt.Fprintf(&b, "Ran %s, from %s to %s.\n\n", r.Ended.Sub(r.Started).Round(time.Second), r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339))
	list(&b, "Settings", r.Settings)
	list(&b, "Churn", r.Churn)

	b.WriteString("## Alerts\n\n| expected | kind | fired | first firing | at the end |\n|---|---|---|---|---|\n")
	for _, e := range r.Expected {
		kind := "may fire"
		if e.Required {
			kind = "must fire"
			if e.Repaired {
				kind += ", then resolve"
			}
		}
		got := r.Verdict.Matched[e.String()]
		first, end := "-", "-"
		if len(got) > 0 {
			first = got[0].First.Sub(r.Started).Round(time.Second).String()
			end = "resolved"
			if slices.ContainsFunc(got, func(f Fired) bool { return f.FiringAtEnd }) {
				end = "firing"
			}
		}
		fmt.Fprintf(&b, "| `%s` (%s) | %s | %d | %s | %s |\n", e, e.Why, kind, len(got), first, end)
	}
	b.WriteString("\n")
	for _, e := range r.Expected {
		if got := r.Verdict.Matched[e.String()]; e.Required && len(got) > 0 {
			fmt.Fprintf(&b, "- `%s` said: %s\n", e.Alert, oneLine(got[0].Description))
		}
	}
	for _, e := range r.Verdict.Missed {
		fmt.Fprintf(&b, "- MISSED: `%s` never fired (%s)\n", e, e.Why)
	}
	for _, e := range r.Verdict.Unresolved {
		fmt.Fprintf(&b, "- UNRESOLVED: `%s` still fires after the repair\n", e)
	}
	for _, e := range r.Verdict.Unexplained {
		fmt.Fprintf(&b, "- UNEXPLAINED: `%s` fired, but its description never matched `%s`\n", e, e.Mentions)
	}
	for _, f := range r.Verdict.Phantoms {
		fmt.Fprintf(&b, "- PHANTOM: `%s` fired %s into the run: %s\n", f, f.First.Sub(r.Started).Round(time.Second), oneLine(f.Description))
	}
	if r.Verdict.OK() {
		b.WriteString("\nNo missed and no phantom alert.\n")
	}
	b.WriteString("\n## Exporter resources (sampled from its /metrics)\n\n")
	b.WriteString("| resource | min | median | max | warm-up max | bound | max after warm-up | median middle third | median last third | trend limit | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, br := range r.Bounds {
		verdict := "ok"
		if len(br.Failures) > 0 {
			verdict = "FAIL"
		}
		f := br.format
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", br.Name, f(br.Min), f(br.Median), f(br.Max),
			f(br.WarmupMax), f(br.Limit), f(br.AfterMax), f(br.MiddleMedian), f(br.LastMedian), f(br.TrendLimit), verdict)
	}
	if len(r.Bounds) > 0 {
		fmt.Fprintf(&b, "\n%d samples in the warm-up, %d after.\n", r.Bounds[0].WarmupN, r.Bounds[0].AfterN)
	}
	for _, br := range r.Bounds {
		for _, f := range br.Failures {
			fmt.Fprintf(&b, "- FAIL: %s\n", f)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\n## Other failures\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func list(b *strings.Builder, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "## %s\n\n", title)
	for _, l := range lines {
		fmt.Fprintf(b, "- %s\n", l)
	}
	b.WriteString("\n")
}

func values(samples []Sample, get func(Sample) float64) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = get(s)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// labelString formats labels in a stable order, without alertname.
func labelString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if k != "alertname" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func oneLine(s string) string { return cmp.Or(strings.Join(strings.Fields(s), " "), "-") }
