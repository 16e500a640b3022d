package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// alertmanagerConfigFile is the shipped Alertmanager configuration, relative to the
// repository root.
const alertmanagerConfigFile = "deploy/alertmanager/alertmanager.yaml"

// quietScenarios must never raise an alert, not even a pending one: healthy StatefulSets,
// a finished partitioned rollout, an OnDelete StatefulSet whose currentRevision stays
// stale, and a StatefulSet scaled to 0. Each gets a PodDisruptionBudget (see createPDB).
var quietScenarios = []string{"healthy", "partition-done", "ondelete", "scaled-to-zero"}

// want is an alert that must reach the webhook.
type want struct {
	alert    string
	severity string
	labels   map[string]string // besides alertname, severity, namespace, statefulset, cluster
	// describes are substrings the description must contain (the objects it names).
	describes []string
	// wait is how long the condition must hold before the alert fires: the rule's "for"
	// or age threshold, plus the exporter's own thresholds when the metric has one.
	wait time.Duration
}

// broken is a StatefulSet broken during the test, what it must notify, and its repair.
type broken struct {
	name  string // namespace and StatefulSet
	apply func(context.Context, kubernetes.Interface) error
	// notify must reach the webhook while broken; those that are not info must resolve
	// after the repair.
	notify []want
	// inhibited must fire in Prometheus but never reach the webhook: a shipped
	// inhibition covers them.
	inhibited []string
	repair    func(context.Context, kubernetes.Interface) error

	brokenAt, repairedAt time.Time
}

func brokenScenarios(cfg mixin.Config) []*broken {
	applyScenario := func(name string) func(context.Context, kubernetes.Interface) error {
		return func(ctx context.Context, client kubernetes.Interface) error {
			s, ok := scenario.ByName(name)
			if !ok {
				return fmt.Errorf("no scenario %q", name)
			}
			return s.Apply(ctx, client)
		}
	}
	return []*broken{
		{
			name:  "crashloop",
			apply: applyScenario("crashloop"),
			notify: []want{
				{alert: "StatefulSetNoReplicasReady", severity: "critical", wait: cfg.NoReplicasReadyFor,
					describes: []string{"StatefulSet crashloop/crashloop", "None of the 1 desired replicas"}},
				{alert: "StatefulSetSingleReplica", severity: "info", wait: cfg.HAPostureFor,
					describes: []string{"StatefulSet crashloop/crashloop runs a single replica"}},
			},
			// A workload that is down notifies once, on the pager; the crash loop and the
			// missing replica are its symptoms (inhibit rules 2 and 3).
			inhibited: []string{"StatefulSetPodsCrashLooping", "StatefulSetReplicasNotReady"},
			repair: func(ctx context.Context, client kubernetes.Interface) error {
				if err := markPodReady(ctx, client, "crashloop", "crashloop-0"); err != nil {
					return err
				}
				return setReady(ctx, client, "crashloop")
			},
		},
		{
			name:  "zone-mismatch",
			apply: applyScenario("zone-mismatch"),
			notify: []want{
				{alert: "StatefulSetNoReplicasReady", severity: "critical", wait: cfg.NoReplicasReadyFor,
					describes: []string{"StatefulSet zone-mismatch/zone-mismatch"}},
				{alert: "StatefulSetVolumeZoneMismatch", severity: "warning", wait: cfg.VolumeZoneMismatchFor,
					labels: map[string]string{
						"pod": "zone-mismatch-0", "persistentvolumeclaim": "data-zone-mismatch-0",
						"volume_zone": scenario.ZoneA, "node_zone": scenario.ZoneB,
					},
					describes: []string{"Pod zone-mismatch/zone-mismatch-0", "claim data-zone-mismatch-0",
						"zone " + scenario.ZoneB, "pinned to " + scenario.ZoneA}},
			},
			inhibited: []string{"StatefulSetReplicasNotReady"},
			// The pod is deleted and comes back in the volume's zone.
			repair: func(ctx context.Context, client kubernetes.Interface) error {
				if err := recreatePodReady(ctx, client, "zone-mismatch", 0, scenario.NodeA); err != nil {
					return err
				}
				return setReady(ctx, client, "zone-mismatch")
			},
		},
		{
			name:  pvcPendingName,
			apply: applyPVCPending,
			notify: []want{
				{alert: "StatefulSetPVCPending", severity: "warning", wait: cfg.PVCPendingThreshold,
					labels:    map[string]string{"persistentvolumeclaim": "data-pvc-pending-1", "reason": "provisioning"},
					describes: []string{"PersistentVolumeClaim pvc-pending/data-pvc-pending-1", "StatefulSet pvc-pending", "reason: provisioning"}},
				{alert: "StatefulSetReplicasNotReady", severity: "warning", wait: cfg.ReplicasNotReadyFor,
					describes: []string{"StatefulSet pvc-pending/pvc-pending", "50%"}},
			},
			// The unschedulable pod is a symptom of its unbound claim (inhibit rule 4) and
			// of the missing replica (rule 3).
			inhibited: []string{"StatefulSetPodsUnschedulable"},
			// The provisioner succeeds: the claim is bound, the pod is scheduled and Ready.
			repair: func(ctx context.Context, client kubernetes.Interface) error {
				if err := bindClaim(ctx, client, pvcPendingName, "data-pvc-pending-1", scenario.ZoneB, false); err != nil {
					return err
				}
				if err := recreatePodReady(ctx, client, pvcPendingName, 1, scenario.NodeB); err != nil {
					return err
				}
				return setReady(ctx, client, pvcPendingName)
			},
		},
		{
			name:  "terminating",
			apply: applyScenario("terminating"),
			notify: []want{
				// The scenario deletes the pod with a 1s grace period; the exporter calls it
				// stuck once that and --terminating.stuck-after have passed.
				{alert: "StatefulSetPodStuckTerminating", severity: "warning", wait: time.Second + terminatingStuckAfter + cfg.StuckTerminatingFor,
					labels: map[string]string{"pod": "terminating-1", "node": scenario.NodeUnreachable},
					describes: []string{"Pod terminating/terminating-1", "StatefulSet terminating", "node " + scenario.NodeUnreachable,
						"(node status: unreachable)"}},
				{alert: "StatefulSetReplicasNotReady", severity: "warning", wait: cfg.ReplicasNotReadyFor,
					describes: []string{"StatefulSet terminating/terminating"}},
			},
			// The pod is force-deleted (the finalizer stands in for the unreachable kubelet)
			// and the controller recreates it on a healthy node.
			repair: func(ctx context.Context, client kubernetes.Interface) error {
				if err := removeFinalizers(ctx, client, "terminating", "terminating-1"); err != nil {
					return err
				}
				if err := recreatePodReady(ctx, client, "terminating", 1, scenario.NodeB); err != nil {
					return err
				}
				return setReady(ctx, client, "terminating")
			},
		},
	}
}

// TestPipeline breaks StatefulSets on a real API server and follows the alerts through the
// real exporter, Prometheus and Alertmanager to a webhook, then repairs them and follows
// the resolution.
func TestPipeline(t *testing.T) {
	promBin, promErr := promstack.FindPrometheus()
	amBin, amErr := promstack.FindAlertmanager()
	if err := errors.Join(promErr, amErr); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the end-to-end test cannot run: %v", err)
		}
		t.Skipf("skipping the end-to-end pipeline test (install the prometheus and prometheus-alertmanager packages with hack/install-deps.sh; with CI=true this fails): %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()

	// Build first: it is the slow step on a cold cache, and fails fast on a broken tree.
	binDir := t.TempDir()
	exporterBin, err := exporterbin.Build(ctx, binDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exporter built in %s", time.Since(start).Round(time.Millisecond))

	cluster := localkubetest.ForTest(t)
	client, err := kubernetes.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver ready after %s", time.Since(start).Round(time.Millisecond))
	if err := scenario.ApplyCluster(ctx, client); err != nil {
		t.Fatal(err)
	}
	for _, name := range quietScenarios {
		s, ok := scenario.ByName(name)
		if !ok {
			t.Fatalf("no scenario %q", name)
		}
		if err := createPDB(ctx, client, name); err != nil {
			t.Fatalf("%s: pdb: %v", name, err)
		}
		if err := s.Apply(ctx, client); err != nil {
			t.Fatal(err)
		}
	}

	// The exporter.
	kubeconfig := filepath.Join(binDir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		t.Fatal(err)
	}
	exporter, err := exporterbin.Start(ctx, exporterBin,
		"--kubeconfig="+kubeconfig,
		"--rollout.stall-after="+rolloutStallAfter.String(),
		"--terminating.stuck-after="+terminatingStuckAfter.String(),
		"--api.probe-interval="+apiProbeInterval.String(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exporter.Stop)
	// On failure, show what each process said. The logs of Prometheus and Alertmanager are
	// files in t.TempDir(), which is removed after every other cleanup.
	var am, prom *promstack.Process
	var amConfig []byte
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("exporter log (tail):\n%s", promstack.Tail(exporter.Log(), 40))
		if prom != nil {
			t.Logf("prometheus log (tail):\n%s", prom.LogTail(40))
		}
		if am != nil {
			t.Logf("alertmanager log (tail):\n%s", am.LogTail(60))
		}
		if amConfig != nil {
			t.Logf("alertmanager configuration used:\n%s", amConfig)
		}
	})
	if !eventually(ctx, func() bool { _, err := exporter.Get(ctx, "/readyz"); return err == nil }) {
		t.Fatalf("exporter never became ready\n%s", promstack.Tail(exporter.Log(), 40))
	}

	// The webhook, Alertmanager and Prometheus.
	hook := startWebhook(t)
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, alertmanagerConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	amConfig, err = alertmanagerConfig(shipped, hook.URL)
	if err != nil {
		t.Fatal(err)
	}
	am, err = promstack.StartAlertmanager(ctx, promstack.AlertmanagerOptions{Binary: amBin, Dir: binDir, Config: amConfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Stop)

	cfg := testMixinConfig()
	ruleGroups, err := rules.Groups(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ruleYAML, err := rules.RuleFileYAML(ruleGroups)
	if err != nil {
		t.Fatal(err)
	}
	exporterURL, _ := url.Parse(exporter.URL)
	const ruleFileName = "statefulset-exporter.rules.yaml"
	prom, err = promstack.StartPrometheus(ctx, promstack.PrometheusOptions{
		Binary:    promBin,
		Dir:       binDir,
		Config:    prometheusConfig(exporterURL.Host, am.Addr, ruleFileName),
		RuleFiles: map[string][]byte{ruleFileName: ruleYAML},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	waitPrometheusReady(ctx, t, prom, ruleGroups)
	t.Logf("pipeline up after %s: exporter %s, prometheus %s, alertmanager %s, webhook %s",
		time.Since(start).Round(time.Millisecond), exporter.URL, prom.URL, am.URL, hook.URL)

	watcher := watchAlerts(ctx, prom, 250*time.Millisecond)
	summaries := map[string]string{}
	for _, g := range ruleGroups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				summaries[r.Alert] = r.Annotations["summary"]
			}
		}
	}

	// Break.
	scenarios := brokenScenarios(cfg)
	for _, s := range scenarios {
		if err := s.apply(ctx, client); err != nil {
			t.Fatalf("breaking %s: %v", s.name, err)
		}
		s.brokenAt = time.Now()
	}
	breakStart := time.Now()

	// Every expected alert reaches the webhook, firing.
	waitCtx, waitCancel := context.WithTimeout(ctx, 60*time.Second)
	defer waitCancel()
	for _, s := range scenarios {
		for _, w := range s.notify {
			match := map[string]string{"alertname": w.alert, "namespace": s.name}
			if !eventually(waitCtx, func() bool { _, ok := hook.first("firing", match); return ok }) {
				t.Errorf("%s: %s never reached the webhook (Prometheus: %s)", s.name, w.alert, describeSeen(watcher, match))
				continue
			}
			r, _ := hook.first("firing", match)
			checkNotification(t, s.name, w, r, cfg, summaries, prom.URL)
		}
		// Inhibited alerts fire in Prometheus...
		for _, name := range s.inhibited {
			match := map[string]string{"alertname": name, "namespace": s.name}
			if !eventually(waitCtx, func() bool { _, ok := watcher.firing(match); return ok }) {
				t.Errorf("%s: %s never fired in Prometheus, so its inhibition is not exercised (%s)", s.name, name, describeSeen(watcher, match))
			}
		}
	}
	// ...and, once Alertmanager had the time to flush their groups, were never notified.
	settle := groupWait + groupInterval + 2*scrapeInterval
	time.Sleep(settle)
	for _, s := range scenarios {
		for _, name := range s.inhibited {
			if r, ok := hook.first("firing", map[string]string{"alertname": name, "namespace": s.name}); ok {
				t.Errorf("%s: %s reached the webhook although a shipped inhibition covers it: %s", s.name, name, r)
			}
		}
	}
	t.Logf("all expected notifications received %s after the breakage", time.Since(breakStart).Round(time.Millisecond))
	checkNoUnexpected(t, hook.all(), scenarios, map[string]bool{})

	// Repair.
	for _, s := range scenarios {
		if err := s.repair(ctx, client); err != nil {
			t.Fatalf("repairing %s: %v", s.name, err)
		}
		s.repairedAt = time.Now()
	}
	repairStart := time.Now()
	resolveCtx, resolveCancel := context.WithTimeout(ctx, 60*time.Second)
	defer resolveCancel()
	for _, s := range scenarios {
		for _, w := range s.notify {
			if w.severity == "info" {
				continue // the low-priority receiver has send_resolved: false
			}
			match := map[string]string{"alertname": w.alert, "namespace": s.name}
			if !eventually(resolveCtx, func() bool { _, ok := hook.first("resolved", match); return ok }) {
				t.Errorf("%s: %s never resolved at the webhook (Prometheus: %s)", s.name, w.alert, describeSeen(watcher, match))
				continue
			}
			r, _ := hook.first("resolved", match)
			if r.Path != receiverPath(w.severity) {
				t.Errorf("%s: %s resolved at %s, want %s", s.name, w.alert, r.Path, receiverPath(w.severity))
			}
			if !r.Alert.EndsAt.After(r.Alert.StartsAt) {
				t.Errorf("%s: %s resolved with endsAt %s not after startsAt %s", s.name, w.alert, r.Alert.EndsAt, r.Alert.StartsAt)
			}
		}
	}
	t.Logf("all expected resolutions received %s after the repair", time.Since(repairStart).Round(time.Millisecond))
	// Give anything that the repair wrongly set off (an alert uninhibited by the
	// resolution of its source, for example) the time to be notified.
	time.Sleep(settle)

	// A repaired StatefulSet must not notify anything new, whatever the alert.
	all := hook.all()
	reported := map[string]bool{}
	for _, s := range scenarios {
		for _, r := range all {
			if r.Alert.Labels["namespace"] != s.name || r.Alert.Status != "firing" || !r.At.After(s.repairedAt) ||
				r.Alert.Labels["severity"] == "info" || notifiedBefore(all, r, s.repairedAt) {
				continue
			}
			name := r.Alert.Labels["alertname"]
			reported[s.name+"/"+name] = true
			why := ""
			if slices.Contains(s.inhibited, name) {
				why = fmt.Sprintf("; %s was inhibited while the StatefulSet was broken and still fires in Prometheus after the repair (%s), "+
					"so Alertmanager notifies it as soon as the inhibiting alert resolves", name, describeSeen(watcher, map[string]string{"alertname": name, "namespace": s.name}))
			}
			t.Errorf("%s: new notification %s after the repair: %s (%q)%s", s.name, r.At.Sub(s.repairedAt).Round(10*time.Millisecond), r,
				oneLine(r.Alert.Annotations["description"]), why)
		}
	}
	checkNoUnexpected(t, all, scenarios, reported)
	for _, r := range all {
		if r.Path == "/low-priority" && r.Alert.Status == "resolved" {
			t.Errorf("low-priority receiver got a resolved notification although it has send_resolved: false: %s", r)
		}
	}
	for _, s := range watcher.all() {
		if slices.Contains(quietScenarios, s.Labels["namespace"]) {
			t.Errorf("namespace %s must raise nothing, but Prometheus had %s %s (last %s)", s.Labels["namespace"], s.Labels["alertname"], labelString(s.Labels), s.LastState)
		}
	}
	if bad := hook.badRequests(); len(bad) > 0 {
		t.Errorf("the webhook got invalid requests: %q", bad)
	}
	if n, err := watcher.errors(); n > 0 {
		t.Logf("note: %d polls of Prometheus's alerts failed, last: %v", n, err)
	}

	logLatencies(t, scenarios, hook, watcher)
	t.Logf("end-to-end test done in %s", time.Since(start).Round(time.Millisecond))
}

// waitPrometheusReady waits until Prometheus has loaded every rule of groups and scraped
// the exporter successfully.
func waitPrometheusReady(ctx context.Context, t *testing.T, prom *promstack.Process, groups []rulefmt.RuleGroup) {
	t.Helper()
	wantRules := 0
	for _, g := range groups {
		wantRules += len(g.Rules)
	}
	var loaded int
	var lastErr error
	ok := eventually(ctx, func() bool {
		body, err := prom.Get(ctx, "/api/v1/rules")
		if err != nil {
			lastErr = err
			return false
		}
		var resp struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			lastErr = err
			return false
		}
		loaded = 0
		for _, g := range resp.Data.Groups {
			loaded += len(g.Rules)
		}
		if loaded != wantRules {
			return false
		}
		body, err = prom.Get(ctx, "/api/v1/query?query="+url.QueryEscape(`up{job="statefulset-exporter"} == 1 and on() statefulset_exporter_cache_synced{resource="statefulsets"} == 1`))
		if err != nil {
			lastErr = err
			return false
		}
		return strings.Contains(string(body), `"result":[{`)
	})
	if !ok {
		t.Fatalf("Prometheus loaded %d of %d rules or did not scrape the exporter: %v\n%s", loaded, wantRules, lastErr, prom.LogTail(40))
	}
}

// checkNotification checks the receiver, labels and annotations of a notified alert.
func checkNotification(t *testing.T, ns string, w want, r received, cfg mixin.Config, summaries map[string]string, promURL string) {
	t.Helper()
	where := fmt.Sprintf("%s: %s", ns, w.alert)
	if want := receiverPath(w.severity); r.Path != want || r.Msg.Receiver != strings.TrimPrefix(want, "/") {
		t.Errorf("%s: severity %s reached %s (receiver %q), want %s", where, w.severity, r.Path, r.Msg.Receiver, want)
	}
	labels := map[string]string{
		"alertname": w.alert, "severity": w.severity, "namespace": ns, "statefulset": ns, "cluster": clusterLabel,
	}
	for k, v := range w.labels {
		labels[k] = v
	}
	for k, v := range labels {
		if got := r.Alert.Labels[k]; got != v {
			t.Errorf("%s: label %s=%q, want %q (labels %s)", where, k, got, v, labelString(r.Alert.Labels))
		}
	}
	// The rules aggregate the exporter's target labels away: they would change with every
	// exporter restart and restart the alert.
	for _, k := range []string{"instance", "job"} {
		if v, ok := r.Alert.Labels[k]; ok {
			t.Errorf("%s: carries the target label %s=%q", where, k, v)
		}
	}
	ann := r.Alert.Annotations
	if got, want := ann["summary"], summaries[w.alert]; got != want || got == "" {
		t.Errorf("%s: summary %q, want %q", where, got, want)
	}
	if got, want := ann["runbook_url"], cfg.RunbookURL(w.alert); got != want {
		t.Errorf("%s: runbook_url %q, want %q", where, got, want)
	}
	desc := ann["description"]
	for _, s := range w.describes {
		if !strings.Contains(desc, s) {
			t.Errorf("%s: description does not contain %q: %q", where, s, desc)
		}
	}
	for _, bad := range []string{"<no value>", "{{", "%!", "error executing template"} {
		if strings.Contains(desc, bad) {
			t.Errorf("%s: description has a template problem (%q): %q", where, bad, desc)
		}
	}
	if !strings.HasPrefix(r.Alert.GeneratorURL, promURL) {
		t.Errorf("%s: generatorURL %q does not point at the test Prometheus %s", where, r.Alert.GeneratorURL, promURL)
	}
}

// checkNoUnexpected fails on notifications that no scenario expects: any namespace other
// than the broken ones (the quiet scenarios included), alerts without a namespace (the
// exporter's own alerts), and alerts of a broken StatefulSet that are neither expected
// nor info. Info alerts are high-availability posture risks of the broken StatefulSets
// (single replica, no PodDisruptionBudget, single zone): true, and not what this test is
// about.
// Each namespace/alertname is reported once; reported collects them across calls.
func checkNoUnexpected(t *testing.T, all []received, scenarios []*broken, reported map[string]bool) {
	t.Helper()
	for _, r := range all {
		ns := r.Alert.Labels["namespace"]
		name := r.Alert.Labels["alertname"]
		i := slices.IndexFunc(scenarios, func(s *broken) bool { return s.name == ns })
		ok := false
		if i >= 0 {
			s := scenarios[i]
			ok = r.Alert.Labels["severity"] == "info" ||
				slices.ContainsFunc(s.notify, func(w want) bool { return w.alert == name })
		}
		if key := ns + "/" + name; !ok && !reported[key] {
			reported[key] = true
			t.Errorf("unexpected notification: %s (%s)", r, oneLine(r.Alert.Annotations["description"]))
		}
	}
}

// notifiedBefore reports whether the alert of r (same labels) was notified firing before t:
// a later notification of the same group (Alertmanager sends the whole group when one of
// its alerts changes) then is no news.
func notifiedBefore(all []received, r received, t time.Time) bool {
	key := labelString(r.Alert.Labels)
	for _, o := range all {
		if o.At.Before(t) && o.Alert.Status == "firing" && labelString(o.Alert.Labels) == key {
			return true
		}
	}
	return false
}

// describeSeen says what Prometheus showed of the alerts matching match.
func describeSeen(w *alertWatcher, match map[string]string) string {
	var parts []string
	for _, s := range w.all() {
		if hasLabels(s.Labels, match) {
			parts = append(parts, fmt.Sprintf("%s %s since %s", s.LastState, labelString(s.Labels), s.ActiveAt.Format(time.TimeOnly)))
		}
	}
	if len(parts) == 0 {
		return "never active"
	}
	return strings.Join(parts, "; ")
}

// logLatencies prints, for every expected alert, how long each stage took:
//
//	active   object change -> Prometheus's activeAt (exporter watch, scrape, evaluation)
//	firing   object change -> first seen firing in Prometheus (roughly active + "for")
//	notified object change -> webhook; "overhead" is that minus the wait: exporter, scrape,
//	         evaluation, group_wait and delivery
//	resolved repair -> resolved notification at the webhook
func logLatencies(t *testing.T, scenarios []*broken, hook *webhook, watcher *alertWatcher) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "detection latencies (object change -> ...; 'wait' is how long the condition must hold, see want.wait):\n")
	fmt.Fprintf(&b, "  %-14s %-31s %6s %8s %8s %9s %9s %9s\n", "namespace", "alert", "wait", "active", "firing", "notified", "overhead", "resolved")
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return d.Round(10 * time.Millisecond).String()
	}
	for _, s := range scenarios {
		for _, w := range s.notify {
			match := map[string]string{"alertname": w.alert, "namespace": s.name}
			var active, firing, notified, resolved time.Duration
			if a, ok := watcher.firing(match); ok {
				active, firing = a.ActiveAt.Sub(s.brokenAt), a.FirstFiring.Sub(s.brokenAt)
			}
			if r, ok := hook.first("firing", match); ok {
				notified = r.At.Sub(s.brokenAt)
			}
			if r, ok := hook.first("resolved", match); ok {
				resolved = r.At.Sub(s.repairedAt)
			}
			fmt.Fprintf(&b, "  %-14s %-31s %6s %8s %8s %9s %9s %9s\n", s.name, w.alert, w.wait, ms(active), ms(firing), ms(notified), ms(notified-w.wait), ms(resolved))
		}
	}
	t.Log(b.String())
}
