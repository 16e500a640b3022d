package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Exporter thresholds, passed as flags. They are shorter than the "for" durations of the
// rules, as the defaults are (10m and 5m against minutes of "for").
const (
	rolloutStallAfter     = 5 * time.Second
	terminatingStuckAfter = 2 * time.Second
	apiProbeInterval      = 1 * time.Second
)

// clusterLabel is the external label cluster of the test Prometheus, the way a
// single-cluster setup names its cluster: it is attached to every alert sent to
// Alertmanager, whose grouping and inhibitions use it.
const clusterLabel = "e2e"

// Bounds of the waits.
const (
	// notifyBound bounds the wait for a seed's notifications after its breakage. Every
	// alert expected here has a "for" (or age threshold) of at most 6s with
	// pipeline.FastMixinConfig, the exporter's own thresholds add at most 5s
	// (--rollout.stall-after), the controllers, the scheduler, the EBS simulation and
	// kwok react within a few seconds, and scraping, evaluation, group_wait and delivery
	// add about 4s: 20-odd seconds in all, and the rest is room for a busy two-core
	// machine.
	notifyBound = 60 * time.Second
	// resolveBound bounds the wait for the resolved notifications after a repair: the
	// repaired pods come back within seconds (the EBS simulation retries a failed
	// provisioning or attachment after at most 10s of back-off), then one evaluation,
	// group_interval and delivery.
	resolveBound = 60 * time.Second
	// nodeLostDelay is what the node-lost seed adds to both bounds. After the breakage,
	// the node lifecycle controller notices the silent kubelet only after
	// localkube.NodeMonitorGracePeriod, which it checks every node monitor period (2s; 5s
	// are allowed for it and for kwok's restart); then the pods' toleration of the
	// unreachable taint (simscenario.EvictAfterSeconds) and their 1s grace period pass
	// before they are stuck Terminating. After the repair the node must turn Ready again and lose its taint
	// before its pods are replaced, which takes a heartbeat and a node monitor period.
	nodeLostDelay = localkube.NodeMonitorGracePeriod + 5*time.Second + simscenario.EvictAfterSeconds*time.Second + time.Second
)

// want is an alert that must reach the webhook.
type want struct {
	alert    string
	severity string
	// labels are the alert's labels besides alertname, severity, namespace, statefulset
	// and cluster; they also tell apart alerts of the same name (one per pod or claim).
	labels map[string]string
	// describes are substrings the description must contain (the objects it names).
	describes []string
	// oneOf, when set, are alternatives one of which the description must contain, for a
	// situation that alternates between states when it is notified.
	oneOf []string
	// eventually are substrings that Prometheus's description of the alert must contain
	// at some point before the repair.
	eventually []string
	// wait is how long the condition must hold before the alert fires: the rule's "for"
	// or age threshold, plus the exporter's own thresholds and the cluster's delays when
	// the metric has them.
	wait time.Duration
}

// match returns the labels that identify the alert of w in the namespace ns.
func (w want) match(ns string) map[string]string {
	m := map[string]string{"alertname": w.alert, "namespace": ns}
	for k, v := range w.labels {
		m[k] = v
	}
	return m
}

// broken is a seed broken during the test and what it must notify.
type broken struct {
	seed simscenario.Seed
	// notify must reach the webhook while broken; those that are not info must resolve
	// after the repair.
	notify []want
	// inhibited must fire in Prometheus but never reach the webhook: a shipped
	// inhibition covers them.
	inhibited []string
	// recovering are alerts that may be notified during the repair, as long as they
	// resolve within resolveBound: true while the repair is under way, and no longer
	// inhibited once the alert that covered them resolved. For example
	// StatefulSetReplicasNotReady starts its "for" when the first replica is Ready again
	// (its expression leaves out no replica Ready and a rollout), and a recovery one
	// replica after the other that outlasts that "for" (6s here) is rightly notified.
	recovering []string
	// notifyBound and resolveBound bound the waits after the breakage and the repair.
	notifyBound, resolveBound time.Duration

	brokenAt, repairedAt time.Time
}

func (b *broken) name() string { return b.seed.Name }

func (b *broken) String() string { return b.name() }

// dedicatedNodeRef stands, in the labels and descriptions of expectations, for the node
// the seed's pods are pinned to (simscenario.Dedicate), known once the seed is broken;
// setNode fills it in.
const dedicatedNodeRef = "<dedicated node>"

// setNode replaces dedicatedNodeRef with node in what s expects.
func (b *broken) setNode(node string) {
	for i, w := range b.notify {
		labels := map[string]string{}
		for k, v := range w.labels {
			labels[k] = strings.ReplaceAll(v, dedicatedNodeRef, node)
		}
		describes := slices.Clone(w.describes)
		for j := range describes {
			describes[j] = strings.ReplaceAll(describes[j], dedicatedNodeRef, node)
		}
		b.notify[i].labels, b.notify[i].describes = labels, describes
	}
}

// expectations returns what each broken seed must notify.
func expectations(cfg mixin.Config) map[string]*broken {
	// noReplicasReady expects the page of a StatefulSet that is down, naming each pod and
	// why it is not Ready (pods), or one of the reasons of oneOf when the pods alternate
	// between states.
	noReplicasReady := func(ns string, replicas int, after time.Duration, pods string, oneOf ...string) want {
		return want{alert: "StatefulSetNoReplicasReady", severity: "critical", wait: after + cfg.NoReplicasReadyFor,
			describes: []string{fmt.Sprintf("None of the %d desired replicas of StatefulSet %s/%s", replicas, ns, ns), "Pods not Ready: " + pods},
			oneOf:     oneOf}
	}
	return map[string]*broken{
		"crashloop": {
			notify: []want{
				// Between two back-offs the container runs for a second, not Ready, then exits.
				noReplicasReady("crashloop", 1, 0, "crashloop-0 (",
					"crashloop-0 (CrashLoopBackOff, container db, last terminated: Error).",
					"crashloop-0 (ReadinessFailing, container db, last terminated: Error).",
					"crashloop-0 (ContainerTerminated, container db, last terminated: Error)."),
				{alert: "StatefulSetSingleReplica", severity: "info", wait: cfg.HAPostureFor,
					describes: []string{"StatefulSet crashloop/crashloop runs a single replica"}},
			},
			// A workload that is down notifies once, on the pager; the crash loop and the
			// restarting container are its symptoms (inhibit rule 3).
			// StatefulSetReplicasNotReady leaves out a StatefulSet with no replica Ready.
			inhibited: []string{"StatefulSetPodsCrashLooping", "StatefulSetContainerRestarting"},
			// The repair reverts the template and deletes crashloop-0, as rollout-stuck's
			// does. StatefulSetNoReplicasReady may resolve while the old pod's last
			// termination is still exported (seen once in about ten runs: resolved 0.9s
			// after the repair, the container's alert resolved 2s later); the symptoms,
			// no longer inhibited, may then be notified within this pipeline's 2s
			// group_interval, and must resolve.
			recovering: []string{"StatefulSetPodsCrashLooping", "StatefulSetContainerRestarting"},
		},
		"rollout-stuck": {
			notify: []want{
				{alert: "StatefulSetRolloutStalled", severity: "warning", wait: rolloutStallAfter + cfg.RolloutStalledFor,
					labels: map[string]string{"pod": "rollout-stuck-2"},
					describes: []string{"The rollout of StatefulSet rollout-stuck/rollout-stuck has made no progress",
						"waiting for pod rollout-stuck-2 ("},
					// Between two CrashLoopBackOff waits the container runs, not ready, for a
					// second, which the exporter calls ReadinessFailing (derive/why.go; the
					// generic NotReady is for a pod none of whose containers explains it); the
					// notification may catch either, Prometheus shows both.
					oneOf:      []string{"(CrashLoopBackOff)", "(ReadinessFailing)"},
					eventually: []string{"waiting for pod rollout-stuck-2 (CrashLoopBackOff)"}},
			},
			// The stalled rollout explains its crash loop and the restarting container
			// (rule 3); StatefulSetReplicasNotReady leaves out a rollout.
			inhibited: []string{"StatefulSetPodsCrashLooping", "StatefulSetContainerRestarting"},
			// The repair reverts the template, which ends the rollout (so RolloutStalled
			// resolves), then deletes rollout-stuck-2, which the controller replaces. In
			// between the old pod still crash-loops, and StatefulSetPodsCrashLooping and
			// StatefulSetContainerRestarting, uninhibited, may say so (as they would to an
			// operator who reverted without deleting the pod); the recreated pod may take
			// longer than StatefulSetReplicasNotReady's "for" to be Ready.
			recovering: []string{"StatefulSetPodsCrashLooping", "StatefulSetContainerRestarting", "StatefulSetReplicasNotReady"},
		},
		"ondelete": {
			// OnDelete: the controller leaves the outdated pods to the operator; the info
			// digest says so once they have waited OnDeleteOutdatedFor.
			notify: []want{{alert: "StatefulSetOnDeletePodsOutdated", severity: "info", wait: cfg.OnDeleteOutdatedFor,
				describes: []string{"3 pod(s) of StatefulSet ondelete/ondelete have run an old revision"}}},
		},
		"no-capacity": {
			// The real scheduler's verdict, categorised.
			notify: []want{noReplicasReady("no-capacity", 2, 0, "no-capacity-0 (InsufficientCPU).")},
			// The unschedulable pod is a symptom of the StatefulSet being down (rule 3).
			inhibited: []string{"StatefulSetPodsUnschedulable"},
		},
		"provision-error": {
			notify: []want{
				{alert: "StatefulSetPVCPending", severity: "warning", wait: cfg.PVCPendingThreshold,
					// The scheduler picked a node for the claim (selected-node), so it is
					// waiting for the provisioner, not for a consumer.
					labels: map[string]string{"persistentvolumeclaim": "data-provision-error-0"},
					describes: []string{"PersistentVolumeClaim provision-error/data-provision-error-0", "StatefulSet provision-error",
						"(reason: Provisioning)"}},
				// The scheduler holds the pod, without a verdict, until its claim is bound.
				noReplicasReady("provision-error", 2, 0, "provision-error-0 (ClaimPending)."),
			},
			// The pod waits for its volume, scheduled but not bound to the node: Pending
			// (rule 3 by NoReplicasReady, rule 4 by PVCPending).
			inhibited: []string{"StatefulSetPodsPending"},
			// provision-error-0 is Ready again before provision-error-1.
			recovering: []string{"StatefulSetReplicasNotReady"},
		},
		"attach-error": {
			// kwok starts pods without waiting for their volumes, so both pods run and are
			// Ready: the failing attachments are all there is to see.
			notify: []want{
				attachError(cfg, "attach-error", 0),
				attachError(cfg, "attach-error", 1),
			},
		},
		"node-lost": {
			notify: []want{
				stuckTerminating(cfg, "node-lost", 0),
				stuckTerminating(cfg, "node-lost", 1),
				// Both replicas ran on the lost node: the node lifecycle controller marks
				// them not Ready once the node is unreachable.
				// Unreachable, then Terminating once evicted.
				noReplicasReady("node-lost", 2, localkube.NodeMonitorGracePeriod, "node-lost-0 (",
					"node-lost-0 (NodeUnreachable); node-lost-1 (NodeUnreachable).",
					"node-lost-0 (Terminating); node-lost-1 (Terminating).",
					"node-lost-0 (Terminating); node-lost-1 (NodeUnreachable).",
					"node-lost-0 (NodeUnreachable); node-lost-1 (Terminating)."),
			},
			// node-lost-0 is Ready again before node-lost-1.
			recovering:   []string{"StatefulSetReplicasNotReady"},
			notifyBound:  notifyBound + nodeLostDelay,
			resolveBound: resolveBound + nodeLostDelay,
		},
	}
}

func attachError(cfg mixin.Config, ns string, ordinal int) want {
	node := dedicatedNodeRef
	claim := fmt.Sprintf("data-%s-%d", ns, ordinal)
	return want{alert: "StatefulSetVolumeAttachError", severity: "warning", wait: cfg.VolumeAttachErrorFor,
		labels:    map[string]string{"persistentvolumeclaim": claim, "node": node, "operation": "attach"},
		describes: []string{fmt.Sprintf("The attach of the volume of claim %s/%s (StatefulSet %s) on node %s", ns, claim, ns, node)}}
}

func stuckTerminating(cfg mixin.Config, ns string, ordinal int) want {
	node := dedicatedNodeRef
	pod := fmt.Sprintf("%s-%d", ns, ordinal)
	return want{alert: "StatefulSetPodStuckTerminating", severity: "critical",
		// The grace period of the node lifecycle controller, the toleration of the
		// unreachable taint, the pod's own grace period and --terminating.stuck-after.
		wait:   localkube.NodeMonitorGracePeriod + simscenario.EvictAfterSeconds*time.Second + time.Second + terminatingStuckAfter + cfg.StuckTerminatingFor,
		labels: map[string]string{"pod": pod, "node": node},
		describes: []string{"Pod " + ns + "/" + pod, "of StatefulSet " + ns, "on node " + node,
			"(node status: unreachable)"}}
}

// TestPipeline breaks StatefulSets on the simulated EKS cluster and follows the alerts
// through the real exporter, Prometheus and Alertmanager to a webhook, then repairs them
// and follows the resolution.
func TestPipeline(t *testing.T) {
	_, promErr := promstack.FindPrometheus()
	_, amErr := promstack.FindAlertmanager()
	skipUnavailable(t, errors.Join(promErr, amErr))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	since := func() string { return time.Since(start).Round(time.Millisecond).String() }

	// Build first: it is the slow step on a cold cache, and fails fast on a broken tree.
	dir := t.TempDir()
	exporterBin, err := exporterbin.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exporter built after %s", since())

	cluster, err := simcluster.Start(ctx, simcluster.Options{Logf: t.Logf})
	localkubetest.SkipOrFatal(t, "starting the simulated cluster", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", cluster.Logs())
		}
		cluster.Stop()
	})
	t.Logf("simulated cluster up after %s", since())

	// Every seed is set up, and the quiet ones are broken and settled, before the
	// pipeline starts: Prometheus must see nothing of them but their steady state.
	seeds := simscenario.Seeds()
	if err := simscenario.Concurrently(seeds, func(s simscenario.Seed) error {
		if s.Setup == nil {
			return nil
		}
		return s.Setup(ctx, cluster)
	}); err != nil {
		t.Fatalf("setting up the seeds: %v", err)
	}
	quiet := slices.DeleteFunc(slices.Clone(seeds), func(s simscenario.Seed) bool { return !s.Quiet })
	if err := simscenario.Concurrently(quiet, func(s simscenario.Seed) error {
		if s.Break != nil {
			if err := s.Break(ctx, cluster); err != nil {
				return err
			}
		}
		return waitSettled(ctx, cluster.Client, s.Name, 2*time.Minute)
	}); err != nil {
		t.Fatalf("the quiet seeds: %v", err)
	}
	t.Logf("seeds set up after %s", since())

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.FastMixinConfig()
	p, err := pipeline.Start(ctx, pipeline.Options{
		ExporterBinary: exporterBin,
		ExporterArgs: []string{
			"--kubeconfig=" + kubeconfig,
			"--rollout.stall-after=" + rolloutStallAfter.String(),
			"--terminating.stuck-after=" + terminatingStuckAfter.String(),
			"--api.probe-interval=" + apiProbeInterval.String(),
		},
		Mixin:   cfg,
		Cluster: clusterLabel,
		Dir:     dir,
		Logf:    t.Logf,
	})
	if errors.Is(err, pipeline.ErrUnavailable) {
		skipUnavailable(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last in, first out: the logs are read before Stop removes them.
	t.Cleanup(p.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s\nalertmanager configuration used:\n%s", p.Logs(40), p.AlertmanagerConfig)
		}
	})
	t.Logf("pipeline up after %s", since())
	hook := p.Webhook
	watcher := pipeline.WatchAlerts(ctx, p.Prometheus, 250*time.Millisecond)
	summaries := p.Summaries()

	// Break.
	expected := expectations(cfg)
	var scenarios []*broken
	for _, seed := range seeds {
		if seed.Quiet {
			continue
		}
		s, ok := expected[seed.Name]
		if !ok {
			t.Fatalf("seed %s has no expectations: add them to expectations()", seed.Name)
		}
		s.seed = seed
		s.notifyBound, s.resolveBound = cmp.Or(s.notifyBound, notifyBound), cmp.Or(s.resolveBound, resolveBound)
		scenarios = append(scenarios, s)
		delete(expected, seed.Name)
	}
	for name := range expected {
		t.Fatalf("expectations for %s, which is not a broken seed", name)
	}
	breakStart := time.Now()
	if err := simscenario.Concurrently(scenarios, func(s *broken) error {
		if err := s.seed.Break(ctx, cluster); err != nil {
			return err
		}
		s.brokenAt = time.Now()
		return nil
	}); err != nil {
		t.Fatalf("breaking the seeds: %v", err)
	}
	for _, s := range scenarios {
		node, err := dedicatedNode(ctx, cluster.Client, s.name())
		if err != nil {
			t.Fatal(err)
		}
		s.setNode(node)
	}

	// Every expected alert reaches the webhook, firing.
	for _, s := range scenarios {
		waitCtx, waitCancel := context.WithDeadline(ctx, s.brokenAt.Add(s.notifyBound))
		for _, w := range s.notify {
			match := w.match(s.name())
			if !eventually(waitCtx, func() bool { _, ok := hook.First("firing", match); return ok }) {
				t.Errorf("%s: %s never reached the webhook within %s (Prometheus: %s)", s.name(), pipeline.LabelString(match), s.notifyBound, describeSeen(watcher, match))
				continue
			}
			r, _ := hook.First("firing", match)
			checkNotification(t, s.name(), w, r, cfg, summaries, p.Prometheus.URL)
			for _, d := range w.eventually {
				var last string
				if !eventually(waitCtx, func() bool { last = currentDescription(watcher, match); return strings.Contains(last, d) }) {
					t.Errorf("%s: %s: the description in Prometheus never contained %q, last: %q", s.name(), w.alert, d, last)
				}
			}
		}
		// Inhibited alerts fire in Prometheus...
		for _, name := range s.inhibited {
			match := map[string]string{"alertname": name, "namespace": s.name()}
			if !eventually(waitCtx, func() bool { _, ok := watcher.Firing(match); return ok }) {
				t.Errorf("%s: %s never fired in Prometheus, so its inhibition is not exercised (%s)", s.name(), name, describeSeen(watcher, match))
			}
		}
		waitCancel()
	}
	// ...and, once Alertmanager had the time to flush their groups, were never notified.
	timings := pipeline.FastTimings
	settle := timings.GroupWait + timings.GroupInterval + 2*timings.Scrape
	time.Sleep(settle)
	for _, s := range scenarios {
		for _, name := range s.inhibited {
			if r, ok := hook.First("firing", map[string]string{"alertname": name, "namespace": s.name()}); ok {
				t.Errorf("%s: %s reached the webhook although a shipped inhibition covers it: %s", s.name(), name, r)
			}
		}
	}
	t.Logf("all expected notifications received %s after the breakage", time.Since(breakStart).Round(time.Millisecond))
	checkNoUnexpected(t, hook.All(), scenarios, map[string]bool{})

	// Repair.
	repairStart := time.Now()
	if err := simscenario.Concurrently(scenarios, func(s *broken) error {
		if err := s.seed.Repair(ctx, cluster); err != nil {
			return err
		}
		s.repairedAt = time.Now()
		return nil
	}); err != nil {
		t.Fatalf("repairing the seeds: %v", err)
	}
	for _, s := range scenarios {
		checkResolved(ctx, t, s, hook, watcher)
	}
	t.Logf("all expected resolutions received %s after the repair", time.Since(repairStart).Round(time.Millisecond))
	// Give anything that the repair wrongly set off (an alert uninhibited by the
	// resolution of its source, for example) the time to be notified.
	time.Sleep(settle)

	// A repaired StatefulSet must not notify anything new, whatever the alert, but the
	// alerts that may be notified during its recovery, which must resolve.
	all := hook.All()
	reported := map[string]bool{}
	for _, s := range scenarios {
		for _, r := range all {
			if r.Alert.Labels["namespace"] != s.name() || r.Alert.Status != "firing" || !r.At.After(s.repairedAt) ||
				r.Alert.Labels["severity"] == "info" || notifiedBefore(all, r, s.repairedAt) {
				continue
			}
			name := r.Alert.Labels["alertname"]
			if s.recoveryNotification(r) {
				checkRecovery(ctx, t, s, r, hook, watcher)
				continue
			}
			reported[s.name()+"/"+name] = true
			why := ""
			if slices.Contains(s.inhibited, name) {
				why = fmt.Sprintf("; %s was inhibited while the StatefulSet was broken and still fires in Prometheus after the repair (%s), "+
					"so Alertmanager notifies it as soon as the inhibiting alert resolves", name, describeSeen(watcher, map[string]string{"alertname": name, "namespace": s.name()}))
			}
			t.Errorf("%s: new notification %s after the repair: %s (%q)%s", s.name(), r.At.Sub(s.repairedAt).Round(10*time.Millisecond), r,
				oneLine(r.Alert.Annotations["description"]), why)
		}
	}
	all = hook.All()
	checkNoUnexpected(t, all, scenarios, reported)
	for _, r := range all {
		if r.Path == pipeline.ReceiverPath("info") && r.Alert.Status == "resolved" {
			t.Errorf("low-priority receiver got a resolved notification although it has send_resolved: false: %s", r)
		}
	}
	// The quiet StatefulSets were there to be alerted on: the exporter exported them, and
	// Prometheus evaluated the rules on them.
	for _, q := range quiet {
		query := fmt.Sprintf(`statefulset_replicas_desired{namespace=%q, statefulset=%q}`, q.Name, q.Name)
		if body, err := p.Prometheus.Get(ctx, "/api/v1/query?query="+url.QueryEscape(query)); err != nil || !strings.Contains(string(body), `"result":[{`) {
			t.Errorf("Prometheus has no %s (%v): the quiet seed %s is not checked", query, err, q.Name)
		}
	}
	for _, s := range watcher.All() {
		if slices.ContainsFunc(quiet, func(q simscenario.Seed) bool { return q.Name == s.Labels["namespace"] }) {
			t.Errorf("namespace %s must raise nothing, but Prometheus had %s %s (last %s)", s.Labels["namespace"], s.Labels["alertname"], pipeline.LabelString(s.Labels), s.LastState)
		}
	}
	if bad := hook.BadRequests(); len(bad) > 0 {
		t.Errorf("the webhook got invalid requests: %q", bad)
	}
	if n, err := watcher.Errors(); n > 0 {
		t.Logf("note: %d polls of Prometheus's alerts failed, last: %v", n, err)
	}

	logSeen(t, scenarios, watcher)
	logLatencies(t, scenarios, hook, watcher)
	t.Logf("end-to-end test done in %s", since())
}

// skipUnavailable skips the test when err says Prometheus or Alertmanager is not
// installed, unless CI=true, where it fails instead.
func skipUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the end-to-end test cannot run: %v", err)
	}
	t.Skipf("skipping the end-to-end pipeline test (install the prometheus and prometheus-alertmanager packages with hack/install-deps.sh; with CI=true this fails): %v", err)
}

// dedicatedNode returns the node the StatefulSet ns/ns is pinned to (simscenario.Dedicate),
// or "" if it is not pinned.
func dedicatedNode(ctx context.Context, client kubernetes.Interface, ns string) (string, error) {
	sts, err := client.AppsV1().StatefulSets(ns).Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return sts.Spec.Template.Spec.NodeSelector[simcluster.LabelHostname], nil
}

// waitSettled waits until the StatefulSet ns/ns has reached the state its spec asks for:
// the spec observed, every desired replica Ready and no other pod left, and, with a
// rolling update, the pods above the partition updated.
func waitSettled(ctx context.Context, client kubernetes.Interface, ns string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		sts, err := client.AppsV1().StatefulSets(ns).Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		desired := ptr.Deref(sts.Spec.Replicas, 1)
		updated := sts.Status.UpdatedReplicas
		if u := sts.Spec.UpdateStrategy; u.Type != appsv1.OnDeleteStatefulSetStrategyType {
			partition := int32(0)
			if u.RollingUpdate != nil {
				partition = ptr.Deref(u.RollingUpdate.Partition, 0)
			}
			updated = max(desired-partition, 0)
		}
		st := sts.Status
		last = fmt.Sprintf("generation %d observed %d, %d pods, %d/%d ready, %d updated (want %d)",
			sts.Generation, st.ObservedGeneration, len(pods.Items), st.ReadyReplicas, desired, st.UpdatedReplicas, updated)
		return st.ObservedGeneration == sts.Generation && st.Replicas == desired && st.ReadyReplicas == desired &&
			st.AvailableReplicas == desired && st.UpdatedReplicas == updated && len(pods.Items) == int(desired), nil
	})
	if err != nil {
		return fmt.Errorf("StatefulSet %s/%s not settled within %s (%s): %w", ns, ns, timeout, last, err)
	}
	return nil
}

// eventually polls cond every 100ms until it returns true or ctx ends.
func eventually(ctx context.Context, cond func() bool) bool {
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

// checkNotification checks the receiver, labels and annotations of a notified alert.
func checkNotification(t *testing.T, ns string, w want, r pipeline.Notification, cfg mixin.Config, summaries map[string]string, promURL string) {
	t.Helper()
	where := fmt.Sprintf("%s: %s", ns, w.alert)
	if want := pipeline.ReceiverPath(w.severity); r.Path != want || r.Msg.Receiver != strings.TrimPrefix(want, "/") {
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
			t.Errorf("%s: label %s=%q, want %q (labels %s)", where, k, got, v, pipeline.LabelString(r.Alert.Labels))
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
	if len(w.oneOf) > 0 && !slices.ContainsFunc(w.oneOf, func(s string) bool { return strings.Contains(desc, s) }) {
		t.Errorf("%s: description contains none of %q: %q", where, w.oneOf, desc)
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

// checkResolved checks that every alert s notified, but the info ones, resolves at the
// webhook, on the receiver that notified it, within resolveBound of the repair.
func checkResolved(ctx context.Context, t *testing.T, s *broken, hook *pipeline.Webhook, watcher *pipeline.AlertWatcher) {
	t.Helper()
	ctx, cancel := context.WithDeadline(ctx, s.repairedAt.Add(s.resolveBound))
	defer cancel()
	for _, w := range s.notify {
		if w.severity == "info" {
			continue // the low-priority receiver has send_resolved: false
		}
		match := w.match(s.name())
		if !eventually(ctx, func() bool { _, ok := hook.First("resolved", match); return ok }) {
			t.Errorf("%s: %s never resolved at the webhook within %s (Prometheus: %s)", s.name(), pipeline.LabelString(match), s.resolveBound, describeSeen(watcher, match))
			continue
		}
		r, _ := hook.First("resolved", match)
		if want := pipeline.ReceiverPath(w.severity); r.Path != want {
			t.Errorf("%s: %s resolved at %s, want %s", s.name(), w.alert, r.Path, want)
		}
		if !r.Alert.EndsAt.After(r.Alert.StartsAt) {
			t.Errorf("%s: %s resolved with endsAt %s not after startsAt %s", s.name(), w.alert, r.Alert.EndsAt, r.Alert.StartsAt)
		}
	}
}

// recoveryNotification reports whether r is a notification, after the repair, of one
// of the alerts the seed may notify during its recovery.
func (b *broken) recoveryNotification(r pipeline.Notification) bool {
	return !b.repairedAt.IsZero() && r.At.After(b.repairedAt) && r.Alert.Labels["namespace"] == b.name() &&
		slices.Contains(b.recovering, r.Alert.Labels["alertname"])
}

// checkRecovery checks an alert notified during the recovery of s (see
// broken.recovering): it must resolve at the webhook within resolveBound of the repair.
// It is logged.
func checkRecovery(ctx context.Context, t *testing.T, s *broken, r pipeline.Notification, hook *pipeline.Webhook, watcher *pipeline.AlertWatcher) {
	t.Helper()
	ctx, cancel := context.WithDeadline(ctx, s.repairedAt.Add(s.resolveBound))
	defer cancel()
	key := pipeline.LabelString(r.Alert.Labels)
	var resolved pipeline.Notification
	ok := eventually(ctx, func() bool {
		for _, o := range hook.All() {
			if o.Alert.Status == "resolved" && !o.At.Before(r.At) && pipeline.LabelString(o.Alert.Labels) == key {
				resolved = o
				return true
			}
		}
		return false
	})
	if !ok {
		t.Errorf("%s: %s, notified %s after the repair, never resolved within %s (Prometheus: %s)",
			s.name(), r, r.At.Sub(s.repairedAt).Round(10*time.Millisecond), s.resolveBound, describeSeen(watcher, map[string]string{"alertname": r.Alert.Labels["alertname"], "namespace": s.name()}))
		return
	}
	t.Logf("note: %s: %s was notified %s after the repair, while the repair was under way, and resolved %s later (%q)",
		s.name(), r, r.At.Sub(s.repairedAt).Round(10*time.Millisecond), resolved.At.Sub(r.At).Round(10*time.Millisecond), oneLine(r.Alert.Annotations["description"]))
}

// checkNoUnexpected fails on notifications that no seed expects: any namespace other
// than the broken ones (the quiet seeds included), alerts without a namespace (the
// exporter's own alerts, the control plane's), and alerts of a broken StatefulSet that
// are neither expected, nor info, nor notified during its recovery (broken.recovering).
// Info alerts are high-availability posture risks of the broken StatefulSets (single
// replica, no PodDisruptionBudget, single zone): true, and not what this test is about.
// Each namespace/alertname is reported once; reported collects them across calls.
func checkNoUnexpected(t *testing.T, all []pipeline.Notification, scenarios []*broken, reported map[string]bool) {
	t.Helper()
	for _, r := range all {
		ns := r.Alert.Labels["namespace"]
		name := r.Alert.Labels["alertname"]
		i := slices.IndexFunc(scenarios, func(s *broken) bool { return s.name() == ns })
		ok := false
		if i >= 0 {
			s := scenarios[i]
			ok = r.Alert.Labels["severity"] == "info" || s.recoveryNotification(r) ||
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
func notifiedBefore(all []pipeline.Notification, r pipeline.Notification, t time.Time) bool {
	key := pipeline.LabelString(r.Alert.Labels)
	for _, o := range all {
		if o.At.Before(t) && o.Alert.Status == "firing" && pipeline.LabelString(o.Alert.Labels) == key {
			return true
		}
	}
	return false
}

// currentDescription returns the description of the active alert matching match at the
// watcher's last poll, or "".
func currentDescription(w *pipeline.AlertWatcher, match map[string]string) string {
	for _, a := range w.Current() {
		if pipeline.HasLabels(a.Labels, match) {
			return a.Annotations["description"]
		}
	}
	return ""
}

// describeSeen says what Prometheus showed of the alerts matching match.
func describeSeen(w *pipeline.AlertWatcher, match map[string]string) string {
	var parts []string
	for _, s := range w.All() {
		if pipeline.HasLabels(s.Labels, match) {
			parts = append(parts, fmt.Sprintf("%s %s since %s", s.LastState, pipeline.LabelString(s.Labels), s.ActiveAt.Format(time.TimeOnly)))
		}
	}
	if len(parts) == 0 {
		return "never active"
	}
	return strings.Join(parts, "; ")
}

// logSeen prints every alert Prometheus had for the broken StatefulSets, and when the
// watcher first saw it pending and firing after the breakage.
func logSeen(t *testing.T, scenarios []*broken, watcher *pipeline.AlertWatcher) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "alerts Prometheus had for the broken StatefulSets (breakage -> first seen pending, firing):\n")
	for _, s := range scenarios {
		for _, a := range watcher.All() {
			if a.Labels["namespace"] != s.name() {
				continue
			}
			rest := otherLabels(a.Labels, "alertname", "namespace", "statefulset", "cluster", "severity")
			fmt.Fprintf(&b, "  %-16s %-31s %-8s %8s %8s %s\n", s.name(), a.Labels["alertname"], a.Labels["severity"],
				sinceOrDash(a.FirstPending, s.brokenAt), sinceOrDash(a.FirstFiring, s.brokenAt), rest)
		}
	}
	t.Log(b.String())
}

// otherLabels returns labels without the keys drop, formatted.
func otherLabels(labels map[string]string, drop ...string) string {
	rest := map[string]string{}
	for k, v := range labels {
		if !slices.Contains(drop, k) {
			rest[k] = v
		}
	}
	if len(rest) == 0 {
		return ""
	}
	return pipeline.LabelString(rest)
}

func sinceOrDash(at, from time.Time) string {
	if at.IsZero() {
		return "-"
	}
	return at.Sub(from).Round(10 * time.Millisecond).String()
}

// logLatencies prints, for every expected alert, how long each stage took:
//
//	active   breakage -> Prometheus's activeAt (controllers, exporter watch, scrape, evaluation)
//	firing   breakage -> first seen firing in Prometheus (roughly active + "for")
//	notified breakage -> webhook; "overhead" is that minus the wait: controllers,
//	         exporter, scrape, evaluation, group_wait and delivery
//	resolved repair -> resolved notification at the webhook
func logLatencies(t *testing.T, scenarios []*broken, hook *pipeline.Webhook, watcher *pipeline.AlertWatcher) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "detection latencies (breakage -> ...; 'wait' is how long the condition must hold, see want.wait):\n")
	fmt.Fprintf(&b, "  %-16s %-31s %-20s %6s %8s %8s %9s %9s %9s\n", "namespace", "alert", "object", "wait", "active", "firing", "notified", "overhead", "resolved")
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return d.Round(10 * time.Millisecond).String()
	}
	for _, s := range scenarios {
		for _, w := range s.notify {
			match := w.match(s.name())
			var active, firing, notified, resolved time.Duration
			if a, ok := watcher.Firing(match); ok {
				active, firing = a.ActiveAt.Sub(s.brokenAt), a.FirstFiring.Sub(s.brokenAt)
			}
			if r, ok := hook.First("firing", match); ok {
				notified = r.At.Sub(s.brokenAt)
			}
			if r, ok := hook.First("resolved", match); ok {
				resolved = r.At.Sub(s.repairedAt)
			}
			object := cmp.Or(w.labels["pod"], w.labels["persistentvolumeclaim"])
			fmt.Fprintf(&b, "  %-16s %-31s %-20s %6s %8s %8s %9s %9s %9s\n", s.name(), w.alert, object, w.wait, ms(active), ms(firing), ms(notified), ms(notified-w.wait), ms(resolved))
		}
	}
	t.Log(b.String())
}

// oneLine shortens a text for log output.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
