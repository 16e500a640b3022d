package derive

import (
	"encoding/json"
	"slices"
	"strings"

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
	// Volumes pin every volume of the pod (CordonedCandidate questions only).
	Volumes []*corev1.NodeSelector `json:"vs,omitempty"`
}

// UsableNodeKey is the UsableNode question for a pod and the PV of one of its volumes;
// "" when neither the PV's required node affinity nor its zone labels pin it.
func UsableNodeKey(p *Pod, pv *PV) string {
	volume := volumeNodeSelector(pv)
	if volume == nil {
		return ""
	}
	pl := podPlacement(p)
	pl.Volume = volume
	return pl.key()
}

// podPlacement is the pod's own part of a placement: its node selector, required node
// affinity and tolerations.
func podPlacement(p *Pod) placement {
	return placement{NodeSelector: p.spec.NodeSelector, Affinity: p.spec.Affinity, Tolerations: p.spec.Tolerations}
}

// key encodes the placement as a lookup key; "" when it does not encode.
func (pl placement) key() string {
	key, err := json.Marshal(pl)
	if err != nil {
		return ""
	}
	return string(key)
}

// podAffinity matches nodes against the pod's node selector and required node affinity.
func (pl placement) podAffinity() nodeaffinity.RequiredNodeAffinity {
	return nodeaffinity.NewRequiredNodeAffinity(pl.NodeSelector, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: pl.Affinity}})
}

// NewUsableNodeLookup registers with v a lookup answering UsableNodeKey questions: true
// when some node that nodes returns is usable. nodes is called once, on the first
// question; answers are kept for the view's life (one collection).
func NewUsableNodeLookup(v *View, name string, nodes func() []*Node) *Lookup[bool] {
	var ready []*Node
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
func anyUsable(key string, nodes []*Node) bool {
	var pl placement
	if err := json.Unmarshal([]byte(key), &pl); err != nil || pl.Volume == nil {
		return true
	}
	volume := nodeaffinity.NewLazyErrorNodeSelector(pl.Volume)
	pod := pl.podAffinity()
	tolerant := func(t *corev1.Taint) bool {
		return schedulingv1.TolerationsTolerateTaint(logr.Discard(), pl.Tolerations, t, true)
	}
	// The volume's affinity is matched on the node's labels alone, as the scheduler's
	// VolumeBinding does (storage/volume.CheckNodeAffinity), which ignores matchFields.
	var labelsOnly, probe corev1.Node
	for _, n := range nodes {
		if n.Unschedulable() && !tolerant(&corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
			continue
		}
		// Errors (invalid terms) are not matches, as for the scheduler.
		labelsOnly.Labels = n.Labels()
		if ok, err := volume.Match(&labelsOnly); !ok || err != nil {
			continue
		}
		if ok, err := pod.Match(n.asNode(&probe)); !ok || err != nil {
			continue
		}
		if _, untolerated := schedulingv1.FindMatchingUntoleratedTaint(logr.Discard(), n.Taints(), pl.Tolerations, scheduling, true); untolerated {
			continue
		}
		return true
	}
	return false
}

// CordonedCandidateKey is the CordonedCandidate question for a pod: its node selector,
// required node affinity and tolerations, and the node selectors of its bound volumes
// (volumeNodeSelector; nil ones are left out).
func CordonedCandidateKey(p *Pod, volumes []*corev1.NodeSelector) string {
	pl := podPlacement(p)
	pl.Volumes = volumes
	return pl.key()
}

// NewCordonedCandidateLookup registers with v a lookup answering CordonedCandidateKey
// questions: true when a cordoned node that nodes returns matches the pod's node selector
// and required affinity and its volumes' node selectors, and has no NoSchedule or
// NoExecute taint the pod does not tolerate, but the cordon's own. A key that does not
// decode answers true: the scheduler's verdict stays as it is. Answers are kept for the
// view's life.
func NewCordonedCandidateLookup(v *View, name string, nodes func() []*Node) *Lookup[bool] {
	answers := map[string]bool{}
	return NewLookup(v, name, func(key string) bool {
		if answer, ok := answers[key]; ok {
			return answer
		}
		var pl placement
		answer := true
		if err := json.Unmarshal([]byte(key), &pl); err == nil {
			answer = anyCordonedCandidate(pl, nodes())
		}
		answers[key] = answer
		return answer
	})
}

func anyCordonedCandidate(pl placement, nodes []*Node) bool {
	pod := pl.podAffinity()
	notCordon := func(t *corev1.Taint) bool { return scheduling(t) && t.Key != corev1.TaintNodeUnschedulable }
	volumes := make([]*nodeaffinity.LazyErrorNodeSelector, len(pl.Volumes))
	for i, v := range pl.Volumes {
		volumes[i] = nodeaffinity.NewLazyErrorNodeSelector(v)
	}
	var labelsOnly, probe corev1.Node
	for _, n := range nodes {
		if !n.Unschedulable() {
			continue
		}
		if ok, err := pod.Match(n.asNode(&probe)); !ok || err != nil {
			continue
		}
		labelsOnly.Labels = n.Labels()
		if slices.ContainsFunc(volumes, func(v *nodeaffinity.LazyErrorNodeSelector) bool {
			ok, err := v.Match(&labelsOnly)
			return !ok || err != nil
		}) {
			continue
		}
		if _, untolerated := schedulingv1.FindMatchingUntoleratedTaint(logr.Discard(), n.Taints(), pl.Tolerations, notCordon, true); untolerated {
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

// volumeZoneLabels are the PV labels the scheduler's VolumeZone filter matches against
// the node's labels of the same key (older provisioners and migrated in-tree volumes pin
// a volume this way instead of with node affinity).
var volumeZoneLabels = []string{
	corev1.LabelTopologyZone, corev1.LabelTopologyRegion,
	corev1.LabelFailureDomainBetaZone, corev1.LabelFailureDomainBetaRegion,
}

// volumeNodeSelector is the nodes a PV can be used on: its required node affinity, each
// term also restricted by its zone labels (a label value may list several zones joined
// with "__"); nil when nothing pins the volume.
func volumeNodeSelector(pv *PV) *corev1.NodeSelector {
	var labels []corev1.NodeSelectorRequirement
	for _, key := range volumeZoneLabels {
		if v, ok := pv.placement.Labels[key]; ok && v != "" {
			labels = append(labels, corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: strings.Split(v, "__")})
		}
	}
	required := pv.placement.Affinity
	switch {
	case len(labels) == 0:
		return required
	case required == nil || len(required.NodeSelectorTerms) == 0:
		return &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: labels}}}
	}
	out := &corev1.NodeSelector{NodeSelectorTerms: make([]corev1.NodeSelectorTerm, len(required.NodeSelectorTerms))}
	for i, t := range required.NodeSelectorTerms {
		out.NodeSelectorTerms[i] = corev1.NodeSelectorTerm{
			MatchExpressions: append(slices.Clone(t.MatchExpressions), labels...),
			MatchFields:      t.MatchFields,
		}
	}
	return out
}
