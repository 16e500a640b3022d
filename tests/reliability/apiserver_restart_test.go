package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

const (
	// outageLength is how long kube-apiserver stays killed in each outage. An EKS
	// control-plane failover lasts 20 to 60 seconds; the short end keeps the test quick.
	outageLength = 20 * time.Second
	// outages is how many kill/restart cycles TestAPIServerKilledAndRestarted runs.
	outages = 3
	// recoveryBudget is how soon after kube-apiserver is back the exporter must reach it
	// again and show an object changed right after the restart.
	recoveryBudget = 30 * time.Second
	// recoveryPatience is how long the test keeps measuring a recovery that overruns
	// recoveryBudget, so that a failure reports the real figure.
	recoveryPatience = recoveryBudget + 30*time.Second
	// probeInterval is the exporter's --api.probe-interval in these tests. The probe's
	// timeout equals it; 1s proved too tight on a loaded 2-core CI machine.
	probeInterval = 2 * time.Second

	failoverNS = "failover" // namespace of the objects the outage tests change
)

// TestAPIServerKilledAndRestarted kills kube-apiserver (SIGKILL) under the running
// exporter binary several times and restarts it on the same port outageLength later.
// Throughout, the exporter must keep running, answer /healthz, keep serving the last
// known state of every StatefulSet and say that the API is unreachable; after each
// restart it must reach the API again and show a change made right after the restart,
// without being restarted itself.
//
// The scrapes it records every second also feed TestAlertingRules' input, see
// rules_test.go.
func TestAPIServerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := localkubetest.ForTest(t)
	client := kubernetes.NewForConfigOrDie(cluster.AdminConfig())
	if err := scenario.ApplyAll(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := scenario.SetLeaseHolder(ctx, client, "kube-scheduler", "ip-10-0-1-10.ec2.internal_a"); err != nil {
		t.Fatal(err)
	}
	mustCreateNamespace(t, client, failoverNS)
	mustCreateStatefulSet(t, client, failoverNS, "canary", 2, 2)

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, "--kubeconfig="+kubeconfig, "--api.probe-interval="+probeInterval.String())
	wantSets := len(scenario.All()) + 1
	var startScrape samples
	waitFor(t, 30*time.Second, 200*time.Millisecond, "exporter synced", func() (bool, string) {
		if _, err := exp.Get(ctx, "/readyz"); err != nil {
			return false, err.Error()
		}
		s, err := scrape(ctx, exp)
		if err != nil {
			return false, err.Error()
		}
		startScrape = s
		up, _ := s.get("statefulset_exporter_api_reachable")
		n := s.count("statefulset_info")
		return up == 1 && n == wantSets, fmt.Sprintf("api_reachable %g, %d of %d StatefulSets", up, n, wantSets)
	})
	startTime, _ := startScrape.get("process_start_time_seconds")

	rec := record(ctx, exp, time.Second)
	health := pollHealth(ctx, exp, 200*time.Millisecond)
	time.Sleep(5 * time.Second) // some steady state on the recording before the first kill

	// Each round changes the failover namespace right after the restart and says how to
	// recognise the change in a scrape.
	rounds := []struct {
		what    string
		change  func() error
		visible func(samples) bool
	}{
		{
			"canary lost a Ready replica",
			func() error { return setReadyReplicas(ctx, client, failoverNS, "canary", 1) },
			func(s samples) bool {
				v, _ := s.get("statefulset_ready_ratio", "namespace", failoverNS, "statefulset", "canary")
				return v == 0.5
			},
		},
		{
			"StatefulSet late created",
			func() error { return createStatefulSet(ctx, client, failoverNS, "late", 3, 3) },
			func(s samples) bool {
				v, ok := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "late")
				return ok && v == 3
			},
		},
		{
			"StatefulSet late deleted, canary Ready again",
			func() error {
				if err := client.AppsV1().StatefulSets(failoverNS).Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
					return err
				}
				return setReadyReplicas(ctx, client, failoverNS, "canary", 2)
			},
			func(s samples) bool {
				_, late := s.get("statefulset_replicas_ready", "namespace", failoverNS, "statefulset", "late")
				v, _ := s.get("statefulset_ready_ratio", "namespace", failoverNS, "statefulset", "canary")
				return !late && v == 1
			},
		},
	}
	if len(rounds) != outages {
		t.Fatalf("%d rounds for %d outages", len(rounds), outages)
	}

	type figures struct {
		detected, reachable, visible time.Duration
		scrapes, mismatched          int
	}
	var results []figures
	base := startScrape.workloadState()
	for i, round := range rounds {
		before, err := scrape(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		probeRefused0, lwRefused0 := before.apiErrors("ConnectionRefused")

		rec.mark("kill")
		if err := cluster.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		var f figures
		// Scrape through the outage: the last known state must be served unchanged.
		for time.Since(killed) < outageLength {
			s, err := scrape(ctx, exp)
			if err != nil {
				t.Errorf("outage %d: /metrics failed %s after the kill: %v", i+1, time.Since(killed).Round(time.Millisecond), err)
			} else {
				f.scrapes++
				if d := diff(base, s.workloadState(), 8); len(d) > 0 {
					f.mismatched++
					if f.mismatched == 1 {
						t.Errorf("outage %d: the served state changed %s after the kill:\n  %s", i+1, time.Since(killed).Round(time.Millisecond), strings.Join(d, "\n  "))
					}
				}
				if v, _ := s.get("statefulset_exporter_api_reachable"); v == 0 && f.detected == 0 {
					f.detected = time.Since(killed)
				}
			}
			if _, err := exp.Get(ctx, "/readyz"); err != nil {
				t.Errorf("outage %d: /readyz: %v", i+1, err)
			}
			if exp.Exited() {
				t.Fatalf("outage %d: the exporter exited: %v", i+1, exp.ExitErr())
			}
			time.Sleep(500 * time.Millisecond)
		}
		after, err := scrape(ctx, exp)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := after.get("statefulset_exporter_api_reachable"); v != 0 || f.detected == 0 {
			t.Errorf("outage %d: statefulset_exporter_api_reachable = %g at the end of the outage (first 0 after %s), want 0", i+1, v, f.detected)
		}
		probeRefused, lwRefused := after.apiErrors("ConnectionRefused")
		if probeRefused+lwRefused <= probeRefused0+lwRefused0 {
			t.Errorf("outage %d: statefulset_exporter_api_errors_total{reason=\"ConnectionRefused\"} did not rise", i+1)
		}
		t.Logf("outage %d: api_errors_total{reason=connection_refused} +%g from the probe, +%g from list/watch; other reasons: %s",
			i+1, probeRefused-probeRefused0, lwRefused-lwRefused0, otherReasons(before, after, "ConnectionRefused"))

		rec.mark("restart")
		if err := cluster.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		if err := round.change(); err != nil {
			t.Fatalf("round %d (%s): %v", i+1, round.what, err)
		}
		for f.reachable == 0 || f.visible == 0 {
			if time.Since(restarted) > recoveryPatience {
				break
			}
			if s, err := scrape(ctx, exp); err == nil {
				if v, _ := s.get("statefulset_exporter_api_reachable"); v == 1 && f.reachable == 0 {
					f.reachable = time.Since(restarted)
				}
				if round.visible(s) && f.visible == 0 {
					f.visible = time.Since(restarted)
					base = s.workloadState()
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
		if f.reachable == 0 || f.reachable > recoveryBudget {
			t.Errorf("outage %d: api_reachable back to 1 after %s, want within %s", i+1, orNever(f.reachable), recoveryBudget)
		}
		checkCacheRecovery(t, fmt.Sprintf("outage %d: %q", i+1, round.what), f.visible)
		t.Logf("outage %d (%s): unreachable detected %s after the kill; after restart: api_reachable=1 in %s, %q visible in %s; %d scrapes during the outage, %d with a changed state",
			i+1, outageLength, f.detected.Round(time.Millisecond), orNever(f.reachable), round.what, orNever(f.visible), f.scrapes, f.mismatched)
		results = append(results, f)
		if f.visible == 0 {
			t.FailNow()
		}
	}

	polls, failures := health.Stop()
	records, markers := rec.Stop()
	if len(failures) > 0 {
		t.Errorf("/healthz failed %d of %d polls: %v", len(failures), polls, failures)
	}
	final, err := scrape(ctx, exp)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := final.get("process_start_time_seconds"); st != startTime || exp.Exited() {
		t.Errorf("the exporter restarted or exited (start time %g, was %g; exited %v)", st, startTime, exp.Exited())
	}
	if strings.Contains(exp.Log(), "panic") {
		t.Errorf("the exporter log mentions a panic:\n%s", tail(exp.Log(), 40))
	}
	var worst time.Duration
	for _, f := range results {
		worst = max(worst, f.visible)
	}
	t.Logf("summary: %d outages of %s survived by one exporter process; /healthz 200 in all %d polls; slowest recovery of a change %s; %d scrapes recorded",
		len(results), outageLength, polls, worst.Round(time.Millisecond), len(records))

	t.Run("alerting rules over the recorded failover", func(t *testing.T) {
		checkRulesOverRecording(t, records, markers)
	})
}

// checkCacheRecovery fails the test when a change made after the API came back took
// longer than recoveryBudget to show in /metrics. The exporter's list/watch calls retry
// transient failures in place, at most 5s apart and at once when its API probe sees the
// server return (collector/resilient.go), instead of waiting out client-go's reflector
// back-off of up to a minute.
func checkCacheRecovery(t *testing.T, what string, took time.Duration) {
	t.Helper()
	if took == 0 || took > recoveryBudget {
		t.Errorf("%s visible in /metrics after %s, want within %s", what, orNever(took), recoveryBudget)
	}
}

func orNever(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// otherReasons lists the api_errors_total reasons other than skip that rose between
// two scrapes.
func otherReasons(before, after samples, skip string) string {
	var out []string
	for _, reason := range []string{"Unauthorized", "Forbidden", "ConnectionRefused", "Timeout", "Throttled", "ServerError", "Other"} {
		if reason == skip {
			continue
		}
		p0, l0 := before.apiErrors(reason)
		p1, l1 := after.apiErrors(reason)
		if p1+l1 > p0+l0 {
			out = append(out, fmt.Sprintf("%s +%g/+%g", reason, p1-p0, l1-l0))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func mustCreateNamespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mustCreateStatefulSet(t *testing.T, client kubernetes.Interface, ns, name string, replicas, ready int32) {
	t.Helper()
	if err := createStatefulSet(t.Context(), client, ns, name, replicas, ready); err != nil {
		t.Fatal(err)
	}
}

// createStatefulSet creates a StatefulSet and writes its status as the controller would:
// every replica current and updated, ready of them Ready.
func createStatefulSet(ctx context.Context, client kubernetes.Interface, ns, name string, replicas, ready int32) error {
	labels := map[string]string{"app": name}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1"}}},
			},
		},
	}
	created, err := client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("statefulset %s/%s: %w", ns, name, err)
	}
	created.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: created.Generation,
		Replicas:           replicas, ReadyReplicas: ready, AvailableReplicas: ready,
		CurrentReplicas: replicas, UpdatedReplicas: replicas,
		CurrentRevision: name + "-rev1", UpdateRevision: name + "-rev1",
	}
	if _, err := client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("statefulset %s/%s status: %w", ns, name, err)
	}
	return nil
}

// setReadyReplicas writes the StatefulSet's ready and available counts.
func setReadyReplicas(ctx context.Context, client kubernetes.Interface, ns, name string, ready int32) error {
	set, err := client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	set.Status.ReadyReplicas, set.Status.AvailableReplicas = ready, ready
	_, err = client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, set, metav1.UpdateOptions{})
	return err
}
