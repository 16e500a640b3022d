package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// TestScenarios checks the StatefulSets whose state does not change with time: the
// samples of each are golden file testdata/scenarios/<name>.prom (see golden_test.go).
func TestScenarios(t *testing.T) {
	t.Parallel()
	f := env(t)
	for _, c := range []struct {
		name string
		// vars returns the values of the golden file's placeholders other than <ts>.
		vars func(t *testing.T) vars
		// check runs on the final scrape.
		check func(t *testing.T, s *scrape)
	}{
		{name: "healthy"},
		{name: "crashloop"},
		{name: "unschedulable"},
		{name: "pvc-wffc", vars: func(t *testing.T) vars {
			// The creation time of the Pending PVC, as the API server stored it.
			pvc, err := f.admin.CoreV1().PersistentVolumeClaims("pvc-wffc").Get(t.Context(), "data-pvc-wffc-0", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return vars{"<pvc_created>": formatValue(float64(pvc.CreationTimestamp.Unix()))}
		}},
		{name: "zone-mismatch"},
		{name: "zone-no-nodes"},
		{name: "attach-error", check: func(t *testing.T, s *scrape) {
			// The error text stays out of the exposition (it is free text, not a label).
			va, err := f.admin.StorageV1().VolumeAttachments().Get(t.Context(), "csi-pv-attach-error-data-attach-error-0", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			msg := va.Status.AttachError.Message
			for _, fragment := range []string{msg, "rpc error", "already attached"} {
				if strings.Contains(s.body, fragment) {
					t.Errorf("/metrics contains the attach error text %q", fragment)
				}
			}
		}},
		{name: "partition-done"},
		// OnDelete: Kubernetes leaves currentRevision stale, so no rollout is in progress and
		// nothing stalls; pods_outdated says that 2 pods still run rev1. No partition sample.
		{name: "ondelete"},
		// Scaled to 0: ratio 1, no rollout, no stall; no single_zone (no Ready pod has a
		// zone) and no no_pdb: with no replica nothing can be disrupted.
		{name: "scaled-to-zero"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f.apply(t, c.name)
			var v vars
			if c.vars != nil {
				v = c.vars(t)
			}
			s, _ := f.waitGolden(t, f.shared, c.name, c.name, v, nil)
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// TestRolloutStalled: a RollingUpdate waits on updated pod 2 (rev2), which crash-loops.
// The rollout is in progress from the start and counts as stalled once it has not moved
// for --rollout.stall-after; never earlier.
func TestRolloutStalled(t *testing.T) {
	t.Parallel()
	f := env(t)
	const ns = "rollout-stalled"
	f.apply(t, ns)
	const slack = 50 * time.Millisecond
	sawNotStalled := false
	stallTiming := func(s *scrape) error {
		stalled, ok1 := s.value("statefulset_rollout_stalled", "namespace", ns)
		last, ok2 := s.value("statefulset_rollout_last_progress_timestamp_seconds", "namespace", ns)
		if !ok1 || !ok2 {
			return nil // not seen yet
		}
		lastProgress := time.Unix(0, int64(last*1e9))
		switch {
		case stalled == 1 && s.end.Sub(lastProgress) < stallAfter-slack:
			return fmt.Errorf("stalled 1 only %s after the last progress (%s), before --rollout.stall-after=%s",
				s.end.Sub(lastProgress), lastProgress.Format(time.RFC3339Nano), stallAfter)
		case stalled == 0 && s.begin.Sub(lastProgress) > stallAfter+slack:
			in, _ := s.value("statefulset_rollout_in_progress", "namespace", ns)
			if in == 1 {
				return fmt.Errorf("stalled 0 %s after the last progress (%s), past --rollout.stall-after=%s",
					s.begin.Sub(lastProgress), lastProgress.Format(time.RFC3339Nano), stallAfter)
			}
		case stalled == 0:
			sawNotStalled = true
		}
		return nil
	}
	s, want := f.waitGolden(t, f.shared, ns, ns, nil, stallTiming)
	last, _ := s.value("statefulset_rollout_last_progress_timestamp_seconds", "namespace", ns)
	t.Logf("stalled 1 seen %s after the last progress (threshold %s); stalled 0 seen before: %v",
		s.end.Sub(time.Unix(0, int64(last*1e9))).Round(time.Millisecond), stallAfter, sawNotStalled)

	// Stalled stays put while nothing moves: the last-progress time does not change.
	again := f.waitWorkload(t, f.shared, ns, want)
	if last2, _ := again.value("statefulset_rollout_last_progress_timestamp_seconds", "namespace", ns); last2 != last {
		t.Errorf("last progress moved from %v to %v although nothing changed", last, last2)
	}

	// A restarted exporter does not reset the stall clock: it starts from the newest pod
	// creation or Ready transition, so its very first scrape after sync says stalled.
	newest := time.Time{}
	set, err := f.admin.AppsV1().StatefulSets(ns).Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newest = set.CreationTimestamp.Time
	pods, err := f.admin.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.CreationTimestamp.After(newest) {
			newest = p.CreationTimestamp.Time
		}
		for _, c := range p.Status.Conditions {
			if c.Type == "Ready" && c.LastTransitionTime.After(newest) {
				newest = c.LastTransitionTime.Time
			}
		}
	}
	x := f.startExporter(t, "restarted", "--kubeconfig="+f.adminKubeconfig, "--rollout.stall-after="+stallAfter.String())
	waitReady(t, x)
	first, err := x.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(want, f.workload(first, ns)); d != "" {
		t.Errorf("first scrape of a restarted exporter %s", d)
	}
	if got, _ := first.value("statefulset_rollout_last_progress_timestamp_seconds", "namespace", ns); got != float64(newest.Unix()) {
		t.Errorf("restarted exporter: last progress %v, want the newest pod creation or Ready transition %v (%s)",
			got, newest.Unix(), newest.Format(time.RFC3339))
	}
}

// TestStuckTerminating: a pod on an unreachable node was deleted (a finalizer stands in
// for the kubelet that never confirms). Once past its grace period plus
// --terminating.stuck-after it is reported stuck with node_status="unreachable".
func TestStuckTerminating(t *testing.T) {
	t.Parallel()
	f := env(t)
	const ns = "terminating"
	f.apply(t, ns)
	pod, err := f.admin.CoreV1().Pods(ns).Get(t.Context(), "terminating-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.DeletionTimestamp == nil || pod.DeletionGracePeriodSeconds == nil {
		t.Fatalf("pod terminating-1 is not terminating: deletionTimestamp %v, grace %v", pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds)
	}
	deletedAt := pod.DeletionTimestamp.Time
	grace := time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	firstSeen := func(s *scrape) error {
		// Kubernetes sets deletionTimestamp to the time of the delete call plus the grace
		// period, so the pod cannot be stuck before deletionTimestamp + stuck-after.
		stuck := s.find("statefulset_pod_stuck_terminating_info", "namespace", ns, "pod", "terminating-1")
		if len(stuck) > 0 && s.end.Before(deletedAt.Add(stuckAfter)) {
			return fmt.Errorf("stuck at %s, before deletionTimestamp %s + --terminating.stuck-after %s",
				s.end.Format(time.RFC3339Nano), deletedAt.Format(time.RFC3339), stuckAfter)
		}
		return nil
	}
	s, _ := f.waitGolden(t, f.shared, ns, ns, nil, firstSeen)
	t.Logf("deletionTimestamp %s (grace %s): stuck reported %s after it (--terminating.stuck-after=%s)",
		deletedAt.Format(time.RFC3339), grace, s.end.Sub(deletedAt).Round(time.Millisecond), stuckAfter)
}

// TestStuckTerminatingCountsGraceOnce deletes a pod with a 4s grace period. Kubernetes
// sets deletionTimestamp to the time of the delete call plus the grace period, so the
// pod is past its grace period at deletionTimestamp and must be reported stuck
// --terminating.stuck-after later (2s), not a grace period later still (6s).
func TestStuckTerminatingCountsGraceOnce(t *testing.T) {
	t.Parallel()
	f := env(t)
	const ns = "terminating-grace"
	f.apply(t, ns)
	pod, err := f.admin.CoreV1().Pods(ns).Get(t.Context(), ns+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.DeletionTimestamp == nil {
		t.Fatal("pod is not terminating")
	}
	// deletionTimestamp has whole seconds: the true one is up to 1s later.
	deletedAt := pod.DeletionTimestamp.Time
	latest := deletedAt.Add(time.Second + stuckAfter + 1500*time.Millisecond)
	begin := time.Now()
	for {
		s, err := f.shared.scrape(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(s.find("statefulset_pod_stuck_terminating_info", "namespace", ns)) > 0 {
			t.Logf("stuck %s after deletionTimestamp %s", s.end.Sub(deletedAt).Round(time.Millisecond), deletedAt.Format(time.RFC3339))
			return
		}
		if s.begin.After(latest) {
			t.Fatalf("pod deleted with grace %s not stuck %s after its deletionTimestamp %s (--terminating.stuck-after=%s): the grace period is counted twice",
				scenario.TerminatingGrace, s.begin.Sub(deletedAt).Round(time.Millisecond), deletedAt.Format(time.RFC3339), stuckAfter)
		}
		if time.Since(begin) > waitTimeout {
			t.Fatal("timeout")
		}
		time.Sleep(pollEvery)
	}
}
