package reliability

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
)

// exporter is built once for the whole test binary.
var exporter exporterbin.Cached

func TestMain(m *testing.M) {
	code := m.Run()
	exporter.Remove()
	os.Exit(code)
}

// exporterBinary builds the exporter once per test binary.
func exporterBinary(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binary, err := exporter.Path(ctx)
	if err != nil {
		t.Fatalf("building the exporter: %v", err)
	}
	return binary
}

// startExporter runs the exporter binary with args and stops it when the test ends,
// logging its output if the test failed.
func startExporter(t *testing.T, args ...string) *exporterbin.Process {
	t.Helper()
	p, err := exporterbin.Start(t.Context(), exporterBinary(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("exporter log (tail):\n%s", tail(p.Log(), 60))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// samples is one scrape: series (name{label="value",...}, labels sorted) to value.
type samples map[string]float64

// seriesKey is the canonical name of a series: name{a="x",b="y"} with sorted labels.
func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// parseSeriesKey splits a seriesKey back into name and labels.
func parseSeriesKey(key string) (string, map[string]string) {
	name, rest, ok := strings.Cut(key, "{")
	labels := map[string]string{}
	if !ok {
		return name, labels
	}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, after, _ := strings.Cut(rest, "=")
		q, err := strconv.QuotedPrefix(after)
		if err != nil {
			break
		}
		v, _ := strconv.Unquote(q)
		labels[k] = v
		rest = strings.TrimPrefix(after[len(q):], ",")
	}
	return name, labels
}

// parseMetrics parses the Prometheus text format into samples. Histograms and
// summaries are left out: no check here needs them.
func parseMetrics(body string) (samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	out := samples{}
	for name, f := range families {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			out[seriesKey(name, labels)] = v
		}
	}
	return out, nil
}

// scrape fetches and parses /metrics.
func scrape(ctx context.Context, p *exporterbin.Process) (samples, error) {
	body, err := p.Get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(body)
}

// get returns the value of the series name{labels} (pairs of label name and value).
func (s samples) get(name string, kv ...string) (float64, bool) {
	labels := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	v, ok := s[seriesKey(name, labels)]
	return v, ok
}

// sum adds up the series of name whose labels include the given pairs.
func (s samples) sum(name string, kv ...string) float64 {
	total := 0.0
	for key, v := range s {
		n, labels := parseSeriesKey(key)
		if n != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if labels[kv[i]] != kv[i+1] {
				match = false
				break
			}
		}
		if match {
			total += v
		}
	}
	return total
}

// count returns how many series of name exist.
func (s samples) count(name string) int {
	n := 0
	for key := range s {
		if strings.HasPrefix(key, name+"{") || key == name {
			n++
		}
	}
	return n
}

// workloadState is the part of a scrape that describes the cluster (every StatefulSet
// and control-plane lease series), as opposed to the exporter's own metrics. Left out:
// statefulset_control_plane_lease_held, which compares the frozen Leases with the
// exporter's clock and so changes during an outage by design.
func (s samples) workloadState() samples {
	out := samples{}
	for key, v := range s {
		name, _, _ := strings.Cut(key, "{")
		if strings.HasPrefix(name, "statefulset_") && !strings.HasPrefix(name, "statefulset_exporter_") &&
			name != "statefulset_control_plane_lease_held" {
			out[key] = v
		}
	}
	return out
}

// diff lists how got differs from want, at most max lines.
func diff(want, got samples, max int) []string {
	var out []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("missing %s (was %g)", k, want[k]))
		} else if g != want[k] {
			out = append(out, fmt.Sprintf("changed %s: %g -> %g", k, want[k], g))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("new %s = %g", k, v))
		}
	}
	sort.Strings(out)
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("... and %d more", len(out)-max))
	}
	return out
}

// apiErrors sums statefulset_exporter_api_errors_total by reason, split into the probe
// and the list/watch calls of the informers.
func (s samples) apiErrors(reason string) (probe, listWatch float64) {
	probe = s.sum("statefulset_exporter_api_errors_total", "resource", "probe", "reason", reason)
	all := s.sum("statefulset_exporter_api_errors_total", "reason", reason)
	return probe, all - probe
}

// waitFor polls cond every interval until it returns true or timeout passes, and
// returns how long it took; it fails the test with the last message on timeout.
func waitFor(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		last = msg
		if time.Since(start) > timeout {
			t.Fatalf("%s: not true after %s: %s", what, timeout, last)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		case <-time.After(interval):
		}
	}
}

// healthPoller polls /healthz until stopped and counts the polls that failed.
type healthPoller struct {
	mu       sync.Mutex
	polls    int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func pollHealth(ctx context.Context, p *exporterbin.Process, every time.Duration) *healthPoller {
	h := &healthPoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			_, err := p.Get(ctx, "/healthz")
			h.mu.Lock()
			h.polls++
			if err != nil {
				h.failures = append(h.failures, time.Now().Format("15:04:05.000")+" "+err.Error())
			}
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return h
}

// Stop ends the polling and returns the number of polls and the failures.
func (h *healthPoller) Stop() (int, []string) {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.polls, append([]string(nil), h.failures...)
}
