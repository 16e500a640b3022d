package derive_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

// usableNodeCluster is nodes Ready nodes in three zones, each with its hostname, and
// an unscheduled pod tolerating the usual not-ready and unreachable taints.
func usableNodeCluster(nodes int) ([]*derive.Node, *derive.Pod) {
	out := make([]*derive.Node, nodes)
	for i := range out {
		name := fmt.Sprintf("ip-10-0-%d-%d", i/250, i%250)
		out[i] = derive.NodeFrom(&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": fmt.Sprintf("eu-west-1%c", 'a'+i%3),
				"topology.ebs.csi.aws.com/zone": fmt.Sprintf("eu-west-1%c", 'a'+i%3), "nodegroup": "general",
			}},
			Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "example.com/pool", Value: "general", Effect: corev1.TaintEffectPreferNoSchedule}}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		})
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}, NodeSelector: map[string]string{"nodegroup": "general"}}}
	return out, derive.PodFrom(pod)
}

func hostnamePV(node string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}}
}

// TestUsableNodeAnswersOncePerPlacement: pods with the same constraints and volumes
// pinned the same way share one answer, and nodes are listed once per view.
func TestUsableNodeAnswersOncePerPlacement(t *testing.T) {
	nodes, pod := usableNodeCluster(30)
	lists := 0
	v := derive.NewView(nil, nil)
	l := derive.NewUsableNodeLookup(v, "usable nodes", func() []*derive.Node { lists++; return nodes })
	gone, there := derive.UsableNodeKey(pod, derivetest.CompactPV(hostnamePV("node-gone"))), derive.UsableNodeKey(pod, derivetest.CompactPV(hostnamePV(nodes[7].GetName())))
	if gone == there {
		t.Fatal("two placements share a key")
	}
	for range 3 {
		if l.Get(gone) || !l.Get(there) {
			t.Fatalf("usable: node-gone %v, %s %v; want false, true", l.Get(gone), nodes[7].GetName(), l.Get(there))
		}
	}
	if lists != 1 {
		t.Errorf("nodes listed %d times, want 1", lists)
	}
	if derive.UsableNodeKey(pod, derivetest.CompactPV(&corev1.PersistentVolume{})) != "" {
		t.Error("a PV without node affinity has a question")
	}
}

// TestUsableNodeOfZoneLabelledVolume: a volume pinned by zone labels rather than node
// affinity (older provisioners, migrated in-tree volumes) is matched as the scheduler's
// VolumeZone filter does, a label value listing several zones with "__"; the labels
// restrict every node affinity term too.
func TestUsableNodeOfZoneLabelledVolume(t *testing.T) {
	nodes, pod := usableNodeCluster(2) // zones a and b
	zoned := func(zone string, affinity *corev1.VolumeNodeAffinity) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelTopologyZone: zone}},
			Spec:       corev1.PersistentVolumeSpec{NodeAffinity: affinity},
		}
	}
	for _, tc := range []struct {
		name   string
		pv     *corev1.PersistentVolume
		usable bool
	}{
		{"zone with a node", zoned("eu-west-1a", nil), true},
		{"zone without a node", zoned("eu-west-1c", nil), false},
		{"several zones, one with a node", zoned("eu-west-1c__eu-west-1b", nil), true},
		{"node affinity on a node of another zone than the label", zoned("eu-west-1c", hostnamePV(nodes[0].GetName()).Spec.NodeAffinity), false},
		{"node affinity and label agree", zoned("eu-west-1a", hostnamePV(nodes[0].GetName()).Spec.NodeAffinity), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := derive.UsableNodeKey(pod, derivetest.CompactPV(tc.pv))
			if key == "" {
				t.Fatal("a zone-labelled volume has no question")
			}
			v := derive.NewView(nil, nil)
			if got := derive.NewUsableNodeLookup(v, "usable nodes", func() []*derive.Node { return nodes }).Get(key); got != tc.usable {
				t.Errorf("usable = %v, want %v", got, tc.usable)
			}
		})
	}
}

// BenchmarkUsableNode is the worst case of one question: a volume pinned to a node that
// is gone, so every node of the cluster is checked.
func BenchmarkUsableNode(b *testing.B) {
	for _, n := range []int{500, 5000} {
		nodes, pod := usableNodeCluster(n)
		key := derive.UsableNodeKey(pod, derivetest.CompactPV(hostnamePV("node-gone")))
		b.Run(fmt.Sprint(n, " nodes"), func(b *testing.B) {
			for b.Loop() {
				v := derive.NewView(nil, nil)
				if derive.NewUsableNodeLookup(v, "usable nodes", func() []*derive.Node { return nodes }).Get(key) {
					b.Fatal("usable")
				}
			}
		})
	}
}
