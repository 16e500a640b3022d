package integration

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
)

// exporter is a running statefulset-exporter binary.
type exporter struct {
	*exporterbin.Process
	name string
}

func startExporterProcess(ctx context.Context, binary, name string, args ...string) (*exporter, error) {
	p, err := exporterbin.Start(ctx, binary, args...)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", name, err)
	}
	return &exporter{Process: p, name: name}, nil
}

// startExporter runs one more exporter for a single test, stopped when it ends.
func (f *fixture) startExporter(t *testing.T, name string, args ...string) *exporter {
	t.Helper()
	begin := time.Now()
	x, err := startExporterProcess(t.Context(), f.binary, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exporter %s listening at %s after %s", name, x.URL, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		x.Stop()
		if t.Failed() {
			t.Logf("exporter %s log (tail):\n%s", name, tail(x.Log(), 40))
		}
	})
	return x
}

// scrape is one GET of /metrics.
type scrape struct {
	begin, end time.Time // when the request was sent and when the answer was in
	body       string
	samples    []sample
}

// sample is one line of the exposition; histograms and summaries are flattened into
// their _bucket, _sum and _count (or quantile) lines.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (x *exporter) scrape(ctx context.Context) (*scrape, error) {
	s := &scrape{begin: time.Now()}
	body, err := x.Get(ctx, "/metrics")
	s.end = time.Now()
	if err != nil {
		return nil, err
	}
	s.body = body
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	for name, mf := range families {
		s.samples = append(s.samples, flatten(name, mf)...)
	}
	return s, nil
}

func flatten(name string, mf *dto.MetricFamily) []sample {
	var out []sample
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		with := func(extra ...string) map[string]string {
			c := make(map[string]string, len(labels)+1)
			for k, v := range labels {
				c[k] = v
			}
			for i := 0; i+1 < len(extra); i += 2 {
				c[extra[i]] = extra[i+1]
			}
			return c
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			out = append(out, sample{name, labels, m.GetCounter().GetValue()})
		case dto.MetricType_GAUGE:
			out = append(out, sample{name, labels, m.GetGauge().GetValue()})
		case dto.MetricType_HISTOGRAM:
			h := m.GetHistogram()
			sawInf := false
			for _, b := range h.GetBucket() {
				sawInf = sawInf || math.IsInf(b.GetUpperBound(), +1)
				out = append(out, sample{name + "_bucket", with("le", formatValue(b.GetUpperBound())), float64(b.GetCumulativeCount())})
			}
			if !sawInf {
				out = append(out, sample{name + "_bucket", with("le", "+Inf"), float64(h.GetSampleCount())})
			}
			out = append(out,
				sample{name + "_sum", labels, h.GetSampleSum()},
				sample{name + "_count", labels, float64(h.GetSampleCount())})
		case dto.MetricType_SUMMARY:
			sm := m.GetSummary()
			for _, q := range sm.GetQuantile() {
				out = append(out, sample{name, with("quantile", formatValue(q.GetQuantile())), q.GetValue()})
			}
			out = append(out, sample{name + "_sum", labels, sm.GetSampleSum()}, sample{name + "_count", labels, float64(sm.GetSampleCount())})
		default:
			out = append(out, sample{name, labels, m.GetUntyped().GetValue()})
		}
	}
	return out
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// line renders a sample as `name{a="x",b="y"} value`, labels sorted, leaving out the
// labels in drop.
func (s sample) line(value string, drop ...string) string {
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		if !slices.Contains(drop, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.name)
	if len(keys) > 0 {
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", k, s.labels[k])
		}
		b.WriteByte('}')
	}
	return b.String() + " " + value
}

// find returns the samples named name whose labels include every pair of match
// (alternating names and values).
func (s *scrape) find(name string, match ...string) []sample {
	var out []sample
	for _, smp := range s.samples {
		if smp.name == name && smp.matches(match...) {
			out = append(out, smp)
		}
	}
	return out
}

func (s sample) matches(match ...string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if s.labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// value returns the value of the only sample named name with labels match, and whether
// there is exactly one.
func (s *scrape) value(name string, match ...string) (float64, bool) {
	found := s.find(name, match...)
	if len(found) != 1 {
		return 0, false
	}
	return found[0].value, true
}

// ts stands for a timestamp that depends on when things happened. A sample of a
// timestampFamilies family renders as ts when its value lies between the fixture's start
// and the scrape; any other value is shown as is and fails the comparison.
const ts = "<ts>"

var timestampFamilies = []string{
	"statefulset_rollout_last_progress_timestamp_seconds",
	"statefulset_exporter_api_last_success_timestamp_seconds",
	"statefulset_exporter_last_event_timestamp_seconds",
	"statefulset_container_last_terminated_timestamp_seconds",
}

// bindDurationSeries are the lines of statefulset_pvc_bind_duration_seconds. The
// exporter observes a bind only when it saw the PVC Pending and already knew its
// StatefulSet: for scenarios that create and bind a PVC within milliseconds that depends
// on the order of watch events, so workload leaves them out unless asked for, and
// TestPVCProvisionAndBind checks them on a bind it controls.
var bindDurationSeries = []string{
	"statefulset_pvc_bind_duration_seconds_bucket",
	"statefulset_pvc_bind_duration_seconds_sum",
	"statefulset_pvc_bind_duration_seconds_count",
}

func (f *fixture) render(s *scrape, smp sample, drop ...string) string {
	v := formatValue(smp.value)
	if slices.Contains(timestampFamilies, smp.name) {
		// Object timestamps have whole seconds: allow the second the fixture started in.
		lo := float64(f.started.Truncate(time.Second).Unix())
		hi := float64(s.end.UnixNano())/1e9 + 0.001
		if smp.value >= lo && smp.value <= hi {
			v = ts
		}
	}
	return smp.line(v, drop...)
}

// workload returns the rendered samples of the StatefulSet ns/ns, without the namespace
// and statefulset labels, sorted; with families it keeps only those (for histograms,
// name the _bucket, _sum and _count series). Without families it leaves out
// bindDurationSeries.
func (f *fixture) workload(s *scrape, ns string, families ...string) []string {
	var out []string
	for _, smp := range s.samples {
		if smp.labels["namespace"] != ns || smp.labels["statefulset"] != ns {
			continue
		}
		if len(families) > 0 && !slices.Contains(families, smp.name) {
			continue
		}
		if len(families) == 0 && slices.Contains(bindDurationSeries, smp.name) {
			continue
		}
		out = append(out, f.render(s, smp, "namespace", "statefulset"))
	}
	sort.Strings(out)
	return out
}

// selected returns the rendered samples of the given families whose labels include
// match, sorted.
func (f *fixture) selected(s *scrape, families []string, match ...string) []string {
	var out []string
	for _, smp := range s.samples {
		if slices.Contains(families, smp.name) && smp.matches(match...) {
			out = append(out, f.render(s, smp))
		}
	}
	sort.Strings(out)
	return out
}

var expectedLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"`)

// expect turns a block of expected lines (`name{labels} value`, one a line, blank lines
// and # comments ignored) into the form workload and selected render: labels sorted,
// numbers formatted alike. Label values may not contain quotes.
func expect(t *testing.T, block string) []string {
	t.Helper()
	var out []string
	for _, raw := range strings.Split(block, "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		line, err := expectedLine(l, ts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// expectedLine renders one expected line as expect does; a value in keep (a placeholder)
// stays as it is.
func expectedLine(l string, keep ...string) (string, error) {
	i := strings.LastIndexByte(l, ' ')
	if i < 0 {
		return "", fmt.Errorf("expected sample without value: %q", l)
	}
	series, value := strings.TrimSpace(l[:i]), l[i+1:]
	if !slices.Contains(keep, value) {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "", fmt.Errorf("expected sample %q: %v", l, err)
		}
		value = formatValue(v)
	}
	smp := sample{name: series, labels: map[string]string{}}
	if j := strings.IndexByte(series, '{'); j >= 0 {
		smp.name = series[:j]
		for _, m := range expectedLabel.FindAllStringSubmatch(series[j:], -1) {
			smp.labels[m[1]] = m[2]
		}
	}
	return smp.line(value), nil
}

// diff describes how got differs from want, or returns "" when they are equal.
func diff(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	for _, l := range got {
		g[l] = true
	}
	var b strings.Builder
	for _, l := range want {
		if !g[l] {
			fmt.Fprintf(&b, "\n  - %s", l)
		}
	}
	for _, l := range got {
		if !w[l] {
			fmt.Fprintf(&b, "\n  + %s", l)
		}
	}
	if b.Len() == 0 && len(want) != len(got) {
		fmt.Fprintf(&b, "\n  %d lines wanted, %d got (duplicates)", len(want), len(got))
	}
	if b.Len() == 0 {
		return ""
	}
	return "(- wanted, + got)" + b.String() + "\ngot:\n  " + strings.Join(got, "\n  ")
}

// poll scrapes x until check reports done, and returns that scrape. check returns a
// description of what is still missing; an error from invariant (called on every
// scrape) fails the test at once. It fails the test after waitTimeout.
func poll(t *testing.T, x *exporter, what string, check func(s *scrape) (done bool, status string), invariant func(s *scrape) error) *scrape {
	t.Helper()
	return pollFor(t, x, what, waitTimeout, check, invariant)
}

// pollFor is poll with another timeout.
func pollFor(t *testing.T, x *exporter, what string, timeout time.Duration, check func(s *scrape) (done bool, status string), invariant func(s *scrape) error) *scrape {
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(timeout)
	status := "no scrape yet"
	for n := 1; ; n++ {
		s, err := x.scrape(t.Context())
		switch {
		case err != nil:
			status = err.Error()
			if x.Exited() {
				t.Fatalf("%s: exporter %s exited: %v\n%s", what, x.name, x.ExitErr(), tail(x.Log(), 40))
			}
		default:
			if invariant != nil {
				if err := invariant(s); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			var done bool
			if done, status = check(s); done {
				t.Logf("%s: seen after %s (%d scrapes)", what, time.Since(begin).Round(time.Millisecond), n)
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s (exporter %s): %s", what, timeout, x.name, status)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(pollEvery):
		}
	}
}

// waitWorkload waits until the samples of StatefulSet ns/ns (of families, or all) are
// exactly want.
func (f *fixture) waitWorkload(t *testing.T, x *exporter, ns string, want []string, families ...string) *scrape {
	t.Helper()
	return f.waitWorkloadWith(t, x, ns, want, nil, families...)
}

func (f *fixture) waitWorkloadWith(t *testing.T, x *exporter, ns string, want []string, invariant func(*scrape) error, families ...string) *scrape {
	t.Helper()
	return poll(t, x, "samples of statefulset "+ns, func(s *scrape) (bool, string) {
		d := diff(want, f.workload(s, ns, families...))
		return d == "", d
	}, invariant)
}

// waitSelected waits until the samples of families with labels match are exactly want.
func (f *fixture) waitSelected(t *testing.T, x *exporter, what string, want []string, families []string, match ...string) *scrape {
	t.Helper()
	return poll(t, x, what, func(s *scrape) (bool, string) {
		d := diff(want, f.selected(s, families, match...))
		return d == "", d
	}, nil)
}
