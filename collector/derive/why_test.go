package derive_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// TestSchedulingCategory categorises messages of kube-scheduler v1.37 (the pinned
// release; tests/simulated checks the ones its real scheduler writes).
func TestSchedulingCategory(t *testing.T) {
	for _, tc := range []struct{ message, want string }{
		{"0/6 nodes are available: 6 node(s) didn't match PersistentVolume's node affinity. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.", "VolumeNodeAffinityConflict"},
		{"0/3 nodes are available: 3 node(s) had volume node affinity conflict.", "VolumeNodeAffinityConflict"},
		// The volume's zone is cordoned or full; the other zones' nodes fail on the volume.
		{"0/6 nodes are available: 2 node(s) were unschedulable, 4 node(s) didn't match PersistentVolume's node affinity.", "NodeUnschedulable"},
		{"0/6 nodes are available: 2 Insufficient cpu, 4 node(s) didn't match PersistentVolume's node affinity.", "InsufficientCPU"},
		// No other reason: the volume's zone has no node left.
		{"0/6 nodes are available: 3 node(s) had untolerated taint(s), 3 node(s) didn't match PersistentVolume's node affinity.", "VolumeNodeAffinityConflict"},
		{"0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.", "UnboundImmediateClaims"},
		{"0/6 nodes are available: 6 node(s) didn't find available persistent volumes to bind.", "VolumeUnavailable"},
		{"0/6 nodes are available: 6 Insufficient cpu. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.", "InsufficientCPU"},
		{"0/6 nodes are available: 3 Insufficient memory, 3 Insufficient cpu.", "InsufficientCPU"},
		{"0/6 nodes are available: 6 Insufficient memory.", "InsufficientMemory"},
		{"0/6 nodes are available: 6 Too many pods.", "InsufficientPods"},
		{"0/6 nodes are available: 6 Insufficient nvidia.com/gpu.", "InsufficientResources"},
		{"0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 node(s) didn't match Pod's node affinity/selector.", "UntoleratedTaint"},
		{"0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: db}.", "UntoleratedTaint"},
		{"0/3 nodes are available: 3 node(s) were unschedulable.", "NodeUnschedulable"},
		// Seen on the simulated cluster: the pod's node is cordoned, the other nodes are
		// other workloads' (tainted) or not selected.
		{"0/15 nodes are available: 2 node(s) were unschedulable, 6 node(s) didn't match Pod's node affinity/selector, 7 node(s) had untolerated taint(s). preemption: 0/15 nodes are available: 15 Preemption is not helpful for scheduling.", "NodeUnschedulable"},
		{"0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector.", "NodeAffinity"},
		{"0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules.", "PodAffinity"},
		{"0/6 nodes are available: 6 node(s) didn't match pod topology spread constraints.", "TopologySpread"},
		{"0/6 nodes are available: 6 node(s) didn't have free ports for the requested pod ports.", "Unschedulable"},
		// A category named only in the preemption part does not count.
		{"0/6 nodes are available: 6 node(s) were unschedulable. preemption: 0/6 nodes are available: 6 Insufficient cpu.", "NodeUnschedulable"},
		{"", "Unschedulable"},
		// Seen on the simulated cluster's kube-scheduler.
		{"0/8 nodes are available: 2 node(s) had untolerated taint(s), 6 Insufficient cpu. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling.", "InsufficientCPU"},
		// Categories come back unchanged: the exporter's cache keeps only them.
		{"InsufficientCPU", "InsufficientCPU"},
		{"Unschedulable", "Unschedulable"},
	} {
		if got := derive.SchedulingCategory(tc.message); got != tc.want {
			t.Errorf("SchedulingCategory(%q) = %s, want %s", tc.message, got, tc.want)
		}
		if !slices.Contains(derive.SchedulingReasons, tc.want) {
			t.Errorf("%s is not in SchedulingReasons", tc.want)
		}
	}
}

func TestPodWhy(t *testing.T) {
	now := metav1.NewTime(time.Unix(1_700_000_000, 0))
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	notReady := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse}
	readyNode := derive.NodeFrom(&corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	unreachableNode := derive.NodeFrom(&corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}}})
	notReadyNode := derive.NodeFrom(&corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}})
	crashed := corev1.ContainerStatus{Name: "db",
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}
	running := func(name string, ready bool) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	pod := func(change func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0"}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{notReady}}}
		change(p)
		return p
	}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		node      *derive.Node
		nodeKnown bool
		want      derive.PodWhy
		ok        bool
	}{
		{name: "ready", pod: pod(func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{ready} }), node: readyNode, nodeKnown: true},
		{name: "ready but terminating", pod: pod(func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{ready}; p.DeletionTimestamp = &now }),
			node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "Terminating"}, ok: true},
		{name: "evicted", pod: pod(func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }),
			want: derive.PodWhy{Pod: "db-0", Reason: "Evicted"}, ok: true},
		{name: "failed", pod: pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), want: derive.PodWhy{Pod: "db-0", Reason: "Failed"}, ok: true},
		{name: "unschedulable", pod: pod(func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status.Phase = "", corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/6 nodes are available: 6 Insufficient cpu."}}
		}), want: derive.PodWhy{Pod: "db-0", Reason: "InsufficientCPU"}, ok: true},
		{name: "scheduling gated", pod: pod(func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status.Phase = "", corev1.PodPending
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
		}), want: derive.PodWhy{Pod: "db-0", Reason: "SchedulingGated"}, ok: true},
		{name: "not yet seen by the scheduler", pod: pod(func(p *corev1.Pod) { p.Spec.NodeName, p.Status.Phase, p.Status.Conditions = "", corev1.PodPending, nil }),
			want: derive.PodWhy{Pod: "db-0", Reason: "Pending"}, ok: true},
		{name: "waiting for its claim", pod: pod(func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status.Phase, p.Status.Conditions = "", corev1.PodPending, nil
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0-pending"}}}}
		}), want: derive.PodWhy{Pod: "db-0", Reason: "ClaimPending"}, ok: true},
		{name: "node unreachable", pod: pod(func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("db", true)} }),
			node: unreachableNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "NodeUnreachable"}, ok: true},
		{name: "node not ready", pod: pod(func(*corev1.Pod) {}), node: notReadyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "NodeNotReady"}, ok: true},
		{name: "node gone", pod: pod(func(*corev1.Pod) {}), node: nil, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "NodeMissing"}, ok: true},
		{name: "nodes not watched", pod: pod(func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{crashed} }), node: nil, nodeKnown: false,
			want: derive.PodWhy{Pod: "db-0", Reason: "CrashLoopBackOff", Container: "db", LastTermination: "OOMKilled"}, ok: true},
		{name: "crash loop", pod: pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("sidecar", true), crashed}
		}),
			node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "CrashLoopBackOff", Container: "db", LastTermination: "OOMKilled"}, ok: true},
		{name: "init container waiting first", pod: pod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ImagePullBackOff", Container: "init"}, ok: true},
		{name: "unknown waiting reason", pod: pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "SomethingNew"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Signal"}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ContainerWaiting", Container: "db", LastTermination: "Other"}, ok: true},
		{name: "init container running", pod: pod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("restore-backup", false)}
			// The kubelet shows the containers waiting while init runs.
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "InitContainerRunning", Container: "restore-backup"}, ok: true},
		{name: "first of two init containers running", pod: pod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			// The kubelet shows an init container that has not started yet waiting with
			// PodInitializing.
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("restore-backup", false),
				{Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "InitContainerRunning", Container: "restore-backup"}, ok: true},
		{name: "second init container about to start", pod: pod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "restore-backup", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "PodInitializing", Container: "migrate"}, ok: true},
		{name: "sidecar running, container failing readiness", pod: pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{running("proxy", true)}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("db", false)}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ReadinessFailing", Container: "db"}, ok: true},
		{name: "startup probe not passed", pod: pod(func(p *corev1.Pod) {
			c := running("db", false)
			c.Started = ptrTo(false)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{c}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "Starting", Container: "db"}, ok: true},
		{name: "readiness gate", pod: pod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("db", true)}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ReadinessGatesNotReady"}, ok: true},
		{name: "scheduled, nothing started", pod: pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), node: readyNode, nodeKnown: true,
			want: derive.PodWhy{Pod: "db-0", Reason: "Pending"}, ok: true},
		{name: "readiness failing after a crash", pod: pod(func(p *corev1.Pod) {
			c := running("db", false)
			c.LastTerminationState = crashed.LastTerminationState
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("sidecar", true), c}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ReadinessFailing", Container: "db", LastTermination: "OOMKilled"}, ok: true},
		{name: "container exited", pod: pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("sidecar", true),
				{Name: "db", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}
		}), node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "ContainerTerminated", Container: "db", LastTermination: "Error"}, ok: true},
		{name: "not ready, containers ready", pod: pod(func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("db", true)} }),
			node: readyNode, nodeKnown: true, want: derive.PodWhy{Pod: "db-0", Reason: "NotReady"}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := derive.PodWhyOf(derive.PodFrom(tc.pod), tc.node, tc.nodeKnown, func(claim string) bool { return claim == "data-db-0-pending" }, nil)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("podWhy = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestCordonedNodesCountOnlyAsCandidates: the scheduler counts cordoned nodes first, so
// "2 node(s) were unschedulable" leads its message even when those nodes would never take
// the pod (another node group being replaced). The reason is the cordon only when a
// cordoned node matches the pod's selector and tolerates it but for the cordon.
func TestCordonedNodesCountOnlyAsCandidates(t *testing.T) {
	const message = "0/16 nodes are available: 2 node(s) were unschedulable, 6 node(s) didn't match Pod's node affinity/selector, " +
		"8 node(s) had untolerated taint(s). preemption: 0/16 nodes are available: 16 Preemption is not helpful for scheduling."
	cordoned := func(name string, labels map[string]string, taints ...corev1.Taint) *derive.Node {
		return derive.NodeFrom(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.NodeSpec{Unschedulable: true, Taints: append(taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})}})
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": "db-node"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message}}}}
	inZone := func(zone string) []*corev1.NodeSelector {
		return []*corev1.NodeSelector{{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}}}}}}
	}
	dbNode := map[string]string{"kubernetes.io/hostname": "db-node", corev1.LabelTopologyZone: "a"}
	for _, tc := range []struct {
		name    string
		nodes   []*derive.Node
		volumes []*corev1.NodeSelector
		want    string
	}{
		{"the pod's node cordoned, in its volume's zone", []*derive.Node{cordoned("db-node", dbNode)}, inZone("a"), "NodeUnschedulable"},
		{"the pod's node cordoned, its volume in another zone", []*derive.Node{cordoned("db-node", dbNode)}, inZone("b"), "UntoleratedTaint"},
		{"cordoned nodes of another node group", []*derive.Node{cordoned("other-1", map[string]string{"kubernetes.io/hostname": "other-1"})}, nil, "UntoleratedTaint"},
		{"the pod's own node cordoned", []*derive.Node{cordoned("db-node", dbNode)}, nil, "NodeUnschedulable"},
		{"the pod's node cordoned and tainted against it", []*derive.Node{cordoned("db-node", dbNode,
			corev1.Taint{Key: "dedicated", Value: "kafka", Effect: corev1.TaintEffectNoSchedule})}, nil, "UntoleratedTaint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := derive.NewView(nil, nil)
			l := derive.NewCordonedCandidateLookup(v, "cordoned candidates", func() []*derive.Node { return tc.nodes })
			got, _ := derive.PodWhyOf(derive.PodFrom(pod), nil, false, func(string) bool { return false },
				func(p *derive.Pod) bool { return l.Get(derive.CordonedCandidateKey(p, tc.volumes)) })
			if got.Reason != tc.want {
				t.Errorf("reason %q, want %q", got.Reason, tc.want)
			}
		})
	}
	// Unknown (no lookup): the scheduler's first category.
	if got, _ := derive.PodWhyOf(derive.PodFrom(pod), nil, false, func(string) bool { return false }, nil); got.Reason != "NodeUnschedulable" {
		t.Errorf("without the lookup: reason %q, want NodeUnschedulable", got.Reason)
	}
	// The informer cache keeps the categories, in rank order.
	if got := derive.SchedulingCategories(message); !slices.Equal(got, []string{"NodeUnschedulable", "UntoleratedTaint", "NodeAffinity"}) {
		t.Errorf("categories %v", got)
	}
	if got := derive.SchedulingCategories("NodeUnschedulable,UntoleratedTaint"); !slices.Equal(got, []string{"NodeUnschedulable", "UntoleratedTaint"}) {
		t.Errorf("categories of a kept list %v", got)
	}
}
