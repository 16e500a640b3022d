package replicas

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
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/faultproxy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// Exporter thresholds, passed as flags to both replicas.
const (
	terminatingStuckAfter = 2 * time.Second
	apiProbeInterval      = 1 * time.Second
)

// clusterLabel is the external label cluster of the test Prometheus.
const clusterLabel = "replicas"

// Namespaces (and StatefulSets) of the test. healthy must never alert; crashloop breaks
// before anything happens to the replicas, partitioned while replica a is cut from the
// API server, after-loss once replica a's node is lost; node-lost runs both its pods on
// replica a's node.
const (
	nsHealthy     = "healthy"
	nsCrashLoop   = "crashloop"
	nsPartitioned = "partitioned"
	nsAfterLoss   = "after-loss"
	nsNodeLost    = "node-lost"
)

// crashReasons are the reasons a crash-looping pod shows between two back-offs: waiting,
// running but not Ready for a second, then exited.
var crashReasons = []string{"(CrashLoopBackOff", "(ReadinessFailing", "(ContainerTerminated"}

// replica is one exporter replica and where it "runs".
type replica struct {
	name, node, zone string
	pod              string // the exporter pod's name: its target label pod
	proxy            *faultproxy.Proxy
	exporter         *exporterbin.Process
}

// TestTwoReplicasLoseNoAlert runs two exporter replicas, each through its own fault
// proxy, breaks a StatefulSet, then cuts replica a from the API server and later loses
// its node, and checks over the whole run that no alert is lost, none resolves or
// restarts, and none is raised that the cluster does not warrant.
func TestTwoReplicasLoseNoAlert(t *testing.T) {
	_, promErr := promstack.FindPrometheus()
	_, amErr := promstack.FindAlertmanager()
	skipUnavailable(t, errors.Join(promErr, amErr))

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	since := func() string { return time.Since(start).Round(time.Millisecond).String() }

	dir := t.TempDir()
	exporterBin, err := exporterbin.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := simcluster.Start(ctx, simcluster.Options{Logf: t.Logf})
	localkubetest.SkipOrFatal(t, "starting the simulated cluster", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", cluster.Logs())
		}
		cluster.Stop()
	})
	t.Logf("simulated cluster up after %s", since())

	// healthy spreads 3 Ready replicas over the zones with a PodDisruptionBudget;
	// node-lost puts 2 on a dedicated node in zone a, which replica a shares.
	var seeds []simscenario.Seed
	for _, name := range []string{nsHealthy, nsNodeLost} {
		s, ok := simscenario.ByName(name)
		if !ok {
			t.Fatalf("no seed %s", name)
		}
		seeds = append(seeds, s)
	}
	if err := simscenario.Concurrently(seeds, func(s simscenario.Seed) error { return s.Setup(ctx, cluster) }); err != nil {
		t.Fatalf("setting up the seeds: %v", err)
	}
	nodeLost, _ := simscenario.ByName(nsNodeLost)
	sts, err := cluster.Client.AppsV1().StatefulSets(nsNodeLost).Get(ctx, nsNodeLost, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zoneB := cluster.Region + "b"
	replicas := []*replica{
		{name: "a", node: sts.Spec.Template.Spec.NodeSelector[simcluster.LabelHostname], zone: cluster.Region + "a"},
		{name: "b", node: cluster.NodesIn(zoneB)[0], zone: zoneB},
	}
	t.Logf("seeds set up after %s", since())

	var specs []pipeline.Replica
	for _, r := range replicas {
		if r.proxy, err = faultproxy.Start(faultproxy.Options{Upstream: cluster.AdminConfig(), Logf: t.Logf}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.proxy.Close)
		kubeconfig := filepath.Join(dir, "kubeconfig-"+r.name)
		if err := r.proxy.WriteKubeconfig(kubeconfig); err != nil {
			t.Fatal(err)
		}
		r.pod = "statefulset-exporter-7d4b9c8f6-" + r.name
		specs = append(specs, pipeline.Replica{
			Args: []string{
				"--kubeconfig=" + kubeconfig,
				"--terminating.stuck-after=" + terminatingStuckAfter.String(),
				"--api.probe-interval=" + apiProbeInterval.String(),
			},
			// The target labels the shipped ServiceMonitor gives an exporter pod, besides
			// job and instance (the pod's IP and port, here its loopback address).
			Labels: map[string]string{
				"namespace": "monitoring", "pod": r.pod, "service": "statefulset-exporter",
				"endpoint": "http-metrics", "container": "statefulset-exporter",
			},
		})
	}
	cfg := pipeline.FastMixinConfig()
	// FastMixinConfig makes it 6s, shorter than the 2m over which the rule takes the
	// maximum of statefulset_exporter_resource_failing, so a partitioned replica's
	// failed watches would fire it once the partition heals and the replica is fresh
	// again. The shipped "for" (5m) is longer than that window, which keeps it quiet;
	// 2m10s keeps that order.
	cfg.ResourceFailingFor = 2*time.Minute + 10*time.Second
	p, err := pipeline.Start(ctx, pipeline.Options{
		ExporterBinary: exporterBin,
		Replicas:       specs,
		Mixin:          cfg,
		Cluster:        clusterLabel,
		Dir:            dir,
		Logf:           t.Logf,
	})
	if errors.Is(err, pipeline.ErrUnavailable) {
		skipUnavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s", p.Logs(40))
		}
	})
	for i, r := range replicas {
		r.exporter = p.Exporters[i]
		t.Logf("replica %s: pod %s on node %s (zone %s), exporter %s, API through %s", r.name, r.pod, r.node, r.zone, r.exporter.URL, r.proxy.URL())
	}
	t.Logf("pipeline up after %s", since())
	hook := p.Webhook
	watcher := pipeline.WatchAlerts(ctx, p.Prometheus, 250*time.Millisecond)
	a := replicas[0]

	// 1. A StatefulSet breaks while both replicas serve: it pages once.
	if err := createCrashLooping(ctx, cluster, nsCrashLoop); err != nil {
		t.Fatal(err)
	}
	brokenAt := time.Now()
	waitNotified(ctx, t, hook, watcher, nsCrashLoop, time.Minute)
	t.Logf("%s paged %s after it broke", nsCrashLoop, sinceFirst(hook, nsCrashLoop, brokenAt))

	// 2. Replica a is cut from the API server but still scraped: its probe fails, its
	// caches freeze. A StatefulSet that breaks meanwhile pages from replica b's data.
	// The partition lasts longer than ReplicaStaleAfter and every "for" of the
	// exporter's own alerts (APIUnreachableFor) put together.
	partitionedAt := time.Now()
	a.proxy.SetMode(faultproxy.Unavailable)
	a.proxy.CutWatchesNow()
	if err := createCrashLooping(ctx, cluster, nsPartitioned); err != nil {
		t.Fatal(err)
	}
	staleAt := waitQuery(ctx, t, p.Prometheus, fmt.Sprintf(`statefulset_exporter_api_reachable{pod=%q} == 0`, a.pod), time.Minute)
	waitNotified(ctx, t, hook, watcher, nsPartitioned, time.Minute)
	partition := cfg.ReplicaStaleAfter + cfg.APIUnreachableFor + 5*time.Second
	sleepUntil(ctx, partitionedAt.Add(partition))
	a.proxy.SetMode(faultproxy.PassThrough)
	healedAt := time.Now()
	freshAt := waitQuery(ctx, t, p.Prometheus, fmt.Sprintf(`statefulset_exporter_api_reachable{pod=%q} == 1`, a.pod), time.Minute)
	t.Logf("partition of replica a: its probe read 0 in Prometheus %s after the cut, %s paged %s after it broke; healed after %s, fresh again %s later",
		staleAt.Sub(partitionedAt).Round(time.Millisecond), nsPartitioned, sinceFirst(hook, nsPartitioned, partitionedAt),
		healedAt.Sub(partitionedAt).Round(time.Millisecond), freshAt.Sub(healedAt).Round(time.Millisecond))

	// 3. Replica a's node is lost: the replica dies without a goodbye and the node's
	// kubelet stops, taking node-lost's pods with it. A StatefulSet that breaks after
	// the loss pages from replica b alone.
	lostAt := time.Now()
	if err := a.exporter.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.proxy.Close()
	if err := nodeLost.Break(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	if err := createCrashLooping(ctx, cluster, nsAfterLoss); err != nil {
		t.Fatal(err)
	}
	goneAt := waitQuery(ctx, t, p.Prometheus, fmt.Sprintf(`up{pod=%q} == 0 and on () count(statefulset_exporter_api_reachable) == 1`, a.pod), time.Minute)
	waitNotified(ctx, t, hook, watcher, nsAfterLoss, time.Minute)
	// The node lifecycle controller notices the silent kubelet after its grace period,
	// the pods tolerate the unreachable taint for EvictAfterSeconds, then they are stuck
	// Terminating for --terminating.stuck-after and StuckTerminatingFor.
	nodeLostBound := localkube.NodeMonitorGracePeriod + simscenario.EvictAfterSeconds*time.Second + terminatingStuckAfter + cfg.StuckTerminatingFor + time.Minute
	for _, pod := range []string{"node-lost-0", "node-lost-1"} {
		match := map[string]string{"alertname": "StatefulSetPodStuckTerminating", "namespace": nsNodeLost, "pod": pod, "node": a.node}
		if !eventually(ctx, nodeLostBound, func() bool { _, ok := hook.First("firing", match); return ok }) {
			t.Errorf("%s never paged within %s of the loss", pipeline.LabelString(match), nodeLostBound)
		}
	}
	// The window after the loss covers replica a's series going stale, every "for" of
	// the exporter's own alerts and ReplicaStaleAfter, twice over.
	window := 2 * (cfg.ReplicaStaleAfter + max(cfg.ExporterAbsentFor, cfg.APIUnreachableFor))
	sleepUntil(ctx, time.Now().Add(window))
	t.Logf("loss of replica a's node: Prometheus saw replica a down and only replica b reporting %s after the kill; %s paged %s after it broke; %s's pods paged stuck Terminating %s after the loss; watched for %s after the loss",
		goneAt.Sub(lostAt).Round(time.Millisecond), nsAfterLoss, sinceFirst(hook, nsAfterLoss, lostAt),
		nsNodeLost, sinceLast(hook, map[string]string{"alertname": "StatefulSetPodStuckTerminating"}, lostAt), time.Since(lostAt).Round(time.Second))

	checkNotifications(t, hook, a.node)
	checkStillFiring(t, watcher)
	checkPrometheus(t, watcher, start)
	t.Logf("done after %s", since())
}

// expectedNotifications are the alerts that must have been notified, firing, by the end:
// alertname and namespace, with the pod for pod-level alerts. Nothing else may be
// notified, and nothing resolved.
//
// Each crash-looping StatefulSet runs one replica without a PodDisruptionBudget: two
// info alerts of its posture besides its page. node-lost runs both its replicas on one
// node, so in one zone: an info alert from the start.
var expectedNotifications = []string{
	"StatefulSetNoReplicasReady crashloop",
	"StatefulSetSingleReplica crashloop",
	"StatefulSetNoPodDisruptionBudget crashloop",
	"StatefulSetNoReplicasReady partitioned",
	"StatefulSetSingleReplica partitioned",
	"StatefulSetNoPodDisruptionBudget partitioned",
	"StatefulSetNoReplicasReady after-loss",
	"StatefulSetSingleReplica after-loss",
	"StatefulSetNoPodDisruptionBudget after-loss",
	"StatefulSetSingleZone node-lost",
	"StatefulSetNoReplicasReady node-lost",
	"StatefulSetPodStuckTerminating node-lost/node-lost-0",
	"StatefulSetPodStuckTerminating node-lost/node-lost-1",
}

// inhibitedInPrometheus are alerts that may fire in Prometheus for a broken StatefulSet
// but are inhibited in Alertmanager by its StatefulSetNoReplicasReady (shipped inhibit
// rule 3): the crash loop's own symptoms.
var inhibitedInPrometheus = []string{"StatefulSetPodsCrashLooping", "StatefulSetContainerRestarting"}

// checkNotifications compares what reached the webhook with expectedNotifications: the
// same set, nothing resolved, every alert notified with one startsAt (never re-notified
// as new), no exporter target label, and descriptions that name the pod and its reason.
func checkNotifications(t *testing.T, hook *pipeline.Webhook, lostNode string) {
	t.Helper()
	got := map[string]bool{}
	startsAt := map[string]time.Time{}
	for _, n := range hook.All() {
		key := alertKey(n.Alert.Labels)
		got[key] = true
		if n.Alert.Status != "firing" {
			t.Errorf("%s notified %s at %s: %s", key, n.Alert.Status, n.At.Format(time.TimeOnly), n)
		}
		if first, ok := startsAt[key]; !ok {
			startsAt[key] = n.Alert.StartsAt
		} else if !n.Alert.StartsAt.Equal(first) {
			t.Errorf("%s notified again as a new alert: startsAt %s, first %s", key, n.Alert.StartsAt, first)
		}
		for _, k := range []string{"instance", "job", "endpoint", "service", "container"} {
			if v, ok := n.Alert.Labels[k]; ok {
				t.Errorf("%s carries the exporter's target label %s=%q", key, k, v)
			}
		}
		if pod := n.Alert.Labels["pod"]; strings.HasPrefix(pod, "statefulset-exporter-") {
			t.Errorf("%s carries the exporter's pod %q", key, pod)
		}
	}
	var unexpected []string
	for key := range got {
		if !slices.Contains(expectedNotifications, key) {
			unexpected = append(unexpected, key)
		}
	}
	var missing []string
	for _, key := range expectedNotifications {
		if !got[key] {
			missing = append(missing, key)
		}
	}
	slices.Sort(unexpected)
	if len(unexpected) > 0 || len(missing) > 0 {
		t.Errorf("notified alerts differ from the expected set:\n  unexpected: %q\n  missing: %q\nall notifications:\n%s", unexpected, missing, notificationList(hook))
	}
	for _, ns := range []string{nsCrashLoop, nsPartitioned, nsAfterLoss} {
		n, ok := hook.First("firing", map[string]string{"alertname": "StatefulSetNoReplicasReady", "namespace": ns})
		if !ok {
			continue
		}
		desc := n.Alert.Annotations["description"]
		if !strings.Contains(desc, "Pods not Ready: "+ns+"-0 (") || !slices.ContainsFunc(crashReasons, func(r string) bool { return strings.Contains(desc, ns+"-0 "+r) }) {
			t.Errorf("%s: the page does not name the pod and its reason (one of %q): %q", ns, crashReasons, desc)
		}
	}
	for _, pod := range []string{"node-lost-0", "node-lost-1"} {
		n, ok := hook.First("firing", map[string]string{"alertname": "StatefulSetPodStuckTerminating", "pod": pod})
		if !ok {
			continue
		}
		if got := n.Alert.Labels["node"]; got != lostNode {
			t.Errorf("%s: stuck Terminating on node %q, want the lost node %s", pod, got, lostNode)
		}
		if desc := n.Alert.Annotations["description"]; !strings.Contains(desc, "(node status: unreachable)") {
			t.Errorf("%s: the page does not say the node is unreachable: %q", pod, desc)
		}
	}
}

// checkPrometheus checks every alert Prometheus held during the run: none fired for
// the healthy StatefulSet or about the exporter, none fired but the expected ones and
// the symptoms they inhibit, and no expected alert ended and began again.
func checkPrometheus(t *testing.T, watcher *pipeline.AlertWatcher, start time.Time) {
	t.Helper()
	if n, err := watcher.Errors(); n > 0 {
		t.Logf("%d polls of Prometheus' alerts failed, the last: %v", n, err)
	}
	for _, s := range watcher.All() {
		key := alertKey(s.Labels)
		name := s.Labels["alertname"]
		switch {
		case s.FirstFiring.IsZero():
			// Pending only: the rule's "for" held it back, as it should for a blip.
			if strings.HasPrefix(name, "StatefulSetExporter") || s.Labels["namespace"] == nsHealthy {
				t.Logf("pending but never firing: %s, %s to %s", pipeline.LabelString(s.Labels),
					s.FirstPending.Sub(start).Round(time.Second), s.LastSeen.Sub(start).Round(time.Second))
			}
			continue
		case slices.Contains(expectedNotifications, key):
		case slices.Contains(inhibitedInPrometheus, name) && s.Labels["namespace"] != nsHealthy && s.Labels["namespace"] != nsNodeLost:
		default:
			t.Errorf("false alert fired in Prometheus: %s %s", key, pipeline.LabelString(s.Labels))
			continue
		}
		if s.Gaps > 0 {
			t.Errorf("%s ended and began again %d time(s) (last active since %s)", key, s.Gaps, s.ActiveAt.Format(time.TimeOnly))
		}
		if _, ok := s.Labels["instance"]; ok {
			t.Errorf("%s carries the exporter's instance %q", key, s.Labels["instance"])
		}
	}
}

// checkStillFiring checks that every expected alert is still firing in Prometheus at the
// end: none was lost with replica a. StatefulSetSingleZone of node-lost may have ended,
// rightly: the lost node's pods are no longer Ready, so no zone holds them all.
func checkStillFiring(t *testing.T, watcher *pipeline.AlertWatcher) {
	t.Helper()
	firing := map[string]bool{}
	for _, a := range watcher.Current() {
		if a.State == "firing" {
			firing[alertKey(a.Labels)] = true
		}
	}
	for _, key := range expectedNotifications {
		if !firing[key] && key != "StatefulSetSingleZone "+nsNodeLost {
			t.Errorf("%s is no longer firing at the end", key)
		}
	}
}

// createCrashLooping creates, in its own namespace, a StatefulSet of one replica whose
// container crash-loops as kwok runs it.
func createCrashLooping(ctx context.Context, c *simcluster.Cluster, ns string) error {
	annotations, labels := simscenario.CrashLooping(simscenario.CrashBackOff)
	return simscenario.Create(ctx, c.Client, ns, simscenario.Workload(ns, 1, annotations, labels))
}

// waitNotified waits until the StatefulSet of namespace ns pages StatefulSetNoReplicasReady;
// the test goes on without it, to report everything else that went wrong.
func waitNotified(ctx context.Context, t *testing.T, hook *pipeline.Webhook, watcher *pipeline.AlertWatcher, ns string, timeout time.Duration) {
	t.Helper()
	match := map[string]string{"alertname": "StatefulSetNoReplicasReady", "namespace": ns}
	if !eventually(ctx, timeout, func() bool { _, ok := hook.First("firing", match); return ok }) {
		s, _ := watcher.Firing(match)
		t.Errorf("%s never paged within %s (Prometheus: first firing %v)\nnotifications:\n%s", pipeline.LabelString(match), timeout, s.FirstFiring, notificationList(hook))
	}
}

// waitQuery waits until the PromQL query returns a non-empty vector and returns when.
func waitQuery(ctx context.Context, t *testing.T, prom *promstack.Process, query string, timeout time.Duration) time.Time {
	t.Helper()
	var last string
	ok := eventually(ctx, timeout, func() bool {
		body, err := prom.Get(ctx, "/api/v1/query?query="+url.QueryEscape(query))
		if err != nil {
			last = err.Error()
			return false
		}
		var resp struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			last = err.Error()
			return false
		}
		last = string(body)
		return len(resp.Data.Result) > 0
	})
	if !ok {
		t.Fatalf("query %s: empty for %s (last: %s)", query, timeout, last)
	}
	return time.Now()
}

// alertKey names an alert as expectedNotifications does.
func alertKey(labels map[string]string) string {
	key := labels["alertname"] + " " + labels["namespace"]
	if pod := labels["pod"]; pod != "" {
		key += "/" + pod
	}
	return key
}

func notificationList(hook *pipeline.Webhook) string {
	var b strings.Builder
	for _, n := range hook.All() {
		fmt.Fprintf(&b, "  %s %s\n", n.At.Format("15:04:05.000"), n)
	}
	return b.String()
}

// sinceFirst is how long after from the first page of ns's StatefulSetNoReplicasReady came.
func sinceFirst(hook *pipeline.Webhook, ns string, from time.Time) string {
	return sinceLast(hook, map[string]string{"alertname": "StatefulSetNoReplicasReady", "namespace": ns}, from)
}

// sinceLast is how long after from the last of the first notifications of the alerts
// matching match came.
func sinceLast(hook *pipeline.Webhook, match map[string]string, from time.Time) string {
	var last time.Time
	seen := map[string]bool{}
	for _, n := range hook.All() {
		if key := alertKey(n.Alert.Labels); n.Alert.Status == "firing" && pipeline.HasLabels(n.Alert.Labels, match) && !seen[key] {
			seen[key] = true
			last = n.At
		}
	}
	if last.IsZero() {
		return "-"
	}
	return last.Sub(from).Round(100 * time.Millisecond).String()
}

func eventually(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(at)):
	}
}

func skipUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the test cannot run: %v", err)
	}
	t.Skipf("skipping (install the prometheus and prometheus-alertmanager packages with hack/install-deps.sh; with CI=true this fails): %v", err)
}
