package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/faultproxy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

const (
	// hotLoopWindow is how long the proxy answers 401 in the back-off check.
	hotLoopWindow = 10 * time.Second
	// watchedResources is how many informers the exporter runs (collector.allResources).
	watchedResources = 9
	// goroutineSlack is how many more goroutines than before the fault cycle the
	// exporter may run after it (HTTP/2 connections, timers in flight).
	goroutineSlack = 15
	// cutWatchBudget bounds how long a change takes to show after the earlier phases
	// (403s go to client-go's reflector by design, whose back-off of 0.8s doubling to
	// 30s they may have grown). Watches cut mid-stream from a steady state are held to
	// recoveryBudget by TestWatchesCutMidStream. Two capped waits plus a margin.
	cutWatchBudget = 130 * time.Second
	// faultPatience bounds a fault phase that waits for the probe to meet the fault.
	faultPatience = 30 * time.Second
)

// maxRequestsUnder401 is the most requests the exporter may send in hotLoopWindow while
// every answer is 401 without running a hot loop: the probe once per probeInterval, and
// each informer at most twice per attempt (a watch-list request, then the fallback
// list) with attempts at 0, 0.8, 2.4, 5.6 and 12s at the shortest back-off.
func maxRequestsUnder401() int64 {
	probe := int64(hotLoopWindow/probeInterval) + 2
	attempts := int64(0)
	for wait, at := 800*time.Millisecond, time.Duration(0); at <= hotLoopWindow; wait *= 2 {
		attempts++
		at += wait
	}
	return probe + watchedResources*2*attempts
}

// TestFaultProxy runs the exporter binary against the local API server through
// faultproxy and checks, fault by fault, how it classifies the errors, that it backs off
// instead of looping, that it leaks no goroutines, and that it misses no update made
// while it could not reach the API.
func TestFaultProxy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := localkubetest.ForTest(t)
	admin := kubernetes.NewForConfigOrDie(cluster.AdminConfig())
	if err := scenario.ApplyAll(ctx, admin); err != nil {
		t.Fatal(err)
	}
	mustCreateNamespace(t, admin, failoverNS)
	mustCreateStatefulSet(t, admin, failoverNS, "grow", 2, 1)
	for i, ready := range []bool{true, false} {
		if err := createPod(ctx, admin, failoverNS, "grow", i, ready); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateStatefulSet(t, admin, failoverNS, "doomed", 1, 1)

	proxy, err := faultproxy.Start(faultproxy.Options{Upstream: cluster.AdminConfig(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := proxy.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, "--kubeconfig="+kubeconfig, "--api.probe-interval="+probeInterval.String())
	waitFor(t, 30*time.Second, 200*time.Millisecond, "exporter synced through the proxy", func() (bool, string) {
		s, err := scrape(ctx, exp)
		if err != nil {
			return false, err.Error()
		}
		up, _ := s.get("statefulset_exporter_api_reachable")
		_, doomed := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "doomed")
		return up == 1 && doomed, fmt.Sprintf("api_reachable %g, doomed seen %v", up, doomed)
	})
	if proxy.InFlightWatches() == 0 {
		t.Fatal("no watch goes through the proxy")
	}
	time.Sleep(2 * time.Second) // let start-up goroutines settle
	goroutinesBefore := minGoroutines(t, exp)
	health := pollHealth(ctx, exp, 250*time.Millisecond)

	// fault switches the proxy to mode and drops the in-flight watches, as a failover
	// drops connections, so that the informers meet the fault too.
	fault := func(mode faultproxy.Mode) time.Time {
		proxy.SetMode(mode)
		n := proxy.CutWatchesNow()
		t.Logf("%s: cut %d watches", mode, n)
		return time.Now()
	}
	// recover switches back to pass-through and waits until the probe succeeds.
	recoverAPI := func(after faultproxy.Mode) {
		proxy.SetMode(faultproxy.PassThrough)
		d := waitFor(t, recoveryBudget, 200*time.Millisecond, "api_reachable after "+string(after), func() (bool, string) {
			s, err := scrape(ctx, exp)
			if err != nil {
				return false, err.Error()
			}
			v, _ := s.get("statefulset_exporter_api_reachable")
			return v == 1, fmt.Sprintf("api_reachable %g", v)
		})
		t.Logf("%s: api_reachable back to 1 %s after pass-through", after, d.Round(time.Millisecond))
	}

	t.Run("401 is classified and backed off", func(t *testing.T) {
		before := mustScrape(t, exp)
		start := fault(faultproxy.Unauthorized)
		time.Sleep(hotLoopWindow)
		recs := proxy.Records(start)
		during := mustScrape(t, exp)
		recoverAPI(faultproxy.Unauthorized)
		after := mustScrape(t, exp) // every 401 answered is recorded by now

		var under401 int64
		byKind := map[string]int{}
		for _, r := range recs {
			if r.Mode == faultproxy.Unauthorized && r.At.Before(start.Add(hotLoopWindow)) {
				under401++
				byKind[requestKind(r)]++
			}
		}
		limit := maxRequestsUnder401()
		t.Logf("401 for %s: %d requests (%s); limit %d", hotLoopWindow, under401, formatCounts(byKind), limit)
		if under401 > limit {
			t.Errorf("%d requests in %s of 401s, want at most %d: the exporter does not back off", under401, hotLoopWindow, limit)
		}
		if under401 == 0 {
			t.Error("no request reached the proxy during the 401 window")
		}
		checkReasonRose(t, before, after, "Unauthorized", true)
		if v, _ := during.get("statefulset_exporter_api_reachable"); v != 0 {
			t.Errorf("api_reachable = %g while every request gets 401, want 0", v)
		}
	})

	for _, tc := range []struct {
		mode      faultproxy.Mode
		reason    string
		length    time.Duration
		listWatch bool // list/watch errors are reported as they arrive
	}{
		{faultproxy.Forbidden, "Forbidden", 6 * time.Second, true},
		{faultproxy.InternalError, "ServerError", 6 * time.Second, true},
		{faultproxy.Unavailable, "ServerError", 6 * time.Second, true},
		// client-go retries a list that gets 429 ten times, honouring Retry-After, before
		// it reports it, and retries a watch that gets 429 without reporting it: only
		// the probe is checked.
		{faultproxy.Throttled, "Throttled", 6 * time.Second, false},
		// Stalled requests: the probe has a timeout; the informers' list and watch
		// requests have none and wait, so only the probe is checked.
		{faultproxy.Stall, "Timeout", 6 * time.Second, false},
	} {
		t.Run(string(tc.mode)+" is classified as "+tc.reason, func(t *testing.T) {
			before := mustScrape(t, exp)
			start := fault(tc.mode)
			// The fault lasts tc.length, and on a loaded machine longer, until the probe
			// has met it (at most faultPatience).
			sawUnreachable := false
			for {
				time.Sleep(500 * time.Millisecond)
				s := mustScrape(t, exp)
				if v, _ := s.get("statefulset_exporter_api_reachable"); v == 0 {
					sawUnreachable = true
				}
				p0, _ := before.apiErrors(tc.reason)
				p1, _ := s.apiErrors(tc.reason)
				if (time.Since(start) >= tc.length && p1 > p0 && sawUnreachable) || time.Since(start) > faultPatience {
					break
				}
			}
			length := time.Since(start)
			// The informers are backing off from the earlier faults: check their
			// classification when some of their requests were answered in this mode.
			informerRequests := 0
			for _, r := range proxy.Records(start) {
				if r.Mode == tc.mode && requestKind(r) != "probe" {
					informerRequests++
				}
			}
			n := proxy.Count(tc.mode)
			recoverAPI(tc.mode)
			after := mustScrape(t, exp) // every answer given in the mode is recorded by now
			checkReasonRose(t, before, after, tc.reason, tc.listWatch && informerRequests > 0)
			if !sawUnreachable {
				t.Errorf("api_reachable never 0 during %s", tc.mode)
			}
			t.Logf("%s for %s: %d requests in that mode, %d of them from informers; reasons that rose: %s",
				tc.mode, length.Round(time.Millisecond), n, informerRequests, otherReasons(before, after, ""))
		})
	}

	t.Run("watches cut mid-stream keep delivering", func(t *testing.T) {
		before := mustScrape(t, exp)
		start := fault(faultproxy.CutWatches) // every watch from now on lives 500ms
		t.Cleanup(func() { proxy.SetMode(faultproxy.PassThrough) })
		time.Sleep(3 * time.Second)
		if err := setReadyReplicas(ctx, admin, failoverNS, "doomed", 0); err != nil {
			t.Fatal(err)
		}
		d := waitFor(t, cutWatchBudget, 250*time.Millisecond, "change seen while watches are cut every 500ms", func() (bool, string) {
			s := mustScrape(t, exp)
			v, _ := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "doomed")
			return v == 0, fmt.Sprintf("doomed ready replicas %g", v)
		})
		// The probe is not affected: it must report the API reachable (eventually, as a
		// probe may time out on a loaded machine).
		waitFor(t, 10*time.Second, 250*time.Millisecond, "api_reachable while only watches are cut", func() (bool, string) {
			v, _ := mustScrape(t, exp).get("statefulset_exporter_api_reachable")
			return v == 1, fmt.Sprintf("api_reachable %g", v)
		})
		time.Sleep(2 * time.Second)
		after := mustScrape(t, exp)
		proxy.SetMode(faultproxy.PassThrough)
		watches := 0
		for _, r := range proxy.Records(start) {
			if r.Mode == faultproxy.CutWatches && r.Watch {
				watches++
			}
		}
		t.Logf("cut_watches: change seen %s after it was made; %d requests in that mode, %d of them watches (each cut after 500ms); reasons that rose: %s",
			d.Round(time.Millisecond), proxy.Count(faultproxy.CutWatches), watches, otherReasons(before, after, ""))
	})

	t.Run("no update missed across an outage", func(t *testing.T) {
		fault(faultproxy.Unavailable)
		// While the exporter cannot reach the API: a pod becomes Ready, a StatefulSet is
		// created and another deleted.
		if err := setPodReady(ctx, admin, failoverNS, "grow-1"); err != nil {
			t.Fatal(err)
		}
		if err := setReadyReplicas(ctx, admin, failoverNS, "grow", 2); err != nil {
			t.Fatal(err)
		}
		if err := createStatefulSet(ctx, admin, failoverNS, "newcomer", 2, 2); err != nil {
			t.Fatal(err)
		}
		if err := admin.AppsV1().StatefulSets(failoverNS).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		during := mustScrape(t, exp)
		if v, _ := during.get("statefulset_ready_ratio", "namespace", failoverNS, "statefulset", "grow"); v != 0.5 {
			t.Errorf("during the outage grow's ready ratio = %g, want the last known 0.5", v)
		}
		if _, ok := during.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "doomed"); !ok {
			t.Error("during the outage doomed vanished before the exporter could know it was deleted")
		}

		proxy.SetMode(faultproxy.PassThrough)
		// What this asserts is that no update is missed. The latency after a failover is
		// held to recoveryBudget by TestAPIServerKilledAndRestarted; here the 403s and cut
		// watches of the earlier phases, which go to the reflector by design, may have
		// left its back-off at up to a minute.
		d := waitFor(t, cutWatchBudget, 250*time.Millisecond, "every change of the outage visible", func() (bool, string) {
			s := mustScrape(t, exp)
			ratio, _ := s.get("statefulset_ready_ratio", "namespace", failoverNS, "statefulset", "grow")
			readyPods := s.sum("statefulset_pods_ready_per_zone", "namespace", failoverNS, "statefulset", "grow")
			newcomer, _ := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "newcomer")
			_, doomed := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "doomed")
			ok := ratio == 1 && readyPods == 2 && newcomer == 2 && !doomed
			return ok, fmt.Sprintf("grow ratio %g, grow Ready pods %g, newcomer ready %g, doomed present %v", ratio, readyPods, newcomer, doomed)
		})
		t.Logf("after the outage every change was visible %s after pass-through", d.Round(time.Millisecond))
	})

	t.Run("no goroutine leak", func(t *testing.T) {
		time.Sleep(3 * time.Second)
		after := minGoroutines(t, exp)
		t.Logf("go_goroutines: %d before the fault cycle, %d after (slack %d)", goroutinesBefore, after, goroutineSlack)
		if after > goroutinesBefore+goroutineSlack {
			t.Errorf("go_goroutines %d after the fault cycle, %d before: leak", after, goroutinesBefore)
		}
	})

	polls, failures := health.Stop()
	if len(failures) > 0 {
		t.Errorf("/healthz failed %d of %d polls: %v", len(failures), polls, failures)
	}
	if exp.Exited() {
		t.Errorf("the exporter exited: %v", exp.ExitErr())
	}
	t.Logf("requests per proxy mode: %v; /healthz 200 in %d polls", proxy.Counts(), polls)
}

func mustScrape(t *testing.T, p *exporterbin.Process) samples {
	t.Helper()
	s, err := scrape(t.Context(), p)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return s
}

// minGoroutines is the smallest go_goroutines of three scrapes a second apart.
func minGoroutines(t *testing.T, p *exporterbin.Process) int {
	t.Helper()
	least := -1
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		v, ok := mustScrape(t, p).get("go_goroutines")
		if !ok {
			t.Fatal("no go_goroutines in /metrics")
		}
		if least < 0 || int(v) < least {
			least = int(v)
		}
	}
	return least
}

// checkReasonRose fails unless api_errors_total{reason} rose for the probe and, when
// listWatch is set, for the informers' list/watch calls.
func checkReasonRose(t *testing.T, before, after samples, reason string, listWatch bool) {
	t.Helper()
	p0, l0 := before.apiErrors(reason)
	p1, l1 := after.apiErrors(reason)
	t.Logf("api_errors_total{reason=%q}: probe +%g, list/watch +%g", reason, p1-p0, l1-l0)
	if p1 <= p0 {
		t.Errorf("api_errors_total{resource=\"probe\",reason=%q} did not rise (%g -> %g); reasons that rose: %s", reason, p0, p1, otherReasons(before, after, ""))
	}
	if listWatch && l1 <= l0 {
		t.Errorf("api_errors_total{reason=%q} of the list/watch calls did not rise; reasons that rose: %s", reason, otherReasons(before, after, ""))
	}
}

// requestKind names a request for the request counts: probe, watch or list and the resource.
func requestKind(r faultproxy.Record) string {
	path, query, _ := strings.Cut(r.Path, "?")
	if path == "/version" {
		return "probe"
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	res := parts[len(parts)-1]
	switch {
	case r.Watch && strings.Contains(query, "sendInitialEvents=true"):
		return "watchlist " + res
	case r.Watch:
		return "watch " + res
	}
	return "list " + res
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// createPod creates pod <set>-<ordinal> of a StatefulSet created by createStatefulSet,
// running on scenario.NodeA, Ready or not.
func createPod(ctx context.Context, client kubernetes.Interface, ns, set string, ordinal int, ready bool) error {
	owner, err := client.AppsV1().StatefulSets(ns).Get(ctx, set, metav1.GetOptions{})
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d", set, ordinal)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: map[string]string{"app": set},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, owner.GroupVersionKind())},
		},
		Spec: corev1.PodSpec{NodeName: scenario.NodeA, Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1"}}},
	}
	pod.OwnerReferences[0].APIVersion, pod.OwnerReferences[0].Kind = "apps/v1", "StatefulSet"
	created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: %w", name, err)
	}
	created.Status = podStatus(ready)
	_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

func podStatus(ready bool) corev1.PodStatus {
	now := metav1.Now()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	return corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: cond, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "main", Image: "registry.example/app:1", Ready: ready,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
}

// setPodReady marks the pod Ready, as the kubelet would.
func setPodReady(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pod.Status = podStatus(true)
	_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}
