package collector

import "github.com/statefulset-exporter/statefulset-exporter/collector/derive"

var podFamilies = []family[*derive.Health]{
	gauge("statefulset_pods", "Pods of the StatefulSet by phase; phases without pods have no series.", []string{"phase"},
		func(h *derive.Health, out *sampleOut) {
			for _, phase := range derive.PodPhases {
				if n := h.PodsByPhase[phase]; n > 0 {
					out.add(float64(n), string(phase))
				}
			}
		}),
	gauge("statefulset_pods_waiting", "Pods with a waiting container, by waiting reason.", []string{"reason"},
		func(h *derive.Health, out *sampleOut) {
			for _, reason := range sortedKeys(h.WaitingByReason) {
				out.add(float64(h.WaitingByReason[reason]), reason)
			}
		}),
	gauge("statefulset_pods_unschedulable", "Pods the scheduler could not place.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Unschedulable)) }),
	gauge("statefulset_pods_terminating", "Pods with a deletion timestamp.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Terminating)) }),
	gauge("statefulset_pod_stuck_terminating_info", "Pods terminating for longer than their grace period plus --terminating.stuck-after; always 1.",
		[]string{"pod", "node", "node_status"},
		func(h *derive.Health, out *sampleOut) {
			for _, s := range h.StuckTerminating {
				out.add(1, s.Pod, s.Node, s.NodeStatus)
			}
		}),
	gauge("statefulset_pod_not_ready_info", "Why each pod of the StatefulSet that is not Ready, or is terminating, is so, in Kubernetes' own words; always 1. Ready pods have no series.",
		[]string{"pod", "reason", "container", "last_termination_reason"},
		func(h *derive.Health, out *sampleOut) {
			for _, w := range h.NotReady {
				out.add(1, w.Pod, w.Reason, w.Container, w.LastTermination)
			}
		}),
	gauge("statefulset_pods_on_unready_nodes", "Pods bound to a node that is not ready, unreachable or missing.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.PodsOnUnreadyNodes)) }),
	gauge("statefulset_container_last_terminated_timestamp_seconds",
		"When each container's last termination (lastState.terminated) finished, with its reason, for containers that terminated within --restarts.recent-window; containers that never terminated, or long ago, have no series.",
		[]string{"pod", "container", "reason"},
		func(h *derive.Health, out *sampleOut) {
			for _, t := range h.RecentTerminations {
				out.add(unixSeconds(t.FinishedAt), t.Pod, t.Container, t.Reason)
			}
		}),
}
