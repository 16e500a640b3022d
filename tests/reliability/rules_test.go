package reliability

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/internal/gotool"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// The generated alerting-rule test.
//
// TestAPIServerKilledAndRestarted scrapes the exporter every second through three
// 20-second kube-apiserver outages, the way Prometheus would. checkRulesOverRecording
// turns those scrapes into promtool unit tests of the generated rule file
// (rules/statefulset-exporter.rules.yaml) and runs `go tool promtool test rules`:
//
//   - "as recorded": the three outages exactly as scraped, followed by 20 minutes of the
//     final state. 20 seconds is shorter than every `for` of the rules, so nothing at all
//     may fire, the exporter's own API-unreachable alert included.
//   - "extrapolated": the first outage stretched to extendedOutage. The recorded
//     outage lasts 20s, far shorter than the 3m `for` of StatefulSetExporterAPIUnreachable
//     and the 5m-15m `for` of the workload alerts, so as recorded it proves nothing about
//     them. The extrapolation repeats the last scrape taken before kube-apiserver came
//     back (API unreachable, last known state served) until the outage has lasted
//     extendedOutage, longer than every workload `for`, then continues with the
//     recorded recovery. This is honest because test 1 asserts that every scrape of the
//     outage served the same workload state: the exporter's behaviour during an outage is
//     a steady state, and repeating it is what a longer outage would have recorded. The
//     API-unreachable alert must fire once the outage exceeds its `for` and resolve
//     after recovery; no workload alert may fire at any time.
//   - a negative control: the same extrapolated series, but with the workload series
//     of the outage replaced by what a naive exporter would serve (no Ready replica).
//     promtool must fail on it, which shows that the assertions above can fail.
//
// Input: the workload series of the StatefulSets that are healthy in the scenario set
// (so that every workload alert is expected to stay silent), the exporter's
// api_reachable and api_last_success (timestamps rebased to the promtool time line) and
// `up`, which is 1 for every scrape that succeeded. Left out: the StatefulSets that are
// broken on purpose (they fire their alerts whatever the API does), the failover
// namespace the outage test changes, and the control-plane Leases, which nothing renews
// on the local API server (no scheduler runs), so ControlPlaneNoLeader would fire
// for that reason alone.
//
// Annotations are removed from a copy of the rule file before the run: promtool compares
// them verbatim, and they do not affect whether or when an alert fires.

const (
	// extendedOutage is how long the extrapolated outage lasts: longer than the longest
	// `for` of the workload alerts (15m).
	extendedOutage = 16 * time.Minute
	// settledTail is how long the final recorded state is repeated after the recording.
	settledTail = 20 * time.Minute
	// historyLength is how long the first recorded scrape is repeated before the
	// recording, as the steady state the exporter was in before the failover: longer
	// than BootstrapGrace and its 10m window (mixin.DefaultConfig), so that the
	// StatefulSets count as having served, as they had.
	historyLength = 26 * time.Minute
	// apiUnreachableAlert and absentAlert are the exporter's own alerts.
	apiUnreachableAlert = "StatefulSetExporterAPIUnreachable"
	absentAlert         = "StatefulSetExporterAbsent"
	exporterJob         = "statefulset-exporter"
)

// healthyNamespaces hold the scenario StatefulSets with nothing to report.
var healthyNamespaces = []string{"healthy", "partition-done", "ondelete", "scaled-to-zero"}

// ruleInfo is what the generated tests need to know of the rule file.
type ruleInfo struct {
	workloadAlerts []string          // every alert but the exporter's own
	apiLabels      map[string]string // labels of the API-unreachable alert's rule
}

// strippedRules reads the rule file, writes a copy without annotations to dst and
// returns the alert names.
func strippedRules(t *testing.T, src, dst string) ruleInfo {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("rule file not generated yet (go run ./cmd/mixin): %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	info := ruleInfo{}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		group, _ := g.(map[string]any)
		rules, _ := group["rules"].([]any)
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			name, _ := rule["alert"].(string)
			if name == "" {
				continue
			}
			delete(rule, "annotations")
			switch name {
			case apiUnreachableAlert:
				info.apiLabels = map[string]string{}
				labels, _ := rule["labels"].(map[string]any)
				for k, v := range labels {
					info.apiLabels[k] = fmt.Sprint(v)
				}
			case absentAlert:
			default:
				info.workloadAlerts = append(info.workloadAlerts, name)
			}
		}
	}
	if info.apiLabels == nil {
		t.Fatalf("%s has no alert %s", src, apiUnreachableAlert)
	}
	if len(info.workloadAlerts) == 0 {
		t.Fatalf("%s has no workload alerts", src)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return info
}

// timeline maps promtool grid seconds to recorded scrapes.
type point struct {
	rec   *scrapeRecord
	shift float64 // seconds to add to recorded timestamps (the inserted extrapolation)
	naive bool    // replace the workload state by a naive exporter's (negative control)
}

// keepSeries tells whether a recorded series goes into the generated input.
func keepSeries(key string) bool {
	name, labels := parseSeriesKey(key)
	switch name {
	case "statefulset_exporter_api_reachable", "statefulset_exporter_api_last_success_timestamp_seconds":
		return true
	}
	if !strings.HasPrefix(name, "statefulset_") || strings.HasPrefix(name, "statefulset_exporter_") {
		return false
	}
	return slices.Contains(healthyNamespaces, labels["namespace"])
}

// at returns the last record scraped at or before w.
func at(records []scrapeRecord, w time.Time) *scrapeRecord {
	i := sort.Search(len(records), func(i int) bool { return records[i].at.After(w) })
	if i == 0 {
		return &records[0]
	}
	return &records[i-1]
}

// steadyAfter returns the last point whose scrape succeeded and saw the API reachable:
// the state to repeat after a recording. A probe that timed out on a loaded machine
// right at the end is a blip, not a state that lasts.
func steadyAfter(pts []point) point {
	for i := len(pts) - 1; i >= 0; i-- {
		if v, _ := pts[i].rec.s.get("statefulset_exporter_api_reachable"); pts[i].rec.ok && v == 1 {
			return pts[i]
		}
	}
	return pts[len(pts)-1]
}

// naiveValue is what an exporter that forgot its state during the outage would serve.
func naiveValue(key string, v float64) float64 {
	name, _ := parseSeriesKey(key)
	switch name {
	case "statefulset_replicas_ready", "statefulset_replicas_available", "statefulset_ready_ratio":
		return 0
	}
	return v
}

// inputSeries renders the time line as promtool input_series.
func inputSeries(points []point, w0 time.Time) []map[string]string {
	keys := map[string]bool{}
	for _, p := range points {
		for k := range p.rec.s {
			if keepSeries(k) {
				keys[k] = true
			}
		}
	}
	base := float64(w0.UnixNano()) / 1e9
	var out []map[string]string
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		name, labels := parseSeriesKey(key)
		labels["job"], labels["instance"] = exporterJob, "exporter:9817"
		values := make([]string, len(points))
		for i, p := range points {
			v, ok := p.rec.s[key]
			switch {
			case !p.rec.ok || !ok:
				values[i] = "_"
				continue
			case name == "statefulset_exporter_api_last_success_timestamp_seconds":
				v = math.Round(v - base + p.shift)
			case p.naive:
				v = naiveValue(key, v)
			}
			values[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		out = append(out, map[string]string{"series": promSeries(name, labels), "values": compress(values)})
	}
	up := make([]string, len(points))
	for i, p := range points {
		up[i] = "0"
		if p.rec.ok {
			up[i] = "1"
		}
	}
	out = append(out, map[string]string{
		"series": promSeries("up", map[string]string{"job": exporterJob, "instance": "exporter:9817"}),
		"values": compress(up),
	})
	return out
}

func promSeries(name string, labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

// compress writes runs of equal values as promtool's `vxN` (N+1 values).
func compress(values []string) string {
	var b strings.Builder
	for i := 0; i < len(values); {
		j := i
		for j+1 < len(values) && values[j+1] == values[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		switch {
		case j == i:
			b.WriteString(values[i])
		case values[i] == "_":
			fmt.Fprintf(&b, "_x%d", j-i+1) // _xN is N missing samples
		default:
			fmt.Fprintf(&b, "%sx%d", values[i], j-i)
		}
		i = j + 1
	}
	return b.String()
}

// alertCheck is one eval_time of a generated test.
type alertCheck struct {
	at        time.Duration
	apiFiring bool
	why       string
}

func alertTests(info ruleInfo, checks []alertCheck) []map[string]any {
	var out []map[string]any
	for _, c := range checks {
		evalTime := fmt.Sprintf("%ds", int(c.at.Seconds()))
		for _, name := range append(slices.Clone(info.workloadAlerts), absentAlert) {
			out = append(out, map[string]any{"eval_time": evalTime, "alertname": name, "exp_alerts": []any{}})
		}
		api := map[string]any{"eval_time": evalTime, "alertname": apiUnreachableAlert, "exp_alerts": []any{}}
		if c.apiFiring {
			labels := maps.Clone(info.apiLabels)
			labels["job"] = exporterJob
			api["exp_alerts"] = []any{map[string]any{"exp_labels": labels}}
		}
		out = append(out, api)
	}
	return out
}

func checkRulesOverRecording(t *testing.T, records []scrapeRecord, markers []marker) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "tests", "reliability", "testdata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	info := strippedRules(t, filepath.Join(root, "rules", "statefulset-exporter.rules.yaml"), filepath.Join(dir, "generated-rules.yaml"))
	if grace := mixin.DefaultConfig().BootstrapGrace + 10*time.Minute; historyLength <= grace {
		t.Fatalf("historyLength %s must exceed BootstrapGrace and its window (%s)", historyLength, grace)
	}
	if len(markers) < 2 || len(records) == 0 || markers[0].kind != "kill" || markers[1].kind != "restart" {
		t.Fatalf("recording incomplete: %d scrapes, markers %v", len(records), markers)
	}
	w0 := records[0].at
	end := records[len(records)-1].at
	kill1, restart1 := markers[0].at, markers[1].at
	post := end
	if len(markers) > 2 {
		post = markers[2].at
	}
	sec := func(d time.Duration) int { return int(d / time.Second) }
	// history is the steady state before the recording: its first scrape, for
	// historyLength, with the timestamps moving along.
	history := func() []point {
		var pts []point
		for g := range sec(historyLength) {
			pts = append(pts, point{rec: &records[0], shift: float64(g - sec(historyLength))})
		}
		return pts
	}

	// As recorded: every scrape, then the last state for settledTail.
	recorded := history()
	for g := 0; g <= sec(end.Sub(w0)); g++ {
		recorded = append(recorded, point{rec: at(records, w0.Add(time.Duration(g)*time.Second))})
	}
	last := steadyAfter(recorded)
	for range sec(settledTail) {
		recorded = append(recorded, last)
	}
	var recordedChecks []alertCheck
	for i := 1; i < len(markers); i += 2 {
		g := historyLength + markers[i].at.Sub(w0).Truncate(time.Second)
		recordedChecks = append(recordedChecks, alertCheck{at: g - 2*time.Second, why: "end of a recorded outage"})
		recordedChecks = append(recordedChecks, alertCheck{at: g + 30*time.Second, why: "30s after a restart"})
	}
	recordedChecks = append(recordedChecks, alertCheck{at: time.Duration(len(recorded)-1) * time.Second, why: "end"})

	// Extrapolated: the first outage stretched to extendedOutage.
	extrapolated := func(naive bool) []point {
		pts := history()
		g := 0
		for ; w0.Add(time.Duration(g) * time.Second).Before(restart1); g++ {
			w := w0.Add(time.Duration(g) * time.Second)
			pts = append(pts, point{rec: at(records, w), naive: naive && !w.Before(kill1)})
		}
		recordedOutage := restart1.Sub(kill1)
		inserted := extendedOutage - recordedOutage
		steady := pts[len(pts)-1] // the last scrape of the outage
		for range sec(inserted) {
			pts = append(pts, steady)
		}
		shift := float64(sec(inserted))
		for w := w0.Add(time.Duration(g) * time.Second); !w.After(post); w = w.Add(time.Second) {
			pts = append(pts, point{rec: at(records, w), shift: shift})
		}
		final := steadyAfter(pts)
		for range sec(5 * time.Minute) {
			pts = append(pts, final)
		}
		return pts
	}
	k := historyLength + kill1.Sub(w0).Truncate(time.Second)
	r := k + extendedOutage
	extChecks := []alertCheck{
		{at: k - 2*time.Second, why: "before the outage"},
		{at: k + 2*time.Minute, why: "outage shorter than the alert's for"},
		{at: k + 4*time.Minute, apiFiring: true, why: "outage longer than the alert's for"},
		{at: k + 15*time.Minute + 30*time.Second, apiFiring: true, why: "outage longer than every workload for"},
		{at: r - 5*time.Second, apiFiring: true, why: "end of the extrapolated outage"},
		{at: r + 90*time.Second, why: "after recovery"},
	}

	writeTest := func(name string, groups []map[string]any) string {
		doc := map[string]any{
			"rule_files":          []string{"generated-rules.yaml"},
			"evaluation_interval": "15s",
			"tests":               groups,
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		header := "# Generated by TestAPIServerKilledAndRestarted from the scrapes of a recorded\n" +
			"# kube-apiserver outage; see tests/reliability/rules_test.go. Do not edit.\n"
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, append([]byte(header), out...), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	group := func(name string, pts []point, checks []alertCheck) map[string]any {
		return map[string]any{
			"name":            name,
			"interval":        "1s",
			"input_series":    inputSeries(pts, w0),
			"alert_rule_test": alertTests(info, checks),
		}
	}
	main := writeTest("generated-failover_test.yaml", []map[string]any{
		group(fmt.Sprintf("%d outages of %s as recorded", len(markers)/2, outageLength), recorded, recordedChecks),
		group(fmt.Sprintf("first outage (%s recorded) extrapolated to %s", restart1.Sub(kill1).Round(time.Second), extendedOutage), extrapolated(false), extChecks),
	})
	naive := writeTest("generated-naive-exporter_test.yaml", []map[string]any{
		group("negative control: an exporter that serves no Ready replica during the outage", extrapolated(true), extChecks),
	})

	promtool := promtoolPath(t, root)
	out, err := runIn(dir, promtool, "test", "rules", filepath.Base(main))
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", main, err, out)
	}
	t.Logf("promtool: %s passes: %d outages as recorded, and the first outage extrapolated to %s (API-unreachable alert fires from %s into the outage, no workload alert among %d fires)",
		filepath.Base(main), len(markers)/2, extendedOutage, 4*time.Minute, len(info.workloadAlerts))
	out, err = runIn(dir, promtool, "test", "rules", filepath.Base(naive))
	if err == nil || !strings.Contains(out, "StatefulSetNoReplicasReady") {
		t.Errorf("negative control: promtool did not catch a naive exporter (err %v):\n%s", err, tail(out, 30))
	} else {
		t.Logf("negative control: promtool fails as it should on an exporter that serves no Ready replica during the outage")
	}
}

// promtoolPath returns the module's promtool, built on first use.
func promtoolPath(t *testing.T, root string) string {
	t.Helper()
	p, err := gotool.Path(context.Background(), root, "promtool")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runIn(dir, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
