package collector

import (
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// The derivations in this file and the derive_*.go files are pure functions of one
// StatefulSet, its pods and PVCs, a read-only view of the cluster and the time. They
// never call the API and never panic on odd objects, which the fuzz tests check.

// clusterView answers the cross-object questions of a derivation. A nil function means
// the kind is not watched, and the metrics that need it are not exported.
type clusterView struct {
	zoneKeys []string
	node     func(name string) *corev1.Node
	// zoneSchedulable tells whether a zone has a Ready, schedulable node.
	zoneSchedulable func(zone string) bool
	pvc             func(namespace, name string) *corev1.PersistentVolumeClaim
	pv              func(name string) *corev1.PersistentVolume
	storageClass    func(name string) *storagev1.StorageClass
	// defaultStorageClass is the name of the default class, "" when there is none.
	defaultStorageClass string
	attachments         func(pvName string) []*storagev1.VolumeAttachment
	pdbs                func(namespace string) []*policyv1.PodDisruptionBudget
}

// statefulSetInputs is what one derivation reads.
type statefulSetInputs struct {
	set  *appsv1.StatefulSet
	pods []*corev1.Pod
	pvcs []*corev1.PersistentVolumeClaim
}

// health is the derived state of one StatefulSet, the source of every workload sample.
// Pointers and nil slices mean "unknown": no sample.
type health struct {
	namespace, name string

	desired                                    *int32
	current, ready, available, updated         int32
	readyRatio                                 *float64
	generationLag                              int64
	updateStrategy, podManagement, serviceName string

	rollout rolloutHealth

	podsByPhase        map[corev1.PodPhase]int
	waitingByReason    map[string]int
	unschedulable      int
	terminating        int
	stuckTerminating   []stuckPod
	podsOnUnreadyNodes int

	pvcsByPhase map[corev1.PersistentVolumeClaimPhase]int
	pendingPVCs []pendingPVC

	zoneMismatch     []volumeZoneSample
	zoneWithoutNodes []volumeZoneSample
	readyPerZone     map[string]int

	attachmentsWatched bool
	failingAttachments int // VolumeAttachments with an attach or detach error
	attachmentErrors   []attachmentError

	risks map[string]bool
}

type stuckPod struct{ pod, node, nodeStatus string }

type pendingPVC struct {
	name, reason string
	created      time.Time
}

type volumeZoneSample struct {
	pod, pvc, volumeZone, nodeZone string
	value                          bool
}

type attachmentError struct{ pvc, node, operation string }

// Pod phases and PVC phases exported with zeros included.
var (
	podPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
	pvcPhases = []corev1.PersistentVolumeClaimPhase{corev1.ClaimPending, corev1.ClaimBound, corev1.ClaimLost}
)

// derive computes the health of one StatefulSet. prev is the rollout progress remembered
// from the previous derivation (nil the first time); the returned progress replaces it.
func derive(in statefulSetInputs, view *clusterView, prev *rolloutProgress, now time.Time, cfg *Config) (*health, *rolloutProgress) {
	set := in.set
	h := &health{
		namespace:      set.Namespace,
		name:           set.Name,
		desired:        set.Spec.Replicas,
		current:        set.Status.CurrentReplicas,
		ready:          set.Status.ReadyReplicas,
		available:      set.Status.AvailableReplicas,
		updated:        set.Status.UpdatedReplicas,
		generationLag:  set.Generation - set.Status.ObservedGeneration,
		updateStrategy: string(set.Spec.UpdateStrategy.Type),
		podManagement:  string(set.Spec.PodManagementPolicy),
		serviceName:    set.Spec.ServiceName,
	}
	// The API server defaults both; an empty value only comes from objects that were not
	// defaulted, which Kubernetes treats as the defaults.
	if h.updateStrategy == "" {
		h.updateStrategy = string(appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if h.podManagement == "" {
		h.podManagement = string(appsv1.OrderedReadyPodManagement)
	}
	if h.generationLag < 0 {
		h.generationLag = 0
	}
	if d := set.Spec.Replicas; d != nil && *d >= 0 {
		ratio := 1.0
		if *d > 0 {
			ratio = float64(min(max(set.Status.ReadyReplicas, 0), *d)) / float64(*d)
		}
		h.readyRatio = &ratio
	}

	var progress *rolloutProgress
	h.rollout, progress = deriveRollout(in, prev, now, cfg.RolloutStallAfter)
	derivePods(h, in, view, now, cfg.TerminatingStuckAfter)
	derivePVCs(h, in, view)
	deriveVolumeZones(h, in, view)
	deriveAttachments(h, in, view)
	deriveRisks(h, in, view)
	return h, progress
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

// claimBase strips the ordinal from a PVC named <template>-<set>-<ordinal>, giving the
// key that ties it to a StatefulSet.
func claimBase(pvcName string) (string, bool) {
	i := strings.LastIndexByte(pvcName, '-')
	if i <= 0 || i == len(pvcName)-1 || (pvcName[i+1] == '0' && i+2 < len(pvcName)) {
		return "", false
	}
	if _, err := strconv.ParseUint(pvcName[i+1:], 10, 31); err != nil {
		return "", false
	}
	return pvcName[:i], true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podUnschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// knownWaitingReasons are the container waiting reasons exported as label values.
var knownWaitingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "InvalidImageName": true,
	"RunContainerError": true, "ContainerCreating": true, "PodInitializing": true,
}

// waitingReason returns the bounded waiting reason of the first waiting container,
// init containers first, or "" when no container waits.
func waitingReason(p *corev1.Pod) string {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range list {
			if c.State.Waiting == nil {
				continue
			}
			if knownWaitingReasons[c.State.Waiting.Reason] {
				return c.State.Waiting.Reason
			}
			return "other"
		}
	}
	return ""
}

// podReason says in one bounded word why a pod is not serving.
func podReason(p *corev1.Pod) string {
	switch {
	case p == nil:
		return "Missing"
	case p.DeletionTimestamp != nil:
		return "Terminating"
	case p.Status.Phase == corev1.PodFailed:
		return "Failed"
	}
	if r := waitingReason(p); r != "" {
		return r
	}
	switch {
	case podUnschedulable(p):
		return "Unschedulable"
	case p.Status.Phase == corev1.PodPending:
		return "Pending"
	case !podReady(p):
		return "NotReady"
	}
	return "other"
}

// Node status values of the node_status label.
const (
	nodeReady       = "ready"
	nodeNotReady    = "not_ready"
	nodeUnreachable = "unreachable"
	nodeMissing     = "missing"
	nodeUnknown     = "unknown"
)

func nodeStatus(n *corev1.Node) string {
	if n == nil {
		return nodeMissing
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeUnreachable {
			return nodeUnreachable
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return nodeReady
		case corev1.ConditionFalse:
			return nodeNotReady
		default:
			return nodeUnreachable
		}
	}
	return nodeUnknown
}

// zoneOf returns the first configured zone label of a node, "" when it has none.
func zoneOf(labels map[string]string, zoneKeys []string) string {
	for _, k := range zoneKeys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// volumeZones returns the sorted zones a PV is pinned to, or nil when it is not pinned.
// A PV is pinned when every node selector term restricts a zone key with In (terms are
// ORed, so one unrestricted term frees it), or when it carries a zone label.
func volumeZones(pv *corev1.PersistentVolume, zoneKeys []string) []string {
	set := affinityZones(pv, zoneKeys)
	if len(set) == 0 {
		// In-tree volumes carried their zones as a label, several joined with "__".
		for _, k := range zoneKeys {
			for _, z := range strings.Split(pv.Labels[k], "__") {
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
func affinityZones(pv *corev1.PersistentVolume, zoneKeys []string) map[string]bool {
	set := map[string]bool{}
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return set
	}
	for _, term := range na.Required.NodeSelectorTerms {
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
		if e.Operator != corev1.NodeSelectorOpIn || !contains(zoneKeys, e.Key) {
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
