package dashboards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// findPanel returns the panel of the dashboard file titled title.
func findPanel(t *testing.T, d dashboardJSON, title string) panelJSON {
	t.Helper()
	for _, p := range allPanels(d) {
		if p.Title == title {
			return p
		}
	}
	t.Fatalf("no panel %q", title)
	return panelJSON{}
}

// query returns the expression of the panel's query refID with its variables substituted.
func query(t *testing.T, p panelJSON, refID string) string {
	t.Helper()
	for _, q := range p.Targets {
		if q.RefID == refID {
			expr, _ := substitute(q.Expr)
			return expr
		}
	}
	t.Fatalf("%q has no query %s", p.Title, refID)
	return ""
}

// TestRunbookLinks: every panel link is the runbook of an alert of the rules, named in its
// title, opening in a new tab, so that renaming an alert cannot leave a dead link; and the
// panels about the pages of an AZ outage link their runbooks.
func TestRunbookLinks(t *testing.T) {
	for name, cfg := range testConfigs() {
		runbookURLs, err := alertRunbooks(cfg)
		if err != nil {
			t.Fatal(err)
		}
		linked := map[string][]string{} // panel title → alerts
		for file, d := range generate(t, cfg) {
			for _, p := range allPanels(d) {
				for _, l := range p.Links {
					alert, ok := strings.CutPrefix(l.Title, "Runbook: ")
					where := fmt.Sprintf("%s/%s: %q: link %q", name, file, p.Title, l.Title)
					if !ok {
						t.Errorf("%s is not a runbook link", where)
						continue
					}
					want, ok := runbookURLs[alert]
					if !ok {
						t.Errorf("%s: no alert %s in mixin/rules", where, alert)
						continue
					}
					if l.URL != want || l.URL != cfg.RunbookURL(alert) || !l.TargetBlank {
						t.Errorf("%s: url %q (new tab %v), want the alert's runbook_url %q in a new tab", where, l.URL, l.TargetBlank, want)
					}
					linked[file+"/"+p.Title] = append(linked[file+"/"+p.Title], alert)
				}
			}
		}
		for panel, alerts := range map[string][]string{
			"statefulset-detail.json/Ready replicas":                 {"StatefulSetNoReplicasReady"},
			"statefulset-detail.json/Pods stuck terminating":         {"StatefulSetPodStuckTerminating"},
			"statefulset-detail.json/Storage problems":               {"StatefulSetVolumeNoUsableNode", "StatefulSetVolumeLost"},
			"statefulset-detail.json/Why pods are not Ready":         {"StatefulSetPodsUnschedulable"},
			"statefulset-detail.json/Recent container terminations":  {"StatefulSetContainerRestarting"},
			"statefulset-overview.json/Pods stuck terminating":       {"StatefulSetPodStuckTerminating"},
			"statefulset-control-plane.json/Leader present":          {"ControlPlaneNoLeader"},
			"statefulset-control-plane.json/API server reachability": {"StatefulSetExporterAPIUnreachable"},
		} {
			for _, a := range alerts {
				if !slices.Contains(linked[panel], a) {
					t.Errorf("%s: %s links %v, not the runbook of %s", name, panel, linked[panel], a)
				}
			}
		}
	}
}

// TestFiringAlertsTable evaluates the firing-alerts query: the selected StatefulSet's
// firing alerts, one row each with the runbook_url of its rule (which the Alert column
// links to), other rule sets' alerts without one, pending alerts and other StatefulSets'
// alerts left out.
func TestFiringAlertsTable(t *testing.T) {
	cfg := mixin.DefaultConfig()
	runbookURLs, err := alertRunbooks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := findPanel(t, generate(t, cfg)["statefulset-detail.json"], "Firing alerts")
	cell := ""
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if o.Matcher.Options == "alertname" && prop.ID == "links" {
				cell = fmt.Sprint(prop.Value)
			}
		}
	}
	if !strings.Contains(cell, "${__data.fields.runbook_url}") {
		t.Errorf("the Alert column does not link to the row's runbook_url: %s", cell)
	}
	sts := `namespace="placeholder", statefulset="placeholder"`
	got := evalInstant(t, `
load 1m
  ALERTS{alertname="StatefulSetPodStuckTerminating", alertstate="firing", severity="critical", `+sts+`, pod="web-1", node="ip-1"} 1x10
  ALERTS{alertname="StatefulSetPVCPending", alertstate="firing", severity="warning", `+sts+`, persistentvolumeclaim="data-web-2", reason="Provisioning"} 1x10
  ALERTS{alertname="KubeStatefulSetReplicasMismatch", alertstate="firing", severity="warning", `+sts+`, job="kube-state-metrics"} 1x10
  ALERTS{alertname="StatefulSetNoReplicasReady", alertstate="pending", severity="critical", `+sts+`} 1x10
  ALERTS{alertname="StatefulSetNoReplicasReady", alertstate="firing", severity="critical", namespace="placeholder", statefulset="other"} 1x10
`, query(t, p, "A"))
	want := []string{
		`{alertname="KubeStatefulSetReplicasMismatch", severity="warning"}`,
		fmt.Sprintf(`{alertname="StatefulSetPVCPending", persistentvolumeclaim="data-web-2", reason="Provisioning", runbook_url=%q, severity="warning"}`,
			runbookURLs["StatefulSetPVCPending"]),
		fmt.Sprintf(`{alertname="StatefulSetPodStuckTerminating", pod="web-1", runbook_url=%q, severity="critical"}`,
			runbookURLs["StatefulSetPodStuckTerminating"]),
	}
	if !slices.Equal(got, want) {
		t.Errorf("firing alerts:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// TestRecentTerminationsTable evaluates the restart table on a container that ended with
// Error, then OOMKilled twice, within the window: three terminations, the latest reason,
// one row.
func TestRecentTerminationsTable(t *testing.T) {
	cfg := mixin.DefaultConfig()
	p := findPanel(t, generate(t, cfg)["statefulset-detail.json"], "Recent container terminations")
	c := `namespace="placeholder", statefulset="placeholder", job="statefulset-exporter", pod="web-0", container="app"`
	// Minute by minute: the finish time (seconds) of the latest termination, under the
	// reason it had; the Error series goes stale once the reason changes.
	load := `
load 1m
  statefulset_container_last_terminated_timestamp_seconds{` + c + `, reason="Error"} 600x20 _x40
  statefulset_container_last_terminated_timestamp_seconds{` + c + `, reason="OOMKilled"} _x20 1230x20 2430x20
  statefulset_container_last_terminated_timestamp_seconds{namespace="placeholder", statefulset="placeholder", job="statefulset-exporter", pod="web-1", container="app", reason="Completed"} _x55 3250x5
`
	const at = 60 * time.Minute
	if got, want := evalInstantAt(t, load, query(t, p, "B"), at), []string{
		`{container="app", pod="web-0", reason="OOMKilled"} 3`,
		`{container="app", pod="web-1", reason="Completed"} 1`,
	}; !slices.Equal(got, want) {
		t.Errorf("terminations in the window:\n got %v\nwant %v", got, want)
	}
	if got, want := evalInstantAt(t, load, query(t, p, "A"), at), []string{
		`{container="app", pod="web-0", reason="OOMKilled"} 1170`,
		`{container="app", pod="web-1", reason="Completed"} 350`,
	}; !slices.Equal(got, want) {
		t.Errorf("time since the latest termination:\n got %v\nwant %v", got, want)
	}
}

// TestStorageProblemsTable evaluates the storage table: claim problems with their reason,
// pods whose volume has no usable node as NoUsableNode.
func TestStorageProblemsTable(t *testing.T) {
	cfg := mixin.DefaultConfig()
	p := findPanel(t, generate(t, cfg)["statefulset-detail.json"], "Storage problems")
	sts := `namespace="placeholder", statefulset="placeholder", job="statefulset-exporter"`
	load := `
load 1m
  statefulset_pvc_problem_info{` + sts + `, persistentvolumeclaim="data-web-0", persistentvolume="pv-0", reason="ClaimLost"} 1x10
  statefulset_pod_volume_no_usable_node_info{` + sts + `, pod="web-2", persistentvolumeclaim="data-web-2", volume_zone="eu-west-1c"} 1x10
`
	if got, want := evalInstant(t, load, query(t, p, "A")), []string{
		`{persistentvolume="pv-0", persistentvolumeclaim="data-web-0", reason="ClaimLost"}`,
	}; !slices.Equal(got, want) {
		t.Errorf("claim problems: got %v, want %v", got, want)
	}
	if got, want := evalInstant(t, load, query(t, p, "B")), []string{
		`{persistentvolumeclaim="data-web-2", pod="web-2", reason="NoUsableNode", volume_zone="eu-west-1c"}`,
	}; !slices.Equal(got, want) {
		t.Errorf("volumes without a usable node: got %v, want %v", got, want)
	}
}

// evalInstant evaluates expr at 5m over the series of load and returns the label sets of
// the result, sorted.
func evalInstant(t *testing.T, load, expr string) []string {
	t.Helper()
	out := evalInstantAt(t, load, expr, 5*time.Minute)
	for i, s := range out {
		out[i] = s[:strings.LastIndex(s, " ")]
	}
	return out
}

// evalInstantAt evaluates expr at the offset at from the start of load and returns each
// sample as its label set and value, sorted.
func evalInstantAt(t *testing.T, load, expr string, at time.Duration) []string {
	t.Helper()
	storage := promqltest.LoadedStorage(t, load)
	t.Cleanup(func() { _ = storage.Close() })
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 1_000_000)
	q, err := engine.NewInstantQuery(context.Background(), storage, nil, expr, time.Unix(0, 0).Add(at))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	vec, err := res.Vector()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var out []string
	for _, s := range vec {
		out = append(out, fmt.Sprintf("%s %g", s.Metric, s.F))
	}
	slices.Sort(out)
	return out
}
