package derive

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PodWhy says why one pod of a StatefulSet is not Ready, in the words Kubernetes
// recorded: the scheduler's PodScheduled condition, the kubelet's container states, the
// node lifecycle controller's verdict on the pod's node.
type PodWhy struct {
	Pod string
	// Reason is one of the Why* values.
	Reason string
	// Container is the container the reason is about; "" for pod-level reasons.
	Container string
	// LastTermination is why Container last terminated (one of TerminationReasons, or
	// "Other"); "" when it never terminated or Container is "".
	LastTermination string
}

// Pod-level reasons of PodWhy. Container waiting reasons (WaitingReasons) are used
// verbatim, and "ContainerWaiting" for any other waiting reason.
const (
	WhyTerminating         = "Terminating"
	WhyFailed              = "Failed"
	WhyEvicted             = "Evicted"
	WhySucceeded           = "Succeeded"
	WhyNodeNotReady        = "NodeNotReady"
	WhyNodeUnreachable     = "NodeUnreachable"
	WhyNodeMissing         = "NodeMissing"
	WhySchedulingGated     = "SchedulingGated"
	WhyInitContainer       = "InitContainerRunning"
	WhyReadinessFailing    = "ReadinessFailing"
	WhyContainerTerminated = "ContainerTerminated"
	WhyStarting            = "Starting"
	WhyReadinessGates      = "ReadinessGatesNotReady"
	WhyContainerWaiting    = "ContainerWaiting"
	WhyPending             = "Pending"
	// WhyNodeUnschedulable: the scheduler's nodes were cordoned.
	WhyNodeUnschedulable = "NodeUnschedulable"
	// WhyMissing is only a rollout's: the pod it waits on does not exist.
	WhyMissing            = "Missing"
	WhyNotReady           = "NotReady"
	WhyUnschedulableOther = "Unschedulable"
	// WhyClaimPending: not yet placed, the scheduler waiting for a PersistentVolumeClaim
	// of the pod to be provisioned or bound (a claim the scheduler has picked a node for,
	// or one with Immediate binding; not a WaitForFirstConsumer claim still waiting for
	// the scheduler itself).
	WhyClaimPending = "ClaimPending"
)

// Scheduling reasons: the categories of the scheduler's "0/N nodes are available: ..."
// message, in the order they win when several apply. The scheduler counts each node
// under the first filter it fails, in this order: cordoned, taints, node affinity,
// resources, then volumes and spreading. So a message names nodes that were never
// candidates too (other workloads' tainted node groups, nodes the pod's selector leaves
// out; those categories come last), and a zonal volume's own zone shows under what
// stopped its nodes (full, cordoned) while the other zones' nodes show under the
// volume's node affinity: capacity and cordoned nodes come before the volume, which wins
// when nothing else stopped the nodes it allows.
var schedulingCategories = []struct {
	reason   string
	messages []string // substrings of the scheduler's per-node reasons (kube-scheduler v1.37)
}{
	{"InsufficientCPU", []string{"Insufficient cpu"}},
	{"InsufficientMemory", []string{"Insufficient memory"}},
	{"InsufficientPods", []string{"Too many pods"}},
	{"InsufficientResources", []string{"Insufficient "}},
	{WhyNodeUnschedulable, []string{"node(s) were unschedulable"}},
	{"VolumeNodeAffinityConflict", []string{"didn't match PersistentVolume's node affinity", "volume node affinity conflict", "had no available volume zone"}},
	{"UnboundImmediateClaims", []string{"pod has unbound immediate PersistentVolumeClaims"}},
	{"VolumeUnavailable", []string{"didn't find available persistent volumes to bind", "bound to non-existent pv", "did not have enough free storage",
		"exceed max volume count", "ReadWriteOncePod access mode already in-use", "had no available disk"}},
	{"PodAffinity", []string{"pod affinity rules", "pod anti-affinity rules", "existing pods anti-affinity rules"}},
	{"TopologySpread", []string{"topology spread constraints"}},
	{"UntoleratedTaint", []string{"untolerated taint", "had taints that the pod didn't tolerate"}},
	{"NodeAffinity", []string{"didn't match Pod's node affinity", "didn't match the requested node name", "didn't match scheduler-enforced node affinity"}},
}

// SchedulingReasons are the values of PodWhy.Reason for an unschedulable pod.
var SchedulingReasons = func() []string {
	out := make([]string, 0, len(schedulingCategories)+1)
	for _, c := range schedulingCategories {
		out = append(out, c.reason)
	}
	return append(out, WhyUnschedulableOther)
}()

var knownSchedulingReasons = setOf(SchedulingReasons)

// WhyReasons are every value of PodWhy.Reason.
var WhyReasons = slices.Concat([]string{WhyTerminating, WhyFailed, WhyEvicted, WhySucceeded, WhyNodeNotReady, WhyNodeUnreachable,
	WhyNodeMissing, WhySchedulingGated, WhyClaimPending, WhyInitContainer, WhyContainerTerminated, WhyStarting, WhyReadinessFailing, WhyReadinessGates, WhyContainerWaiting, WhyPending, WhyNotReady},
	SchedulingReasons, WaitingReasons)

// TerminationReasons are the container termination reasons kept in
// PodWhy.LastTermination; any other is "Other".
var TerminationReasons = []string{"OOMKilled", "Error", "Completed", "ContainerCannotRun", "DeadlineExceeded", "StartError"}

// podWhy says why a pod is not Ready, or returns false for a Ready pod that is not
// terminating. The checks go from the pod's lifecycle (deleted, finished) through
// scheduling and the node to the containers, the order in which each stage gates the
// next.
//
// claimPending tells whether a claim of the pod's volumes is Pending; cordonedCandidate
// whether a cordoned node would take the pod but for the cordon (nil: unknown).
func podWhy(p *Pod, node *Node, nodeKnown bool, claimPending func(claim string) bool, cordonedCandidate func(*Pod) bool) (PodWhy, bool) {
	why := PodWhy{Pod: p.GetName()}
	st := p.conditions()
	switch {
	case p.Terminating():
		why.Reason = WhyTerminating
		return why, true
	case podReady(p):
		return why, false
	case st.phase == corev1.PodFailed:
		why.Reason = WhyFailed
		if st.reason == "Evicted" {
			why.Reason = WhyEvicted
		}
		return why, true
	case st.phase == corev1.PodSucceeded:
		why.Reason = WhySucceeded
		return why, true
	}
	if p.NodeName() == "" {
		why.Reason = schedulingWhy(p, cordonedCandidate)
		if why.Reason == WhyPending && podClaimPending(p, claimPending) {
			why.Reason = WhyClaimPending
		}
		return why, true
	}
	if nodeKnown {
		switch nodeStatus(node) {
		case nodeNotReady:
			why.Reason = WhyNodeNotReady
			return why, true
		case nodeUnreachable:
			why.Reason = WhyNodeUnreachable
			return why, true
		case nodeMissing:
			why.Reason = WhyNodeMissing
			return why, true
		}
	}
	containerWhy(p, &why)
	return why, true
}

// schedulingWhy categorises the PodScheduled condition of a pod without a node;
// cordonedCandidate as for servedSchedulingReason.
func schedulingWhy(p *Pod, cordonedCandidate func(*Pod) bool) string {
	if c := p.conditions().scheduled; c.present && c.status == corev1.ConditionFalse {
		switch c.reason {
		case corev1.PodReasonSchedulingGated:
			return WhySchedulingGated
		case corev1.PodReasonUnschedulable:
			return servedSchedulingReason(p, c.message, cordonedCandidate)
		}
	}
	if p.spec.Gated {
		return WhySchedulingGated
	}
	return WhyPending
}

// SchedulingCategory returns the scheduling reason of a scheduler message such as
// "0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint(s).
// preemption: ...": the first of SchedulingCategories.
func SchedulingCategory(message string) string {
	return SchedulingCategories(message)[0]
}

// SchedulingCategories returns every category of schedulingCategories the node reasons
// of a scheduler message match, in rank order, or Unschedulable when none does. The
// preemption part is left out: it repeats why preemption would not help.
//
// A message that already is such a list, joined with ",", as the exporter's informer
// cache keeps it, is returned as it is.
func SchedulingCategories(message string) []string {
	if parts := strings.Split(message, ","); !slices.ContainsFunc(parts, func(p string) bool { return !knownSchedulingReasons[p] }) {
		return parts
	}
	message, _, _ = strings.Cut(message, " preemption:")
	var out []string
	for _, c := range schedulingCategories {
		if slices.ContainsFunc(c.messages, func(m string) bool { return strings.Contains(message, m) }) {
			out = append(out, c.reason)
		}
	}
	if len(out) == 0 {
		return []string{WhyUnschedulableOther}
	}
	return out
}

// servedSchedulingReason is the reason of an unschedulable pod: the first category of
// the scheduler's message, except that cordoned nodes count only when one of them would
// take the pod but for the cordon. The scheduler counts each node under the first filter
// it fails, and the cordon comes first: a node group being replaced would otherwise hide
// the real reason of every unrelated pending pod. cordonedCandidate is nil when unknown.
func servedSchedulingReason(p *Pod, message string, cordonedCandidate func(*Pod) bool) string {
	categories := SchedulingCategories(message)
	if categories[0] == WhyNodeUnschedulable && len(categories) > 1 && cordonedCandidate != nil && !cordonedCandidate(p) {
		return categories[1]
	}
	return categories[0]
}

// podClaimPending tells whether one of the pod's claims is Pending for its provisioner
// or binder. The scheduler keeps such a pod without a PodScheduled condition while the
// claim's volume is provisioned for the node it picked (WaitForFirstConsumer).
func podClaimPending(p *Pod, claimPending func(string) bool) bool {
	pending := false
	p.claimNames(func(name string) bool {
		pending = claimPending(name)
		return !pending
	})
	return pending
}

// containerWhy fills in why a scheduled pod on a healthy node is not Ready, following
// the kubelet: init containers first (one waiting, then a regular one still running;
// a sidecar, restartPolicy Always, runs for the pod's life), then the containers (one
// waiting, one that exited, one whose startup or readiness probe has not passed), then
// the readiness gates.
func containerWhy(p *Pod, why *PodWhy) {
	// An init container that has not started yet waits with the kubelet's default
	// reason, PodInitializing, while an earlier one runs: the running one is the reason.
	for _, c := range p.initStates() {
		if st := c.Value(); st.waitingSet && st.waiting != podReasonInitializing {
			waitingWhy(st, why)
			return
		}
	}
	for _, c := range p.initStates() {
		if st := c.Value(); st.running && !slices.Contains(p.spec.Sidecars, st.name) {
			why.Reason, why.Container = WhyInitContainer, st.name
			return
		}
	}
	// Init containers first, then the containers.
	for _, c := range p.allStates() {
		if st := c.Value(); st.waitingSet {
			waitingWhy(st, why)
			return
		}
	}
	if p.phase() == corev1.PodPending {
		why.Reason = WhyPending
		return
	}
	for _, c := range p.states() {
		if st := c.Value(); st.terminatedSet {
			// Exited, before the kubelet restarts it or puts it in back-off.
			why.Reason, why.Container, why.LastTermination = WhyContainerTerminated, st.name, terminationReason(st.terminated)
			return
		}
	}
	for _, c := range p.states() {
		if st := c.Value(); st.running && !st.ready {
			why.Reason, why.Container = WhyReadinessFailing, st.name
			if st.startedSet && !st.started {
				why.Reason = WhyStarting
			}
			why.LastTermination = lastTermination(st)
			return
		}
	}
	if c := p.conditions().ready; c.present && c.reason == podReasonReadinessGates {
		why.Reason = WhyReadinessGates
		return
	}
	why.Reason = WhyNotReady
}

// podReasonReadinessGates is the kubelet's reason on the Ready condition of a pod whose
// containers are ready but a readiness gate is not.
const podReasonReadinessGates = "ReadinessGatesNotReady"

// podReasonInitializing is the kubelet's waiting reason of a container that has not been
// started because the pod's init containers have not finished (init containers included).
const podReasonInitializing = "PodInitializing"

func waitingWhy(c containerState, why *PodWhy) {
	why.Reason, why.Container = WhyContainerWaiting, c.name
	if knownWaitingReasons[c.waiting] {
		why.Reason = c.waiting
	}
	why.LastTermination = lastTermination(c)
}

var knownTerminationReasons = setOf(TerminationReasons)

func lastTermination(c containerState) string {
	if c.lastTerminatedSet {
		return terminationReason(c.lastTerminated)
	}
	return ""
}

func terminationReason(reason string) string {
	if knownTerminationReasons[reason] {
		return reason
	}
	return "Other"
}
