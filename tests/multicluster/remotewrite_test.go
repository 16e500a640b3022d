package multicluster

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
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// set is the StatefulSet (and its namespace) both clusters hold: scenario "healthy",
// three Ready replicas over two zones.
const set = "healthy"

// apiProbeInterval is the exporter's --api.probe-interval.
const apiProbeInterval = time.Second

// Bounds of the waits. Every alert expected here has a "for" of 6s with
// pipeline.FastMixinConfig; scraping, remote write (one scrape interval of batching),
// evaluation, group_wait and delivery add about 5s; the rest is room for a busy
// two-core machine.
const (
	notifyBound  = 60 * time.Second
	resolveBound = 60 * time.Second
)

// cluster is one of the two clusters and what runs for it.
type cluster struct {
	name       string
	kube       *localkube.Cluster
	client     kubernetes.Interface
	kubeconfig string
	// exporterAddr stays the same when the exporter is restarted: the agent's static
	// target.
	exporterAddr string
	exporter     *exporterbin.Process
	agent        *promstack.Process
}

// TestRemoteWrite follows breakages of cluster a through agent-mode Prometheus, remote
// write, the central Prometheus's multi-cluster rules and the shipped Alertmanager
// routing, and checks that cluster b, with the same StatefulSet, raises nothing.
func TestRemoteWrite(t *testing.T) {
	promBin, promErr := promstack.FindPrometheus()
	amBin, amErr := promstack.FindAlertmanager()
	skipUnavailable(t, errors.Join(promErr, amErr))

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	since := func() string { return time.Since(start).Round(time.Millisecond).String() }
	timings := pipeline.FastTimings

	dir := t.TempDir()
	exporterBin, err := exporterbin.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exporter built after %s", since())

	// The two control planes, started side by side (a few seconds each).
	clusters := []*cluster{{name: "a"}, {name: "b"}}
	var wg sync.WaitGroup
	errs := make([]error, len(clusters))
	for i, c := range clusters {
		wg.Go(func() { c.kube, errs[i] = localkube.Start(ctx, localkube.Options{Dir: dir, Logf: t.Logf}) })
	}
	wg.Wait()
	for _, c := range clusters {
		if c.kube == nil {
			continue // Start stopped what it had started
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("cluster %s control plane logs:\n%s", c.name, c.kube.Logs())
			}
			c.kube.Stop()
		})
	}
	localkubetest.SkipOrFatal(t, "starting the clusters", errors.Join(errs...))

	for _, c := range clusters {
		c.client = kubernetes.NewForConfigOrDie(c.kube.AdminConfig())
		if err := setUp(ctx, c.client); err != nil {
			t.Fatalf("cluster %s: %v", c.name, err)
		}
		c.kubeconfig = filepath.Join(dir, "kubeconfig-"+c.name)
		if err := c.kube.WriteKubeconfig(c.kubeconfig, false); err != nil {
			t.Fatal(err)
		}
		port, err := exporterbin.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		c.exporterAddr = fmt.Sprintf("127.0.0.1:%d", port)
		if err := c.startExporter(ctx, exporterBin); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("exporter %s log (tail):\n%s", c.name, promstack.Tail(c.exporter.Log(), 30))
			}
			c.exporter.Stop()
		})
	}
	t.Logf("clusters and exporters up after %s", since())

	// The central side: webhook, Alertmanager with the shipped routing, and the central
	// Prometheus with the multi-cluster rules.
	cfg := pipeline.FastMixinConfig()
	cfg.MultiCluster = true
	// StatefulSetExporterResourceFailing reads its series through a fixed 2m
	// max_over_time, which FastMixinConfig cannot shorten: with the shortened "for" (6s)
	// the failed watches of an API server outage would fire it after every restart,
	// which the shipped 5m "for" rules out. Keep the shipped ordering.
	cfg.ResourceFailingFor = mixin.DefaultConfig().ResourceFailingFor
	groups, err := rules.Groups(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ruleYAML, err := rules.RuleFileYAML(groups)
	if err != nil {
		t.Fatal(err)
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, pipeline.AlertmanagerConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	hook := pipeline.StartWebhook(t.Logf)
	t.Cleanup(hook.Close)
	amConfig, err := pipeline.AlertmanagerConfig(shipped, hook.URL, timings)
	if err != nil {
		t.Fatal(err)
	}
	am, err := promstack.StartAlertmanager(ctx, promstack.AlertmanagerOptions{Binary: amBin, Dir: dir, Config: amConfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Cleanup)
	const ruleFile = "statefulset-exporter.rules.yaml"
	central, err := promstack.StartPrometheus(ctx, promstack.PrometheusOptions{
		Binary:    promBin,
		Dir:       dir,
		Config:    pipeline.CentralConfig(am.Addr, ruleFile, timings),
		RuleFiles: map[string][]byte{ruleFile: ruleYAML},
		ExtraArgs: []string{"--web.enable-remote-write-receiver"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(central.Cleanup)
	for _, c := range clusters {
		c.agent, err = promstack.StartPrometheus(ctx, promstack.PrometheusOptions{
			Binary: promBin,
			Dir:    dir,
			Agent:  true,
			Config: pipeline.AgentConfig(c.exporterAddr, central.URL+"/api/v1/write", c.name, timings),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.agent.Cleanup)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*promstack.Process{central, am, clusters[0].agent, clusters[1].agent} {
				t.Logf("%s log (tail):\n%s", p.Name, p.LogTail(30))
			}
		}
	})

	// Ready when the central Prometheus has every rule and, from both clusters, the
	// exporter's synced caches and the StatefulSet, fully Ready.
	ready := func(ctx context.Context) error {
		if err := pipeline.RulesLoaded(ctx, central, groups); err != nil {
			return err
		}
		for _, q := range []string{
			`up{job="statefulset-exporter"} == 1`,
			`statefulset_exporter_cache_synced{resource="statefulsets"} == 1`,
			fmt.Sprintf(`statefulset_ready_ratio{namespace=%q, statefulset=%q} == 1`, set, set),
		} {
			if got, err := queryClusters(ctx, central, q); err != nil || !slices.Equal(got, []string{"a", "b"}) {
				return fmt.Errorf("%s: clusters %q (%v)", q, got, err)
			}
		}
		// The rules evaluated before the agents' first samples arrived found no
		// exporter: StatefulSetExporterAbsent (its absent_over_time) is pending until
		// the next evaluation.
		if got, err := queryClusters(ctx, central, "ALERTS"); err != nil || len(got) > 0 {
			return fmt.Errorf("alerts still active in clusters %q (%v)", got, err)
		}
		return nil
	}
	if err := pollUntil(ctx, time.Minute, ready); err != nil {
		t.Fatalf("the central Prometheus never had both clusters: %v", err)
	}
	t.Logf("central Prometheus has both clusters after %s", since())
	watcher := pipeline.WatchAlerts(ctx, central, 250*time.Millisecond)
	w := &watch{hook: hook, watcher: watcher}
	a, b := clusters[0], clusters[1]

	// b's data must keep arriving while a is broken, or b's silence would prove nothing.
	bIsLive := func(what string) {
		t.Helper()
		q := fmt.Sprintf(`statefulset_ready_ratio{cluster="b", namespace=%q, statefulset=%q} == 1 and on (cluster) statefulset_exporter_api_reachable == 1`, set, set)
		if got, err := queryClusters(ctx, central, q); err != nil || !slices.Equal(got, []string{"b"}) {
			t.Errorf("%s: the central Prometheus has no fresh data from cluster b (%q, %v)", what, got, err)
		}
	}
	setLabels := map[string]string{"namespace": set, "statefulset": set}

	// 1. The same-named StatefulSet breaks in a only: its pods lose readiness.
	phase := time.Now()
	if err := setReady(ctx, a.client, false); err != nil {
		t.Fatal(err)
	}
	w.expectNotified(ctx, t, phase, "a", "StatefulSetNoReplicasReady", "critical", setLabels)
	bIsLive("StatefulSet broken in a")
	if err := setReady(ctx, a.client, true); err != nil {
		t.Fatal(err)
	}
	w.expectResolved(ctx, t, phase, "a", "StatefulSetNoReplicasReady")
	t.Logf("1. StatefulSet broken in a: notified and resolved within %s", time.Since(phase).Round(time.Millisecond))

	// 2. a's exporter stops: the agent's scrapes fail (up 0), and the exporter-absent
	// alert fires for a alone.
	phase = time.Now()
	a.exporter.Stop()
	w.expectNotified(ctx, t, phase, "a", "StatefulSetExporterAbsent", "critical", nil)
	bIsLive("a's exporter stopped")
	if err := a.startExporter(ctx, exporterBin); err != nil {
		t.Fatal(err)
	}
	w.expectResolved(ctx, t, phase, "a", "StatefulSetExporterAbsent")
	t.Logf("2. exporter of a stopped: notified and resolved within %s", time.Since(phase).Round(time.Millisecond))

	// 3. a's kube-apiserver fails over: stopped until a's exporter is reported unable to
	// reach it (so the outage was seen centrally), then started again.
	phase = time.Now()
	if err := a.kube.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	w.expectNotified(ctx, t, phase, "a", "StatefulSetExporterAPIUnreachable", "critical", map[string]string{"job": "statefulset-exporter"})
	bIsLive("a's API server down")
	if err := a.kube.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	w.expectResolved(ctx, t, phase, "a", "StatefulSetExporterAPIUnreachable")
	t.Logf("3. API server of a stopped and restarted: notified and resolved within %s", time.Since(phase).Round(time.Millisecond))

	// Give anything the repairs set off the time to be notified.
	time.Sleep(timings.GroupWait + timings.GroupInterval + 3*timings.Scrape)

	// Cluster b raised nothing, not even a pending alert; every alert carries a cluster;
	// a notified only what was broken.
	for _, s := range watcher.All() {
		switch c := s.Labels["cluster"]; c {
		case "a":
		case "b":
			t.Errorf("cluster b must raise nothing, but the central Prometheus had %s (active at %s, last %s)", pipeline.LabelString(s.Labels), s.ActiveAt.Format(time.StampMilli), s.LastState)
		default:
			t.Errorf("alert without cluster a or b: %s (active at %s, last %s)", pipeline.LabelString(s.Labels), s.ActiveAt.Format(time.StampMilli), s.LastState)
		}
	}
	expected := []string{"StatefulSetNoReplicasReady", "StatefulSetExporterAbsent", "StatefulSetExporterAPIUnreachable"}
	for _, n := range hook.All() {
		if n.Alert.Labels["cluster"] != "a" {
			t.Errorf("notification for another cluster than a: %s", n)
			continue
		}
		if name := n.Alert.Labels["alertname"]; !slices.Contains(expected, name) {
			t.Errorf("unexpected notification for cluster a: %s (%q)", n, n.Alert.Annotations["description"])
		}
	}

	// 4. Inhibitions stay within a cluster: while a's exporter cannot reach its API
	// server, StatefulSetExporterAPIUnreachable mutes a's StatefulSet alerts (inhibit
	// rule 1, equal: [cluster]) but not b's.
	phase = time.Now()
	if err := a.kube.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	w.expectNotified(ctx, t, phase, "a", "StatefulSetExporterAPIUnreachable", "critical", map[string]string{"job": "statefulset-exporter"})
	broken := time.Now()
	if err := setReady(ctx, b.client, false); err != nil {
		t.Fatal(err)
	}
	w.expectNotified(ctx, t, broken, "b", "StatefulSetNoReplicasReady", "critical", setLabels)
	t.Logf("4. StatefulSet broken in b while a's API server is down: notified within %s", time.Since(broken).Round(time.Millisecond))

	if bad := hook.BadRequests(); len(bad) > 0 {
		t.Errorf("the webhook got invalid requests: %q", bad)
	}
	t.Logf("multi-cluster remote-write test done in %s", since())
}

// setUp creates the objects of scenario "healthy" (nodes in two zones, three Ready
// replicas) and a PodDisruptionBudget for them, so that the StatefulSet has no
// high-availability risk to report either.
func setUp(ctx context.Context, client kubernetes.Interface) error {
	if err := scenario.ApplyCluster(ctx, client); err != nil {
		return err
	}
	s, ok := scenario.ByName(set)
	if !ok {
		return fmt.Errorf("no scenario %s", set)
	}
	if err := s.Apply(ctx, client); err != nil {
		return err
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: set, Name: set},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": set}},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(set).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("pdb: %w", err)
	}
	return nil
}

// setReady writes the status the kubelet and the StatefulSet controller would write when
// every pod of the StatefulSet turns not Ready (its readiness probe failing) or Ready
// again.
func setReady(ctx context.Context, client kubernetes.Interface, ready bool) error {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pods, err := client.CoreV1().Pods(set).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			pod, err := client.CoreV1().Pods(set).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for i, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
					pod.Status.Conditions[i].Status, pod.Status.Conditions[i].LastTransitionTime = status, metav1.Now()
				}
			}
			for i := range pod.Status.ContainerStatuses {
				pod.Status.ContainerStatuses[i].Ready = ready
			}
			_, err = client.CoreV1().Pods(set).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts, err := client.AppsV1().StatefulSets(set).Get(ctx, set, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := int32(0)
		if ready {
			n = sts.Status.Replicas
		}
		sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = n, n
		_, err = client.AppsV1().StatefulSets(set).UpdateStatus(ctx, sts, metav1.UpdateOptions{})
		return err
	})
}

// startExporter starts (or restarts) the cluster's exporter on its address.
func (c *cluster) startExporter(ctx context.Context, binary string) error {
	p, err := exporterbin.Start(ctx, binary,
		"--kubeconfig="+c.kubeconfig,
		"--web.listen-address="+c.exporterAddr,
		"--api.probe-interval="+apiProbeInterval.String(),
	)
	if err != nil {
		return fmt.Errorf("exporter of cluster %s: %w", c.name, err)
	}
	c.exporter = p
	return nil
}

// watch is what the test observes: the notifications and the central Prometheus's
// alerts.
type watch struct {
	hook    *pipeline.Webhook
	watcher *pipeline.AlertWatcher
}

// expectNotified waits until the alert of cluster reaches the webhook firing, notified
// after since, on the receiver of its severity, with a description naming the cluster.
func (w *watch) expectNotified(ctx context.Context, t *testing.T, since time.Time, cluster, alert, severity string, labels map[string]string) {
	t.Helper()
	match := map[string]string{"alertname": alert, "cluster": cluster, "severity": severity}
	for k, v := range labels {
		match[k] = v
	}
	n, err := w.await(ctx, notifyBound, "firing", match, since)
	if err != nil {
		t.Fatalf("%s never reached the webhook: %v (central Prometheus: %s)", pipeline.LabelString(match), err, describeSeen(w.watcher, alert))
	}
	if want := pipeline.ReceiverPath(severity); n.Path != want {
		t.Errorf("%s reached %s, want %s", n, n.Path, want)
	}
	if d := n.Alert.Annotations["description"]; !strings.Contains(d, " in cluster "+cluster+" ") {
		t.Errorf("%s: the description does not name cluster %s: %q", alert, cluster, d)
	}
}

// expectResolved waits until the alert of cluster resolves at the webhook after since.
func (w *watch) expectResolved(ctx context.Context, t *testing.T, since time.Time, cluster, alert string) {
	t.Helper()
	match := map[string]string{"alertname": alert, "cluster": cluster}
	if _, err := w.await(ctx, resolveBound, "resolved", match, since); err != nil {
		t.Fatalf("%s never resolved at the webhook: %v (central Prometheus: %s)", pipeline.LabelString(match), err, describeSeen(w.watcher, alert))
	}
}

// await returns the first notification with status whose labels include match,
// received after since, waiting up to timeout for it.
func (w *watch) await(ctx context.Context, timeout time.Duration, status string, match map[string]string, since time.Time) (pipeline.Notification, error) {
	var found pipeline.Notification
	err := pollUntil(ctx, timeout, func(context.Context) error {
		for _, n := range w.hook.All() {
			if n.At.After(since) && n.Alert.Status == status && pipeline.HasLabels(n.Alert.Labels, match) {
				found = n
				return nil
			}
		}
		return errors.New("not received")
	})
	return found, err
}

// queryClusters runs an instant query and returns the sorted cluster labels of its
// result.
func queryClusters(ctx context.Context, prom *promstack.Process, query string) ([]string, error) {
	body, err := prom.Get(ctx, "/api/v1/query?query="+url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range resp.Data.Result {
		out = append(out, r.Metric["cluster"])
	}
	slices.Sort(out)
	return out, nil
}

// pollUntil calls fn every 200ms until it returns nil, and returns its last error if
// that does not happen within timeout.
func pollUntil(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = fn(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("after %s: %w", timeout, errors.Join(err, last))
	}
	return nil
}

// describeSeen says what the central Prometheus showed of the alert, in any cluster.
func describeSeen(w *pipeline.AlertWatcher, alert string) string {
	var parts []string
	for _, s := range w.All() {
		if s.Labels["alertname"] == alert {
			parts = append(parts, fmt.Sprintf("%s %s", s.LastState, pipeline.LabelString(s.Labels)))
		}
	}
	if len(parts) == 0 {
		return "never active"
	}
	return strings.Join(parts, "; ")
}

// skipUnavailable skips the test when err says Prometheus or Alertmanager is not
// installed, unless CI=true, where it fails instead.
func skipUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the multi-cluster test cannot run: %v", err)
	}
	t.Skipf("skipping the multi-cluster remote-write test (hack/install-deps.sh installs the prometheus and prometheus-alertmanager packages; with CI=true this fails): %v", err)
}
