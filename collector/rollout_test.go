package collector

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

func TestReplicaMetrics(t *testing.T) {
	healthy := newStatefulSet("db", "pg", 3)
	scaledToZero := newStatefulSet("db", "idle", 0)
	degraded := newStatefulSet("db", "kafka", 4, withStatus(1, 4, 4, "kafka-rev1", "kafka-rev1"))
	degraded.Generation = 3
	degraded.Status.ObservedGeneration = 2
	nilReplicas := newStatefulSet("db", "odd", 1, func(s *appsv1.StatefulSet) { s.Spec.Replicas = nil })

	env := newTestEnv(t, nil, healthy, scaledToZero, degraded, nilReplicas)
	env.expect(`
		statefulset_replicas_desired{namespace="db",statefulset="idle"} 0
		statefulset_replicas_desired{namespace="db",statefulset="kafka"} 4
		statefulset_replicas_desired{namespace="db",statefulset="pg"} 3
		statefulset_replicas_ready{namespace="db",statefulset="idle"} 0
		statefulset_replicas_ready{namespace="db",statefulset="kafka"} 1
		statefulset_replicas_ready{namespace="db",statefulset="odd"} 1
		statefulset_replicas_ready{namespace="db",statefulset="pg"} 3
		statefulset_ready_ratio{namespace="db",statefulset="idle"} 1
		statefulset_ready_ratio{namespace="db",statefulset="kafka"} 0.25
		statefulset_ready_ratio{namespace="db",statefulset="pg"} 1
		statefulset_generation_lag{namespace="db",statefulset="idle"} 0
		statefulset_generation_lag{namespace="db",statefulset="kafka"} 1
		statefulset_generation_lag{namespace="db",statefulset="odd"} 0
		statefulset_generation_lag{namespace="db",statefulset="pg"} 0
	`, "statefulset_replicas_desired", "statefulset_replicas_ready", "statefulset_ready_ratio", "statefulset_generation_lag")
	env.expect(`
		statefulset_info{namespace="db",pod_management_policy="OrderedReady",service_name="idle",statefulset="idle",update_strategy="RollingUpdate"} 1
		statefulset_info{namespace="db",pod_management_policy="OrderedReady",service_name="kafka",statefulset="kafka",update_strategy="RollingUpdate"} 1
		statefulset_info{namespace="db",pod_management_policy="OrderedReady",service_name="odd",statefulset="odd",update_strategy="RollingUpdate"} 1
		statefulset_info{namespace="db",pod_management_policy="OrderedReady",service_name="pg",statefulset="pg",update_strategy="RollingUpdate"} 1
	`, "statefulset_info")
}

// rolloutCase describes one StatefulSet and its pods and the rollout samples expected.
type rolloutCase struct {
	name    string
	set     *appsv1.StatefulSet
	pods    func(set *appsv1.StatefulSet) []*corev1.Pod
	advance time.Duration // clock advance after the first collection
	want    string
}

func rolloutNames() []string {
	return []string{"statefulset_rollout_in_progress", "statefulset_rollout_stalled", "statefulset_rollout_partition",
		"statefulset_rollout_blocking_pod_info", "statefulset_pods_outdated"}
}

func TestRollout(t *testing.T) {
	cases := []rolloutCase{
		{
			name: "finished rolling update",
			set:  newStatefulSet("ns", "web", 3),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{newPod(s, 0), newPod(s, 1), newPod(s, 2)}
			},
			advance: time.Hour,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 0
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 0`,
		},
		{
			name: "OrderedReady rollout stalled behind a crashing updated pod",
			set:  newStatefulSet("ns", "web", 3, withStatus(2, 1, 2, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1")), newPod(s, 1, withRevision("web-rev1")),
					newPod(s, 2, withRevision("web-rev2"), waiting("CrashLoopBackOff", 7)),
				}
			},
			advance: 11 * time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 1
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-2",reason="CrashLoopBackOff",statefulset="web"} 1
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 2`,
		},
		{
			name: "slow rollout is in progress but not stalled before the threshold",
			set:  newStatefulSet("ns", "web", 3, withStatus(2, 1, 2, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1")), newPod(s, 1, withRevision("web-rev1")),
					newPod(s, 2, withRevision("web-rev2"), notReady, createdAgo(0)),
				}
			},
			advance: 9 * time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-2",reason="NotReady",statefulset="web"} 1
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 2`,
		},
		{
			name: "partitioned rollout complete: only ordinals at or above the partition updated",
			set:  newStatefulSet("ns", "web", 4, withPartition(2), withStatus(4, 2, 2, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1")), newPod(s, 1, withRevision("web-rev1")),
					newPod(s, 2, withRevision("web-rev2")), newPod(s, 3, withRevision("web-rev2")),
				}
			},
			advance: time.Hour,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 0
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 2
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 2`,
		},
		{
			name: "partitioned rollout waiting on an updated pod above the partition",
			set:  newStatefulSet("ns", "web", 4, withPartition(2), withStatus(3, 1, 3, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1")), newPod(s, 1, withRevision("web-rev1")),
					newPod(s, 2, withRevision("web-rev1")), newPod(s, 3, withRevision("web-rev2"), waiting("ImagePullBackOff", 0)),
				}
			},
			advance: 15 * time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 1
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 2
				statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-3",reason="ImagePullBackOff",statefulset="web"} 1
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 3`,
		},
		{
			name: "OnDelete with stale currentRevision never stalls and reports outdated pods",
			set:  newStatefulSet("ns", "web", 3, withOnDelete, withStatus(3, 1, 2, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1")), newPod(s, 1, withRevision("web-rev1")), newPod(s, 2, withRevision("web-rev2")),
				}
			},
			advance: 24 * time.Hour,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 0
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 2`,
		},
		{
			name:    "scaled to 0 with a pending revision change is not a rollout",
			set:     newStatefulSet("ns", "web", 0, withStatus(0, 0, 0, "web-rev1", "web-rev2")),
			pods:    func(*appsv1.StatefulSet) []*corev1.Pod { return nil },
			advance: 24 * time.Hour,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 0
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 0`,
		},
		{
			name: "OrderedReady blocked by a missing lower ordinal",
			set:  newStatefulSet("ns", "web", 3, withStatus(2, 2, 1, "web-rev1", "web-rev2")),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{newPod(s, 0, withRevision("web-rev1")), newPod(s, 2, withRevision("web-rev2"), createdAgo(0))}
			},
			advance: time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-1",reason="Missing",statefulset="web"} 1
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 1`,
		},
		{
			name: "Parallel rollout: an old-revision pod below the blocker is not blamed",
			set: newStatefulSet("ns", "web", 3, withStatus(2, 1, 2, "web-rev1", "web-rev2"), func(s *appsv1.StatefulSet) {
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			}),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{
					newPod(s, 0, withRevision("web-rev1"), notReady), newPod(s, 1, withRevision("web-rev1")),
					newPod(s, 2, withRevision("web-rev2"), waiting("CreateContainerConfigError", 0), createdAgo(0)),
				}
			},
			advance: time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-2",reason="CreateContainerConfigError",statefulset="web"} 1
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 2`,
		},
		{
			name: "generation not yet observed counts as in progress",
			set: newStatefulSet("ns", "web", 2, func(s *appsv1.StatefulSet) {
				s.Generation = 5
				s.Status.ObservedGeneration = 4
			}),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{newPod(s, 0), newPod(s, 1, createdAgo(0))}
			},
			advance: time.Minute,
			want: `
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 0`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The pods' node exists and is Ready, so a blocking pod's reason is its own.
			objs := []runtime.Object{tc.set, newNode("node-a", "", "")}
			for _, p := range tc.pods(tc.set) {
				objs = append(objs, p)
			}
			env := newTestEnv(t, nil, objs...)
			exposition(t, env.collector) // first collection remembers the progress state
			env.clock.Advance(tc.advance)
			env.expect(tc.want, rolloutNames()...)
		})
	}
}

func TestRolloutProgressResetsStallTimer(t *testing.T) {
	set := newStatefulSet("ns", "web", 3, withStatus(2, 1, 2, "web-rev1", "web-rev2"))
	pods := []runtime.Object{set,
		newPod(set, 0, withRevision("web-rev1")), newPod(set, 1, withRevision("web-rev1")),
		newPod(set, 2, withRevision("web-rev2"), notReady, createdAgo(0))}
	env := newTestEnv(t, nil, pods...)
	exposition(t, env.collector)
	env.clock.Advance(8 * time.Minute)
	exposition(t, env.collector)

	// Pod 2 becomes Ready and the controller moves on to pod 1: progress.
	ready := newPod(set, 2, withRevision("web-rev2"))
	if _, err := env.client.CoreV1().Pods("ns").Update(context.Background(), ready, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	moved := set.DeepCopy()
	moved.Status.ReadyReplicas, moved.Status.UpdatedReplicas = 3, 1
	moved.ResourceVersion = "2"
	if _, err := env.client.AppsV1().StatefulSets("ns").UpdateStatus(context.Background(), moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status update in cache", func() bool {
		obj, _, _ := env.collector.watch.resources[resStatefulSets].informer.GetStore().GetByKey("ns/web")
		return obj != nil && obj.(*derive.StatefulSet).Status.ReadyReplicas == 3
	})
	exposition(t, env.collector) // sees the move at testNow+8m
	env.clock.Advance(9 * time.Minute)
	env.expect(`
		statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
		statefulset_rollout_stalled{namespace="ns",statefulset="web"} 0
	`, "statefulset_rollout_in_progress", "statefulset_rollout_stalled")
	env.clock.Advance(time.Minute)
	env.expect(`
		statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
		statefulset_rollout_stalled{namespace="ns",statefulset="web"} 1
	`, "statefulset_rollout_in_progress", "statefulset_rollout_stalled")
	env.expect(`statefulset_rollout_last_progress_timestamp_seconds{namespace="ns",statefulset="web"} 1.79543568e+09`,
		"statefulset_rollout_last_progress_timestamp_seconds")
}
