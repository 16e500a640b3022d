package derive

import (
	"encoding/json"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Whether an unscheduled pod's volume has a node it can be used on, as the scheduler's
// filters see it: a Ready node, not cordoned (unless the pod tolerates the cordon),
// matching the PV's node affinity (VolumeBinding), the pod's nodeSelector and required
// node affinity (NodeAffinity), and whose NoSchedule and NoExecute taints the pod
// tolerates (TaintToleration). Resources, ports and pod (anti-)affinity are left out:
// they change with the load, a volume's placement does not.

// placement is what decides whether a node is usable for a pod's volume; encoded, it is
// the key of the View's UsableNode lookup, so that pods with the same constraints and
// volumes pinned the same way share one answer.
type placement struct {
	Volume       *corev1.NodeSelector `json:"v"`
	NodeSelector map[string]string    `json:"s,omitempty"`
	Affinity     *corev1.NodeSelector `json:"a,omitempty"`
	Tolerations  []corev1.Toleration  `json:"t,omitempty"`
}

// UsableNodeKey is the UsableNode question for a pod and the PV of one of its volumes;
// "" when the PV has no required node affinity.
func UsableNodeKey(p *corev1.Pod, pv *corev1.PersistentVolume) string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return ""
	}
	pl := placement{Volume: pv.Spec.NodeAffinity.Required, NodeSelector: p.Spec.NodeSelector, Tolerations: p.Spec.Tolerations}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		pl.Affinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	key, err := json.Marshal(pl)
	if err != nil {
		return ""
	}
	return string(key)
}

// NewUsableNodeLookup registers with v a lookup answering UsableNodeKey questions: true
// when some node that nodes returns is usable. nodes is called once, on the first
// question; answers are kept for the view's life (one collection).
func NewUsableNodeLookup(v *View, name string, nodes func() []*corev1.Node) *Lookup[bool] {
	var ready []*corev1.Node
	listed := false
	answers := map[string]bool{}
	return NewLookup(v, name, func(key string) bool {
		if usable, ok := answers[key]; ok {
			return usable
		}
		if !listed {
			listed = true
			for _, n := range nodes() {
				if nodeStatus(n) == nodeReady {
					ready = append(ready, n)
				}
			}
		}
		usable := anyUsable(key, ready)
		answers[key] = usable
		return usable
	})
}

// anyUsable tells whether one of nodes is usable for the placement key. A key that does
// not decode counts as usable: no alert from a question the exporter cannot answer.
func anyUsable(key string, nodes []*corev1.Node) bool {
	var pl placement
	if err := json.Unmarshal([]byte(key), &pl); err != nil || pl.Volume == nil {
		return true
	}
	volume := nodeaffinity.NewLazyErrorNodeSelector(pl.Volume)
	pod := nodeaffinity.NewRequiredNodeAffinity(pl.NodeSelector, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: pl.Affinity}})
	tolerant := func(t *corev1.Taint) bool {
		return schedulingv1.TolerationsTolerateTaint(logr.Discard(), pl.Tolerations, t, true)
	}
	// The volume's affinity is matched on the node's labels alone, as the scheduler's
	// VolumeBinding does (storage/volume.CheckNodeAffinity), which ignores matchFields.
	var labelsOnly corev1.Node
	for _, n := range nodes {
		if n.Spec.Unschedulable && !tolerant(&corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
			continue
		}
		// Errors (invalid terms) are not matches, as for the scheduler.
		labelsOnly.Labels = n.Labels
		if ok, err := volume.Match(&labelsOnly); !ok || err != nil {
			continue
		}
		if ok, err := pod.Match(n); !ok || err != nil {
			continue
		}
		if _, untolerated := schedulingv1.FindMatchingUntoleratedTaint(logr.Discard(), n.Spec.Taints, pl.Tolerations, scheduling, true); untolerated {
			continue
		}
		return true
	}
	return false
}

// scheduling selects the taints the scheduler's TaintToleration filter honours.
func scheduling(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}
