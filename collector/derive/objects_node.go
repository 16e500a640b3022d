package derive

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Node is what the derivations read of a node (see compact.go): its labels (node
// affinity and nodeSelector may name any), whether it is cordoned, the taints the
// scheduler's TaintToleration filter honours (NoSchedule and NoExecute, without their
// time) and the status of its Ready condition.
type Node struct {
	objectMeta
	labels        map[string]string
	taints        []corev1.Taint
	ready         corev1.ConditionStatus // of the Ready condition, when hasReady
	hasReady      bool
	unschedulable bool
}

// NodeFrom returns the compact form of in.
func NodeFrom(in *corev1.Node) *Node {
	out := &Node{objectMeta: metaOf(&in.ObjectMeta), labels: in.Labels, unschedulable: in.Spec.Unschedulable}
	for _, t := range in.Spec.Taints {
		if scheduling(&t) {
			out.taints = append(out.taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
	}
	for _, c := range in.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.ready, out.hasReady = c.Status, true
		}
	}
	return out
}

// Labels are the node's labels.
func (n *Node) Labels() map[string]string { return n.labels }

// Unschedulable tells whether the node is cordoned.
func (n *Node) Unschedulable() bool { return n.unschedulable }

// Taints are the node's NoSchedule and NoExecute taints.
func (n *Node) Taints() []corev1.Taint { return n.taints }

// Ready is the status of the node's Ready condition; ok is false when it has none.
func (n *Node) Ready() (status corev1.ConditionStatus, ok bool) { return n.ready, n.hasReady }

// asNode fills probe with the node's name and labels, what node affinity matches, and
// returns it: the matchers of k8s.io/component-helpers take a corev1.Node.
func (n *Node) asNode(probe *corev1.Node) *corev1.Node {
	probe.Name, probe.Labels = n.name, n.labels
	return probe
}

func (n *Node) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (n *Node) DeepCopyObject() runtime.Object {
	out := *n
	return &out
}

// Unchanged tells whether old is a Node equal to n but for its resourceVersion.
func (n *Node) Unchanged(old any) bool { return unchanged(n, old) }
