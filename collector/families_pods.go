package collector

var podFamilies = []family{
	gauge("statefulset_pods", "Pods of the StatefulSet by phase.", []string{"phase"},
		func(h *health, add func(float64, ...string)) {
			for _, phase := range podPhases {
				add(float64(h.podsByPhase[phase]), string(phase))
			}
		}),
	gauge("statefulset_pods_waiting", "Pods with a waiting container, by waiting reason.", []string{"reason"},
		func(h *health, add func(float64, ...string)) {
			for _, reason := range sortedKeys(h.waitingByReason) {
				add(float64(h.waitingByReason[reason]), reason)
			}
		}),
	gauge("statefulset_pods_unschedulable", "Pods the scheduler could not place.", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.unschedulable)) }),
	gauge("statefulset_pods_terminating", "Pods with a deletion timestamp.", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.terminating)) }),
	gauge("statefulset_pod_stuck_terminating", "Pods terminating for longer than their grace period plus --terminating.stuck-after; always 1.",
		[]string{"pod", "node", "node_status"},
		func(h *health, add func(float64, ...string)) {
			for _, s := range h.stuckTerminating {
				add(1, s.pod, s.node, s.nodeStatus)
			}
		}),
	gauge("statefulset_pods_on_unready_nodes", "Pods bound to a node that is not ready, unreachable or missing.", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.podsOnUnreadyNodes)) }),
}
