package collector

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// defaultGracePeriod is what Kubernetes uses when a pod sets no grace period.
const defaultGracePeriod = 30 * time.Second

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
			if now.Sub(p.DeletionTimestamp.Time) > gracePeriod(p)+stuckAfter {
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

// gracePeriod is the grace period a terminating pod was given.
func gracePeriod(p *corev1.Pod) time.Duration {
	switch {
	case p.DeletionGracePeriodSeconds != nil:
		return time.Duration(max(*p.DeletionGracePeriodSeconds, 0)) * time.Second
	case p.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(max(*p.Spec.TerminationGracePeriodSeconds, 0)) * time.Second
	}
	return defaultGracePeriod
}
