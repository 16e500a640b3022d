package collector

import (
	"context"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

func withInitRestarts(n int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", RestartCount: n}}
	}
}

func withUID(uid string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.UID = types.UID(uid) } }

// restartsObserved tells whether the pod cache holds the pod uid with count restarts (or,
// with count < 0, does not hold uid at all). The restart tracker is fed just after the
// cache: an expectation that needs its total waits for it (expectEventually).
func restartsObserved(c *Collector, uid types.UID, count int64) bool {
	for _, obj := range c.watch.resources[resPods].informer.GetStore().List() {
		if p := obj.(*derive.Pod); p.UIDKey() == derive.UIDOf(uid) {
			return count >= 0 && p.RestartCount() == count
		}
	}
	return count < 0
}

func TestContainerRestartsCounter(t *testing.T) {
	ctx := context.Background()
	web := newStatefulSet("ns", "web", 2)
	idle := newStatefulSet("ns", "idle", 1)
	pod0 := newPod(web, 0, restarts(3), withInitRestarts(1)) // exists at start: contributes 4
	pod1 := newPod(web, 1, restarts(2))
	orphan := newPod(web, 9, noOwner, restarts(50))
	env := newTestEnv(t, nil, web, idle, pod0, pod1, orphan, newPod(idle, 0))
	name := "statefulset_container_restarts_total"
	env.expect(`
		statefulset_container_restarts_total{namespace="ns",statefulset="idle"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="web"} 6
	`, name)

	// Two more restarts of the main container, one of the init container.
	upd := newPod(web, 0, restarts(5), withInitRestarts(2))
	if _, err := env.client.CoreV1().Pods("ns").Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "restart update observed", func() bool { return restartsObserved(env.collector, pod0.UID, 7) })
	env.expectEventually(`
		statefulset_container_restarts_total{namespace="ns",statefulset="idle"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="web"} 9
	`, name)

	// The pod is deleted and recreated with a new UID and restartCount 0: no drop.
	if err := env.client.CoreV1().Pods("ns").Delete(ctx, pod0.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion observed", func() bool { return restartsObserved(env.collector, pod0.UID, -1) })
	recreated := newPod(web, 0, withUID("uid-web-0-second"))
	if _, err := env.client.CoreV1().Pods("ns").Create(ctx, recreated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "recreation observed", func() bool { return restartsObserved(env.collector, recreated.UID, 0) })
	env.expect(`
		statefulset_container_restarts_total{namespace="ns",statefulset="idle"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="web"} 9
	`, name)

	// Later restarts of the new pod add up.
	again := newPod(web, 0, withUID("uid-web-0-second"), restarts(2))
	if _, err := env.client.CoreV1().Pods("ns").Update(ctx, again, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new pod restarts observed", func() bool { return restartsObserved(env.collector, recreated.UID, 2) })
	env.expectEventually(`
		statefulset_container_restarts_total{namespace="ns",statefulset="idle"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="web"} 11
	`, name)

	// An update that does not change the count (e.g. a condition) adds nothing.
	same := again.DeepCopy()
	same.Status.Conditions[1].Status = corev1.ConditionFalse
	if _, err := env.client.CoreV1().Pods("ns").Update(ctx, same, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "condition update in cache", func() bool {
		obj, _, _ := env.collector.watch.resources[resPods].informer.GetStore().GetByKey("ns/web-0")
		return obj != nil && derive.PodFrom(same).Unchanged(obj)
	})
	env.expect(`
		statefulset_container_restarts_total{namespace="ns",statefulset="idle"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="web"} 11
	`, name)
}

func TestRestartTrackerKubeletReset(t *testing.T) {
	// restartCount of one pod UID going down means the kubelet lost its state: the new
	// count is all new restarts, and the total never drops.
	set := newStatefulSet("ns", "web", 1)
	tr := newRestartTracker()
	five, two := derive.PodFrom(newPod(set, 0, restarts(5))), derive.PodFrom(newPod(set, 0, restarts(2)))
	tr.observe(nil, five)
	tr.observe(five, two)
	if got := tr.total("ns/web"); got != 7 {
		t.Fatalf("total = %v, want 7", got)
	}
	tr.observe(two, derive.PodFrom(newPod(set, 0, restarts(2))))
	if got := tr.total("ns/web"); got != 7 {
		t.Fatalf("total after an unchanged count = %v, want 7", got)
	}
	tr.observe(nil, derive.PodFrom(newPod(set, 0, noOwner, restarts(100))))
	if got := tr.total("ns/web"); got != 7 {
		t.Fatalf("a pod without owner counted: total = %v, want 7", got)
	}
	tr.forgetSet("ns/web")
	if got := tr.total("ns/web"); got != 0 {
		t.Fatalf("total after forgetSet = %v, want 0", got)
	}
}

// terminatedAgo gives the pod's containers a last termination with reason that finished
// d before testNow, a restart each: index 0 is the first regular container, -1 adds an
// init container named "init".
func terminatedAgo(container int, reason string, d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		state := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: 137,
			FinishedAt: metav1.NewTime(testNow.Add(-d))}}
		if container < 0 {
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: "init", LastTerminationState: state, RestartCount: 1})
			return
		}
		for len(p.Status.ContainerStatuses) <= container {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "sidecar-" + strconv.Itoa(len(p.Status.ContainerStatuses)), Ready: true})
		}
		p.Status.ContainerStatuses[container].LastTerminationState = state
		p.Status.ContainerStatuses[container].RestartCount++
	}
}

func TestContainerLastTerminated(t *testing.T) {
	names := []string{"statefulset_container_last_terminated_timestamp_seconds"}
	at := func(d time.Duration) string { return ts(testNow.Add(-d)) }
	runPodCases(t, []podCase{
		{
			name: "recent terminations with their reasons; long ago, never and without a finish time export nothing",
			set:  newStatefulSet("ns", "db", 4),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{
					newPod(s, 0, terminatedAgo(0, "OOMKilled", 10*time.Minute), terminatedAgo(1, "SomethingNew", 50*time.Minute), terminatedAgo(-1, "Error", time.Minute)),
					newPod(s, 1, terminatedAgo(0, "Error", 2*time.Hour)),
					newPod(s, 2),
					newPod(s, 3, func(p *corev1.Pod) {
						p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error"}
					}),
				}
			},
			names: names,
			want: `
				statefulset_container_last_terminated_timestamp_seconds{container="init",namespace="ns",pod="db-0",reason="Error",statefulset="db"} ` + at(time.Minute) + `
				statefulset_container_last_terminated_timestamp_seconds{container="main",namespace="ns",pod="db-0",reason="OOMKilled",statefulset="db"} ` + at(10*time.Minute) + `
				statefulset_container_last_terminated_timestamp_seconds{container="sidecar-1",namespace="ns",pod="db-0",reason="Other",statefulset="db"} ` + at(50*time.Minute),
			// Only the clock moves: the memo must not keep the termination that left the window.
			advance: 10*time.Minute + time.Second,
			wantAfter: `
				statefulset_container_last_terminated_timestamp_seconds{container="init",namespace="ns",pod="db-0",reason="Error",statefulset="db"} ` + at(time.Minute) + `
				statefulset_container_last_terminated_timestamp_seconds{container="main",namespace="ns",pod="db-0",reason="OOMKilled",statefulset="db"} ` + at(10*time.Minute),
		},
		{
			name: "the window boundary: exported at exactly the window, gone just after",
			cfg:  configWith(func(c *Config) { c.RestartsRecentWindow = 15 * time.Minute }),
			set:  newStatefulSet("ns", "db", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newPod(s, 0, terminatedAgo(0, "OOMKilled", 15*time.Minute))}
			},
			names:   names,
			want:    `statefulset_container_last_terminated_timestamp_seconds{container="main",namespace="ns",pod="db-0",reason="OOMKilled",statefulset="db"} ` + at(15*time.Minute),
			advance: time.Millisecond,
		},
		{
			name: "--restarts.recent-window=0 turns the family off",
			cfg:  configWith(func(c *Config) { c.RestartsRecentWindow = 0 }),
			set:  newStatefulSet("ns", "db", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newPod(s, 0, terminatedAgo(0, "OOMKilled", time.Second))}
			},
			names: names,
		},
	})
}
