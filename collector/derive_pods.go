package collector

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

func derivePods(h *health, in statefulSetInputs, view *clusterView, now time.Time, stuckAfter time.Duration) {
	h.podsByPhase = make(map[corev1.PodPhase]int, len(podPhases))
	for _, phase := range podPhases {
		h.podsByPhase[phase] = 0
	}
	h.readyPerZone = map[string]int{}
	for _, p := range in.pods {
		if _, known := h.podsByPhase[p.Status.Phase]; known {
			h.podsByPhase[p.Status.Phase]++
		}
		if r := waitingReason(p); r != "" {
			if h.waitingByReason == nil {
				h.waitingByReason = map[string]int{}
			}
			h.waitingByReason[r]++
		}
		if podUnschedulable(p) {
			h.unschedulable++
		}

		var node *corev1.Node
		status := ""
		if p.Spec.NodeName != "" && view.node != nil {
			node = view.node(p.Spec.NodeName)
			status = nodeStatus(node)
			if status == nodeNotReady || status == nodeUnreachable || status == nodeMissing {
				h.podsOnUnreadyNodes++
			}
		}
		if p.DeletionTimestamp != nil {
			h.terminating++
			if podStuck(p, now, stuckAfter) {
				if status == "" {
					status = nodeUnknown
				}
				h.stuckTerminating = append(h.stuckTerminating, stuckPod{pod: p.Name, node: p.Spec.NodeName, nodeStatus: status})
			}
		}
		if node != nil && podReady(p) && p.DeletionTimestamp == nil {
			if zone := zoneOf(node.Labels, view.zoneKeys); zone != "" {
				h.readyPerZone[zone]++
			}
		}
	}
}

// podStuck tells whether a terminating pod has outlived its deletion timestamp by more
// than stuckAfter. The API server sets the deletion timestamp to the time of the delete
// request plus the pod's grace period, so the grace period is already in it.
func podStuck(p *corev1.Pod, now time.Time, stuckAfter time.Duration) bool {
	return now.Sub(p.DeletionTimestamp.Time) > stuckAfter
}
