package derive

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Inputs is what one derivation reads of its own StatefulSet.
type Inputs struct {
	Set  *StatefulSet
	Pods []*Pod // sorted by name
	PVCs []*PVC // sorted by name
	// ReleasedVolumes are the PersistentVolumes in phase Released or Failed whose claim
	// reference names one of the StatefulSet's claims, sorted by name: what earlier
	// claims of those names left behind.
	ReleasedVolumes []*PV

	claims map[string]*PVC // PVCs by name, made by Derive
}

// Thresholds are the durations after which a state counts as broken.
type Thresholds struct {
	// RolloutStallAfter is how long an in-progress rollout may go without progress.
	RolloutStallAfter time.Duration
	// TerminatingStuckAfter is the time past a pod's deletion timestamp after which a
	// terminating pod counts as stuck.
	TerminatingStuckAfter time.Duration
	// RecentTerminationWindow is how long after a container's last termination finished
	// it is listed in Health.RecentTerminations; 0 lists none.
	RecentTerminationWindow time.Duration
}

// Health is the derived state of one StatefulSet, the source of every workload sample.
// Pointers and nil slices mean "unknown": no sample.
type Health struct {
	Namespace, Name string

	Desired                                    *int32
	Current, Ready, Available, Updated         int32
	ReadyRatio                                 *float64
	GenerationLag                              int64
	UpdateStrategy, PodManagement, ServiceName string

	Rollout RolloutHealth

	PodsByPhase        map[corev1.PodPhase]int
	WaitingByReason    map[string]int
	Unschedulable      int
	Terminating        int
	StuckTerminating   []StuckPod
	PodsOnUnreadyNodes int
	// NotReady says why each pod that is not Ready, or is terminating, is so; in pod
	// name order.
	NotReady []PodWhy
	// RecentTerminations are the containers whose last termination finished within
	// Thresholds.RecentTerminationWindow; in pod name order, then container order.
	RecentTerminations []Termination

	PVCsByPhase map[corev1.PersistentVolumeClaimPhase]int
	PendingPVCs []PendingPVC
	// RetainedPVCs are claims of ordinals outside the replica range, kept after a
	// scale-down; they are in PVCsByPhase, never in PendingPVCs.
	RetainedPVCs int
	// ClaimProblems are the claims and left-behind volumes in a state that needs a
	// human, sorted.
	ClaimProblems []ClaimProblem

	// ZoneMismatch are the claims of scheduled pods whose node is outside their volume's
	// zones; NoUsableNode those of unscheduled pods whose volume has no node it can be
	// used on (see UsableNodeKey).
	ZoneMismatch []VolumeZone
	NoUsableNode []VolumeZone
	ReadyPerZone map[string]int

	AttachmentErrors  []AttachmentError
	AttachedElsewhere []AttachedElsewhere

	Risks map[string]bool
}

// StuckPod is a pod terminating for too long, with its node and the node's status.
type StuckPod struct{ Pod, Node, NodeStatus string }

// PendingPVC is a Pending claim, with why it is Pending.
type PendingPVC struct {
	Name, Reason string
	Created      time.Time
}

// VolumeZone is a pod's claim in one of the volume placement situations of Health, with
// the zones its volume is pinned to ("" when none) and, when scheduled, its node's zone.
type VolumeZone struct{ Pod, PVC, VolumeZone, NodeZone string }

// AttachmentError is a failing VolumeAttachment of one of the StatefulSet's claims.
type AttachmentError struct{ PVC, Node, Operation string }

// AttachedElsewhere is a running pod whose single-node volume is attached to another
// node (Multi-Attach).
type AttachedElsewhere struct{ Pod, PVC, Node, AttachedNode string }

// Pod phases and PVC phases, in the order they are exported.
var (
	PodPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
	PVCPhases = []corev1.PersistentVolumeClaimPhase{corev1.ClaimPending, corev1.ClaimBound, corev1.ClaimLost}
)

// Derive computes the health of one StatefulSet. prev is the rollout progress remembered
// from the previous derivation (nil the first time); the returned progress replaces it.
//
// Derivations are pure functions of one StatefulSet, its pods and claims, a read-only
// view of the cluster and the time. They never call the API and never panic on odd
// objects, which the fuzz tests check.
func Derive(in Inputs, view *View, prev *Progress, now time.Time, th Thresholds) (*Health, *Progress) {
	set := in.Set
	in.claims = claimsByName(in.PVCs)
	h := &Health{
		Namespace:      set.Namespace,
		Name:           set.Name,
		Desired:        set.Spec.Replicas,
		Current:        set.Status.CurrentReplicas,
		Ready:          set.Status.ReadyReplicas,
		Available:      set.Status.AvailableReplicas,
		Updated:        set.Status.UpdatedReplicas,
		GenerationLag:  set.Generation - set.Status.ObservedGeneration,
		UpdateStrategy: string(set.Spec.UpdateStrategy.Type),
		PodManagement:  string(set.Spec.PodManagementPolicy),
		ServiceName:    set.Spec.ServiceName,
	}
	// The API server defaults both; an empty value only comes from objects that were not
	// defaulted, which Kubernetes treats as the defaults.
	if h.UpdateStrategy == "" {
		h.UpdateStrategy = string(appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if h.PodManagement == "" {
		h.PodManagement = string(appsv1.OrderedReadyPodManagement)
	}
	if h.GenerationLag < 0 {
		h.GenerationLag = 0
	}
	if d := set.Spec.Replicas; d != nil && *d >= 0 {
		ratio := 1.0
		if *d > 0 {
			ratio = float64(min(max(set.Status.ReadyReplicas, 0), *d)) / float64(*d)
		}
		h.ReadyRatio = &ratio
	}

	var progress *Progress
	h.Rollout, progress = deriveRollout(in, prev, now, th.RolloutStallAfter)
	derivePods(h, in, view, now, th)
	explainBlockingPod(h)
	derivePVCs(h, in, view)
	deriveClaimProblems(h, in)
	deriveVolumeZones(h, in, view)
	deriveAttachments(h, in, view)
	deriveRisks(h, in, view)
	return h, progress
}

// explainBlockingPod gives the pod a rollout waits on the reason the pod's own
// derivation found, so a rollout and the per-pod reasons never disagree.
func explainBlockingPod(h *Health) {
	b := h.Rollout.Blocking
	if b == nil {
		return
	}
	b.Reason = WhyMissing
	for _, w := range h.NotReady {
		if w.Pod == b.Pod {
			b.Reason = w.Reason
			return
		}
	}
}

// podOrdinal returns the ordinal of a pod named <set>-<ordinal>.
func podOrdinal(setName, podName string) (int, bool) {
	rest, ok := strings.CutPrefix(podName, setName+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') || rest[0] < '0' || rest[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// ClaimBase strips the ordinal from a PVC named <template>-<set>-<ordinal>, giving the
// key that ties it to a StatefulSet.
func ClaimBase(pvcName string) (string, bool) {
	i := strings.LastIndexByte(pvcName, '-')
	if i <= 0 || i == len(pvcName)-1 || (pvcName[i+1] == '0' && i+2 < len(pvcName)) {
		return "", false
	}
	if _, err := strconv.ParseUint(pvcName[i+1:], 10, 31); err != nil {
		return "", false
	}
	return pvcName[:i], true
}

func podReady(p *Pod) bool {
	c := p.conditions().ready
	return c.present && c.status == corev1.ConditionTrue
}

func podUnschedulable(p *Pod) bool {
	c := p.conditions().scheduled
	return c.present && c.status == corev1.ConditionFalse && c.reason == corev1.PodReasonUnschedulable
}

// WaitingReasons are the container waiting reasons kept as label values; any other is
// WaitingOther.
var WaitingReasons = []string{
	"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
	"CreateContainerConfigError", "CreateContainerError", "InvalidImageName",
	"RunContainerError", "ContainerCreating", "PodInitializing",
}

// WaitingOther stands for any waiting reason outside WaitingReasons.
const WaitingOther = "Other"

var knownWaitingReasons = setOf(WaitingReasons)

// waitingReason returns the bounded waiting reason of the first waiting container,
// init containers first, or "" when no container waits.
func waitingReason(p *Pod) string {
	for _, c := range p.allStates() {
		st := c.Value()
		if !st.waitingSet {
			continue
		}
		if knownWaitingReasons[st.waiting] {
			return st.waiting
		}
		return WaitingOther
	}
	return ""
}

// Node status values of the node_status label.
const (
	nodeReady       = "ready"
	nodeNotReady    = "not_ready"
	nodeUnreachable = "unreachable"
	nodeMissing     = "missing"
	nodeUnknown     = "unknown"
)

func nodeStatus(n *Node) string {
	if n == nil {
		return nodeMissing
	}
	for _, t := range n.Taints() {
		if t.Key == corev1.TaintNodeUnreachable {
			return nodeUnreachable
		}
	}
	status, ok := n.Ready()
	switch {
	case !ok:
		return nodeUnknown
	case status == corev1.ConditionTrue:
		return nodeReady
	case status == corev1.ConditionFalse:
		return nodeNotReady
	default:
		return nodeUnreachable
	}
}

// ZoneOf returns the first configured zone label of a node, "" when it has none.
func ZoneOf(labels map[string]string, zoneKeys []string) string {
	for _, k := range zoneKeys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// VolumeZones returns the sorted zones a PV is pinned to, or nil when it is not pinned.
// A PV is pinned when every node selector term restricts a zone key with In (terms are
// ORed, so one unrestricted term frees it), or when it carries a zone label.
func VolumeZones(pv *PV, zoneKeys []string) []string {
	set := affinityZones(pv, zoneKeys)
	if len(set) == 0 {
		// In-tree volumes carried their zones as a label, several joined with "__".
		for _, k := range zoneKeys {
			for _, z := range strings.Split(pv.placement.Labels[k], "__") {
				if z != "" {
					set[z] = true
				}
			}
			if len(set) > 0 {
				break
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	zones := make([]string, 0, len(set))
	for z := range set {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	return zones
}

// affinityZones returns the union of the zones the PV's node selector terms allow, or an
// empty set when some term leaves the zone free.
func affinityZones(pv *PV, zoneKeys []string) map[string]bool {
	set := map[string]bool{}
	required := pv.placement.Affinity
	if required == nil {
		return set
	}
	for _, term := range required.NodeSelectorTerms {
		termZones := termZoneValues(term, zoneKeys)
		if termZones == nil {
			return map[string]bool{}
		}
		for _, z := range termZones {
			set[z] = true
		}
	}
	return set
}

// termZoneValues returns the zones one node selector term allows, nil when the term does
// not restrict the zone. Expressions within a term are ANDed, so several zone
// expressions intersect.
func termZoneValues(term corev1.NodeSelectorTerm, zoneKeys []string) []string {
	var allowed map[string]bool
	for _, e := range term.MatchExpressions {
		if e.Operator != corev1.NodeSelectorOpIn || !slices.Contains(zoneKeys, e.Key) {
			continue
		}
		values := map[string]bool{}
		for _, v := range e.Values {
			if v != "" && (allowed == nil || allowed[v]) {
				values[v] = true
			}
		}
		allowed = values
	}
	if allowed == nil {
		return nil
	}
	out := make([]string, 0, len(allowed))
	for z := range allowed {
		out = append(out, z)
	}
	return out
}

// setOf returns the set of a closed list of label values.
func setOf(values []string) map[string]bool {
	m := make(map[string]bool, len(values))
	for _, v := range values {
		m[v] = true
	}
	return m
}
