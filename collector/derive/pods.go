package derive

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

func derivePods(h *Health, in Inputs, view *View, now time.Time, th Thresholds) {
	h.PodsByPhase = make(map[corev1.PodPhase]int, len(PodPhases))
	for _, phase := range PodPhases {
		h.PodsByPhase[phase] = 0
	}
	h.ReadyPerZone = map[string]int{}
	// Claims Pending for a provisioner or binder, not for the scheduler to pick a node.
	pending := map[string]bool{}
	for _, c := range in.PVCs {
		if c.Phase() == corev1.ClaimPending && pendingReason(c, view) != pvcWaitForFirstConsumer {
			pending[c.name] = true
		}
	}
	claimPending := func(name string) bool { return pending[name] }
	var cordonedCandidate func(*Pod) bool
	if view.CordonedCandidate != nil {
		cordonedCandidate = func(p *Pod) bool {
			var volumes []*corev1.NodeSelector
			podVolumes(p, in.claims, view, func(_ *PVC, pv *PV) {
				if sel := volumeNodeSelector(pv); sel != nil {
					volumes = append(volumes, sel)
				}
			})
			return view.CordonedCandidate.Get(CordonedCandidateKey(p, volumes))
		}
	}
	for _, p := range in.Pods {
		if _, known := h.PodsByPhase[p.phase()]; known {
			h.PodsByPhase[p.phase()]++
		}
		if r := waitingReason(p); r != "" {
			if h.WaitingByReason == nil {
				h.WaitingByReason = map[string]int{}
			}
			h.WaitingByReason[r]++
		}
		if podUnschedulable(p) {
			h.Unschedulable++
		}

		var node *Node
		status := ""
		if p.NodeName() != "" && view.Node != nil {
			node = view.Node.Get(p.NodeName())
			status = nodeStatus(node)
			if status == nodeNotReady || status == nodeUnreachable || status == nodeMissing {
				h.PodsOnUnreadyNodes++
			}
		}
		if why, ok := podWhy(p, node, view.Node != nil, claimPending, cordonedCandidate); ok {
			h.NotReady = append(h.NotReady, why)
		}
		if p.Terminating() {
			h.Terminating++
			if PodStuck(p, now, th.TerminatingStuckAfter) {
				if status == "" {
					status = nodeUnknown
				}
				h.StuckTerminating = append(h.StuckTerminating, StuckPod{Pod: p.GetName(), Node: p.NodeName(), NodeStatus: status})
			}
		}
		h.RecentTerminations = recentTerminations(p, now, th.RecentTerminationWindow, h.RecentTerminations)
		if node != nil && podReady(p) && !p.Terminating() {
			if zone := ZoneOf(node.Labels(), view.ZoneKeys); zone != "" {
				h.ReadyPerZone[zone]++
			}
		}
	}
}

// PodStuck tells whether a terminating pod has outlived its deletion timestamp by more
// than stuckAfter. The API server sets the deletion timestamp to the time of the delete
// request plus the pod's grace period, so the grace period is already in it.
func PodStuck(p *Pod, now time.Time, stuckAfter time.Duration) bool {
	return now.Sub(p.deletedAt()) > stuckAfter
}
