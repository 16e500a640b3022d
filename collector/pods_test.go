package collector

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func withPhase(phase corev1.PodPhase) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = phase
		if phase != corev1.PodRunning {
			notReady(p)
		}
	}
}

func initWaiting(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		notReady(p)
		p.Status.Phase = corev1.PodPending
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "init free text"}}}}
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	}
}

// deletedAt marks the pod deleted d before testNow, with the given grace fields (nil
// leaves them unset).
func deletedAt(d time.Duration, deletionGrace, specGrace *int64) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.DeletionTimestamp = ptr.To(metav1.NewTime(testNow.Add(-d)))
		p.DeletionGracePeriodSeconds = deletionGrace
		p.Spec.TerminationGracePeriodSeconds = specGrace
		p.Finalizers = []string{"test/keep"}
	}
}

func noOwner(p *corev1.Pod) { p.OwnerReferences = nil }

type podCase struct {
	name  string
	cfg   *Config
	set   *appsv1.StatefulSet
	objs  func(set *appsv1.StatefulSet) []runtime.Object
	names []string
	want  string
	// advance, when set, moves the clock and then expects wantAfter.
	advance   time.Duration
	wantAfter string
}

func runPodCases(t *testing.T, cases []podCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{tc.set}, tc.objs(tc.set)...)
			env := newTestEnv(t, tc.cfg, objs...)
			env.expect(tc.want, tc.names...)
			if tc.advance != 0 {
				env.clock.Advance(tc.advance)
				env.expect(tc.wantAfter, tc.names...)
			}
		})
	}
}

func TestPodPhasesWaitingUnschedulable(t *testing.T) {
	ready := newNode("node-a", "topology.kubernetes.io/zone", "a")
	runPodCases(t, []podCase{
		{
			name:  "no pods: every phase exported with zeros, no waiting sample",
			set:   newStatefulSet("ns", "web", 0),
			objs:  func(*appsv1.StatefulSet) []runtime.Object { return nil },
			names: []string{"statefulset_pods", "statefulset_pods_waiting", "statefulset_pods_unschedulable", "statefulset_pods_terminating"},
			want: `
				statefulset_pods_unschedulable{namespace="ns",statefulset="web"} 0
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 0`,
		},
		{
			name: "every phase counted; a pod without a phase and a foreign pod are not",
			set:  newStatefulSet("ns", "web", 7),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{ready,
					newPod(s, 0), newPod(s, 1),
					newPod(s, 2, unscheduled),
					newPod(s, 3, withPhase(corev1.PodFailed)),
					newPod(s, 4, withPhase(corev1.PodSucceeded)),
					newPod(s, 5, withPhase(corev1.PodUnknown)),
					newPod(s, 6, withPhase("")),
					newPod(s, 7, noOwner), // name matches, but no controller reference
				}
			},
			names: []string{"statefulset_pods"},
			want: `
				statefulset_pods{namespace="ns",phase="Failed",statefulset="web"} 1
				statefulset_pods{namespace="ns",phase="Pending",statefulset="web"} 1
				statefulset_pods{namespace="ns",phase="Running",statefulset="web"} 2
				statefulset_pods{namespace="ns",phase="Succeeded",statefulset="web"} 1
				statefulset_pods{namespace="ns",phase="Unknown",statefulset="web"} 1`,
		},
		{
			name: "waiting reasons: known pass through, unknown becomes Other, init containers first",
			set:  newStatefulSet("ns", "web", 8),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{ready,
					newPod(s, 0, waiting("CrashLoopBackOff", 4)),
					newPod(s, 1, waiting("CrashLoopBackOff", 1)),
					newPod(s, 2, waiting("ErrImagePull", 0)),
					newPod(s, 3, waiting("SomeRuntimeSpecificReason", 0)),
					newPod(s, 4, waiting("", 0)),
					newPod(s, 5, initWaiting("ImagePullBackOff")),
					newPod(s, 6, initWaiting("Whatever")),
					newPod(s, 7), // running, nothing waits
				}
			},
			names: []string{"statefulset_pods_waiting"},
			want: `
				statefulset_pods_waiting{namespace="ns",reason="CrashLoopBackOff",statefulset="web"} 2
				statefulset_pods_waiting{namespace="ns",reason="ErrImagePull",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="ImagePullBackOff",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="Other",statefulset="web"} 3`,
		},
		{
			name: "every known waiting reason passes through",
			set:  newStatefulSet("ns", "web", 9),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				var objs []runtime.Object
				for i, r := range []string{"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
					"CreateContainerError", "InvalidImageName", "RunContainerError", "ContainerCreating", "PodInitializing"} {
					objs = append(objs, newPod(s, i, waiting(r, 0)))
				}
				return objs
			},
			names: []string{"statefulset_pods_waiting"},
			want: `
				statefulset_pods_waiting{namespace="ns",reason="ContainerCreating",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="CrashLoopBackOff",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="CreateContainerConfigError",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="CreateContainerError",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="ErrImagePull",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="ImagePullBackOff",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="InvalidImageName",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="PodInitializing",statefulset="web"} 1
				statefulset_pods_waiting{namespace="ns",reason="RunContainerError",statefulset="web"} 1`,
		},
		{
			name: "unschedulable needs PodScheduled=False with reason Unschedulable",
			set:  newStatefulSet("ns", "web", 4),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{ready,
					newPod(s, 0, unscheduled),
					newPod(s, 1, unscheduled),
					newPod(s, 2, unscheduled, func(p *corev1.Pod) { p.Status.Conditions[0].Reason = "SchedulerError" }),
					newPod(s, 3, unscheduled, func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionTrue }),
				}
			},
			names: []string{"statefulset_pods_unschedulable", "statefulset_pods"},
			want: `
				statefulset_pods_unschedulable{namespace="ns",statefulset="web"} 2
				statefulset_pods{namespace="ns",phase="Pending",statefulset="web"} 4`,
		},
	})
}

func TestPodsTerminating(t *testing.T) {
	names := []string{"statefulset_pods_terminating", "statefulset_pod_stuck_terminating_info"}
	nodeA := newNode("node-a", "topology.kubernetes.io/zone", "a")
	runPodCases(t, []podCase{
		{
			// The deletion timestamp already holds the grace period: stuck once now - deletion > 5m,
			// whatever the grace fields say.
			name: "deletionGracePeriodSeconds is not added again: boundary",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{nodeA,
					newPod(s, 0, deletedAt(5*time.Minute, ptr.To[int64](60), ptr.To[int64](3600))),
					newPod(s, 1)}
			},
			names:   names,
			want:    `statefulset_pods_terminating{namespace="ns",statefulset="web"} 1`,
			advance: time.Second,
			wantAfter: `
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 1
				statefulset_pod_stuck_terminating_info{namespace="ns",node="node-a",node_status="ready",pod="web-0",statefulset="web"} 1`,
		},
		{
			name: "spec terminationGracePeriodSeconds is not added either: boundary",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{nodeA, newPod(s, 0, deletedAt(5*time.Minute, nil, ptr.To[int64](120)))}
			},
			names:   names,
			want:    `statefulset_pods_terminating{namespace="ns",statefulset="web"} 1`,
			advance: time.Second,
			wantAfter: `
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 1
				statefulset_pod_stuck_terminating_info{namespace="ns",node="node-a",node_status="ready",pod="web-0",statefulset="web"} 1`,
		},
		{
			name: "no grace fields: boundary",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{nodeA, newPod(s, 0, deletedAt(5*time.Minute, nil, nil))}
			},
			names:   names,
			want:    `statefulset_pods_terminating{namespace="ns",statefulset="web"} 1`,
			advance: time.Millisecond,
			wantAfter: `
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 1
				statefulset_pod_stuck_terminating_info{namespace="ns",node="node-a",node_status="ready",pod="web-0",statefulset="web"} 1`,
		},
		{
			name: "--terminating.stuck-after 1m with a zero grace period",
			cfg:  configWith(func(c *Config) { c.TerminatingStuckAfter = time.Minute }),
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{nodeA, newPod(s, 0, deletedAt(time.Minute, ptr.To[int64](0), ptr.To[int64](30)))}
			},
			names:   names,
			want:    `statefulset_pods_terminating{namespace="ns",statefulset="web"} 1`,
			advance: time.Second,
			wantAfter: `
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 1
				statefulset_pod_stuck_terminating_info{namespace="ns",node="node-a",node_status="ready",pod="web-0",statefulset="web"} 1`,
		},
		{
			name: "unscheduled stuck pod has node_status unknown and an empty node",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newPod(s, 0, unscheduled, deletedAt(time.Hour, nil, nil))}
			},
			names: names,
			want: `
				statefulset_pods_terminating{namespace="ns",statefulset="web"} 1
				statefulset_pod_stuck_terminating_info{namespace="ns",node="",node_status="unknown",pod="web-0",statefulset="web"} 1`,
		},
	})
}

func TestPodNodeStatus(t *testing.T) {
	const zk = "topology.kubernetes.io/zone"
	onlyTaint := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}}
	}
	noConditions := func(n *corev1.Node) { n.Status.Conditions = nil }
	otherConditionOnly := func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}}
	}
	set := newStatefulSet("ns", "web", 8)
	gone := deletedAt(time.Hour, nil, nil)
	objs := []runtime.Object{set,
		newNode("ready", zk, "a"),
		newNode("notready", zk, "a", nodeReadyStatus(corev1.ConditionFalse)),
		newNode("taint", zk, "a", onlyTaint),
		newNode("unknown-cond", zk, "a", nodeReadyStatus(corev1.ConditionUnknown)),
		newNode("no-cond", zk, "a", noConditions),
		newNode("other-cond", zk, "a", otherConditionOnly),
		newPod(set, 0, onNode("ready"), gone),
		newPod(set, 1, onNode("notready"), gone),
		newPod(set, 2, onNode("taint"), gone),
		newPod(set, 3, onNode("unknown-cond"), gone),
		newPod(set, 4, onNode("gone-node"), gone),
		newPod(set, 5, onNode("no-cond"), gone),
		newPod(set, 6, onNode("other-cond"), gone),
		// Not terminating, but on unready nodes.
		newPod(set, 7, onNode("notready")),
		newPod(set, 8, onNode("gone-node")),
		newPod(set, 9, onNode("ready")),
	}
	env := newTestEnv(t, nil, objs...)
	env.expect(`
		statefulset_pods_terminating{namespace="ns",statefulset="web"} 7
		statefulset_pod_stuck_terminating_info{namespace="ns",node="ready",node_status="ready",pod="web-0",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="notready",node_status="not_ready",pod="web-1",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="taint",node_status="unreachable",pod="web-2",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="unknown-cond",node_status="unreachable",pod="web-3",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="gone-node",node_status="missing",pod="web-4",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="no-cond",node_status="unknown",pod="web-5",statefulset="web"} 1
		statefulset_pod_stuck_terminating_info{namespace="ns",node="other-cond",node_status="unknown",pod="web-6",statefulset="web"} 1
		statefulset_pods_on_unready_nodes{namespace="ns",statefulset="web"} 6
	`, "statefulset_pods_terminating", "statefulset_pod_stuck_terminating_info", "statefulset_pods_on_unready_nodes")
}

func TestPodsOnUnreadyNodesWithoutNodes(t *testing.T) {
	set := newStatefulSet("ns", "web", 2)
	env := newTestEnv(t, nil, set, newNode("node-a", "", ""), newPod(set, 0), newPod(set, 1, unscheduled))
	env.expect(`statefulset_pods_on_unready_nodes{namespace="ns",statefulset="web"} 0`, "statefulset_pods_on_unready_nodes")
}
