package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

func TestJudge(t *testing.T) {
	rollout := Expectation{Alert: "StatefulSetRolloutStalled", Labels: map[string]string{"namespace": "r", "pod": "r-2"},
		Required: true, Repaired: true, Mentions: `waiting for pod r-2 \(CrashLoopBackOff`}
	allowed := Expectation{Alert: "StatefulSetContainerRestarting", Labels: map[string]string{"namespace": "r"}}
	expected := []Expectation{rollout, allowed}
	fired := func(alert string, end bool, description string, labels ...string) Fired {
		l := map[string]string{"alertname": alert}
		for i := 0; i < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		return Fired{Alert: alert, Labels: l, FiringAtEnd: end, Description: description}
	}
	good := fired("StatefulSetRolloutStalled", false, "It is waiting for pod r-2 (CrashLoopBackOff).", "namespace", "r", "pod", "r-2", "severity", "warning")

	if v := Judge(expected, []Fired{good}); !v.OK() {
		t.Errorf("the required alert, resolved, and nothing else: %+v", v)
	}
	if v := Judge(expected, []Fired{good, fired("StatefulSetContainerRestarting", true, "", "namespace", "r", "pod", "r-2")}); !v.OK() {
		t.Errorf("an allowed consequence fired: %+v", v)
	}
	if v := Judge(expected, nil); len(v.Missed) != 1 || v.OK() {
		t.Errorf("nothing fired: missed %v", v.Missed)
	}
	if v := Judge(expected, []Fired{fired("StatefulSetRolloutStalled", true, good.Description, "namespace", "r", "pod", "r-2")}); len(v.Unresolved) != 1 || v.OK() {
		t.Errorf("still firing after the repair: unresolved %v", v.Unresolved)
	}
	if v := Judge(expected, []Fired{fired("StatefulSetRolloutStalled", false, "It is waiting for pod r-2.", "namespace", "r", "pod", "r-2")}); len(v.Unexplained) != 1 || v.OK() {
		t.Errorf("a description without the reason: unexplained %v", v.Unexplained)
	}
	// The wrong pod, another namespace's restarts and an exporter alert are phantoms.
	v := Judge(expected, []Fired{good,
		fired("StatefulSetRolloutStalled", false, "", "namespace", "r", "pod", "r-1"),
		fired("StatefulSetContainerRestarting", false, "", "namespace", "flapper", "pod", "flapper-0"),
		fired("StatefulSetExporterAPIUnreachable", false, "", "job", "statefulset-exporter"),
	})
	if len(v.Phantoms) != 3 || v.OK() {
		t.Errorf("phantoms: got %v, want three", v.Phantoms)
	}
}

func TestCheckBounds(t *testing.T) {
	start := time.Unix(1000, 0)
	run := func(goroutines ...float64) []Sample {
		var out []Sample
		for i, g := range goroutines {
			out = append(out, Sample{At: start.Add(time.Duration(i) * time.Minute), Goroutines: g, HeapInuse: 10 << 20, RSS: 40 << 20})
		}
		return out
	}
	bounds := Bounds[:1]
	// Warm-up: the first 3 minutes.
	steady := CheckBounds(run(100, 120, 110, 115, 118, 112, 119, 121, 117), start, 3*time.Minute, bounds)[0]
	if len(steady.Failures) > 0 || steady.WarmupMax != 120 || steady.Limit != 164 {
		t.Errorf("steady: %+v", steady)
	}
	// Below the bound, but growing steadily: the trend fails.
	growing := CheckBounds(run(100, 100, 100, 105, 110, 115, 132, 135, 138), start, 3*time.Minute, bounds)[0]
	if len(growing.Failures) != 1 || !strings.Contains(growing.Failures[0], "grows") {
		t.Errorf("growing: %v", growing.Failures)
	}
	spike := CheckBounds(run(100, 100, 100, 100, 200, 100, 100, 100, 100), start, 3*time.Minute, bounds)[0]
	if len(spike.Failures) != 1 || !strings.Contains(spike.Failures[0], "above its bound") {
		t.Errorf("spike: %v", spike.Failures)
	}
	if short := CheckBounds(run(100, 100), start, 3*time.Minute, bounds)[0]; len(short.Failures) != 1 {
		t.Errorf("two samples passed: %+v", short)
	}
}

func TestMaxInWindow(t *testing.T) {
	at := func(minutes ...int) []time.Time {
		var out []time.Time
		for _, m := range minutes {
			out = append(out, time.Unix(int64(m*60), 0))
		}
		return out
	}
	for _, c := range []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 10, 20, 30), 2},
		{at(30, 0, 10, 14), 3},
		{at(0, 15, 30), 1}, // exactly a window apart
	} {
		if got := MaxInWindow(c.times, 15*time.Minute); got != c.want {
			t.Errorf("MaxInWindow(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}

func TestParseSample(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_memstats_heap_inuse_bytes 1.2e+07\nprocess_resident_memory_bytes 5.5e+07\ngo_goroutines_other 1\n"
	s, err := parseSample(text)
	if err != nil || s.Goroutines != 42 || s.HeapInuse != 1.2e7 || s.RSS != 5.5e7 {
		t.Errorf("parseSample: %+v, %v", s, err)
	}
	if _, err := parseSample("go_goroutines 1\n"); err == nil {
		t.Error("an exposition without the memory metrics parsed")
	}
}

func TestFiredAlerts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	labels := map[string]string{"alertname": "A", "namespace": "n"}
	seen := []pipeline.SeenAlert{
		{Labels: labels, FirstFiring: t0.Add(time.Minute), FiringMessage: "from Prometheus"},
		{Labels: map[string]string{"alertname": "Pending"}}, // never fired
	}
	notified := []pipeline.Notification{
		{At: t0.Add(2 * time.Minute), Alert: pipeline.Alert{Status: "firing", Labels: map[string]string{"alertname": "A", "namespace": "n", "cluster": "soak"}}},
		{At: t0.Add(3 * time.Minute), Alert: pipeline.Alert{Status: "firing", Labels: map[string]string{"alertname": "B", "cluster": "soak"}}},
		{At: t0.Add(4 * time.Minute), Alert: pipeline.Alert{Status: "resolved", Labels: map[string]string{"alertname": "C", "cluster": "soak"}}},
	}
	got := firedAlerts(seen, notified, map[string]bool{pipeline.LabelString(labels): true})
	if len(got) != 2 || got[0].Alert != "A" || !got[0].First.Equal(t0.Add(time.Minute)) || !got[0].FiringAtEnd || got[1].Alert != "B" || got[1].FiringAtEnd {
		t.Errorf("firedAlerts: %+v", got)
	}
}

func TestExpectations(t *testing.T) {
	cfg := mixin.DefaultConfig()
	names := func(es []Expectation) []string {
		var out []string
		for _, e := range es {
			if !e.Required {
				out = append(out, e.String())
			}
		}
		return out
	}
	minutes := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, time.Unix(int64(m*60), 0))
		}
		return out
	}
	quiet := names(expectations(cfg, map[string][]time.Time{"kube-scheduler": minutes(0, 10, 20, 30)},
		map[string]time.Duration{"kube-scheduler": 2 * time.Second}, true, 9*time.Second))
	if slices.ContainsFunc(quiet, func(s string) bool {
		return strings.Contains(s, "ControlPlane") || strings.Contains(s, "APIUnreachable")
	}) {
		t.Errorf("two leader changes per 15m, 2s without a leader and a 9s outage allow %v", quiet)
	}
	loud := names(expectations(cfg, map[string][]time.Time{"kube-scheduler": minutes(0, 7, 9)},
		map[string]time.Duration{"kube-scheduler": 3 * time.Minute}, true, 4*time.Minute))
	for _, want := range []string{`ControlPlaneLeaderFlapping{lease="kube-scheduler"}`, `ControlPlaneNoLeader{lease="kube-scheduler"}`, `StatefulSetExporterAPIUnreachable{}`} {
		if !slices.Contains(loud, want) {
			t.Errorf("three leader changes within 15m and a 4m outage: %v lacks %s", loud, want)
		}
	}
	for _, e := range expectations(cfg, nil, nil, false, 0) {
		if e.Repaired {
			t.Errorf("%s expected to resolve without a repair", e)
		}
	}
}

func TestMarkdown(t *testing.T) {
	start := time.Unix(1000, 0)
	phantom := Fired{Alert: "StatefulSetExporterAPIUnreachable", Labels: map[string]string{"alertname": "StatefulSetExporterAPIUnreachable"}, First: start.Add(time.Minute)}
	r := Report{Started: start, Ended: start.Add(time.Hour), Verdict: Judge(nil, []Fired{phantom})}
	if !r.Failed() || !strings.Contains(r.Markdown(), "# Soak report: FAIL") || !strings.Contains(r.Markdown(), "PHANTOM: `StatefulSetExporterAPIUnreachable{}` fired 1m0s into the run") {
		t.Errorf("a phantom alert:\n%s", r.Markdown())
	}
	r = Report{Started: start, Ended: start.Add(time.Hour), Verdict: Judge(nil, nil)}
	if r.Failed() || !strings.Contains(r.Markdown(), "No missed and no phantom alert.") {
		t.Errorf("nothing expected, nothing fired:\n%s", r.Markdown())
	}
}
