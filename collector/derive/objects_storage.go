package derive

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// PVC is what the derivations read of a PersistentVolumeClaim (see compact.go): its
// bound volume, creation time, owner references to StatefulSets and pods (the claim
// retention policy's), and interned its phase, storage class, whether a node is selected
// for it, whether its access modes allow a single node, and whether an expansion failed.
type PVC struct {
	objectMeta
	uid     UID
	created stamp
	volume  string
	status  unique.Handle[pvcStatus]
}

type pvcStatus struct {
	phase                          corev1.PersistentVolumeClaimPhase
	class                          string
	hasClass                       bool // a storageClassName, "" included
	selectedNode                   bool // the selected-node annotation is set
	singleNode                     bool // ReadWriteOnce or ReadWriteOncePod
	resizeInfeasible, resizeFailed bool
	// owners are the owner references to StatefulSets and pods, each as kind, name and
	// UID ended by NULs: shared by the claims of a StatefulSet that owns them, and read
	// only when StatefulSets' claim names collide.
	owners string
}

// claimOwner is an owner reference of a claim to a StatefulSet or a pod.
type claimOwner struct {
	kind, name string
	uid        types.UID
}

// PVCFrom returns the compact form of a claim.
func PVCFrom(in *corev1.PersistentVolumeClaim) *PVC {
	out := &PVC{objectMeta: metaOf(&in.ObjectMeta), uid: UIDOf(in.UID), created: stampOf(&in.CreationTimestamp), volume: in.Spec.VolumeName}
	st := pvcStatus{
		phase:            in.Status.Phase,
		hasClass:         in.Spec.StorageClassName != nil,
		selectedNode:     in.Annotations[AnnSelectedNode] != "",
		resizeInfeasible: resizeInfeasible(in.Status.AllocatedResourceStatuses),
		resizeFailed:     slices.ContainsFunc(in.Status.Conditions, resizeErrorCondition),
		singleNode: slices.ContainsFunc(in.Spec.AccessModes, func(m corev1.PersistentVolumeAccessMode) bool {
			return m == corev1.ReadWriteOnce || m == corev1.ReadWriteOncePod
		}),
	}
	if st.hasClass {
		st.class = *in.Spec.StorageClassName
	}
	for _, ref := range in.OwnerReferences {
		if ref.Kind == "StatefulSet" || ref.Kind == "Pod" {
			st.owners += ref.Kind + "\x00" + ref.Name + "\x00" + string(ref.UID) + "\x00"
		}
	}
	out.status = unique.Make(st)
	return out
}

// resizeInfeasible tells whether the driver or the node reported an expansion
// infeasible (the RecoverVolumeExpansionFailure statuses).
func resizeInfeasible(statuses map[corev1.ResourceName]corev1.ClaimResourceStatus) bool {
	for _, s := range statuses {
		if s == corev1.PersistentVolumeClaimControllerResizeInfeasible || s == corev1.PersistentVolumeClaimNodeResizeInfeasible {
			return true
		}
	}
	return false
}

// resizeErrorCondition: the expansion failed in the controller or on the node.
func resizeErrorCondition(c corev1.PersistentVolumeClaimCondition) bool {
	return (c.Type == corev1.PersistentVolumeClaimControllerResizeError || c.Type == corev1.PersistentVolumeClaimNodeResizeError) &&
		c.Status == corev1.ConditionTrue
}

func (c *PVC) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (c *PVC) DeepCopyObject() runtime.Object {
	out := *c
	return &out
}

// Unchanged tells whether old is a PVC equal to c but for its resourceVersion.
func (c *PVC) Unchanged(old any) bool { return unchanged(c, old) }

// GetUID is the claim's UID (see UID).
func (c *PVC) GetUID() types.UID { return c.uid.String() }

// UIDKey is the claim's UID in its compact form.
func (c *PVC) UIDKey() UID { return c.uid }

// Phase is the claim's phase.
func (c *PVC) Phase() corev1.PersistentVolumeClaimPhase { return c.status.Value().phase }

// Created is the claim's creation time.
func (c *PVC) Created() time.Time { return c.created.time() }

// VolumeName is the name of the claim's volume, "" when it has none.
func (c *PVC) VolumeName() string { return c.volume }

func (c *PVC) st() pvcStatus { return c.status.Value() }

func (c *PVC) ownerRefs() []claimOwner {
	f := strings.Split(c.st().owners, "\x00")
	var out []claimOwner
	for i := 0; i+2 < len(f); i += 3 {
		out = append(out, claimOwner{kind: f[i], name: f[i+1], uid: types.UID(f[i+2])})
	}
	return out
}

// PV is what the derivations read of a PersistentVolume (see compact.go): its phase and
// reclaim policy, interned its zone labels (those of the zone keys it was made with) and
// required node affinity, shared by the volumes of a zone, and the claim reference
// (namespace, name, UID) of a Released or Failed volume, the only ones whose claim the
// derivations read. It keeps no UID.
type PV struct {
	objectMeta
	status    unique.Handle[pvStatus]
	placement *pvPlacement
	claim     *claimRef // Released and Failed volumes only
}

type pvStatus struct {
	phase  corev1.PersistentVolumePhase
	policy corev1.PersistentVolumeReclaimPolicy
}

// pvPlacement is what pins a volume to nodes.
type pvPlacement struct {
	Labels   map[string]string    `json:",omitempty"`
	Affinity *corev1.NodeSelector `json:",omitempty"`
}

type claimRef struct {
	namespace unique.Handle[string]
	name      string
	uid       UID
}

var pvPlacements interner[pvPlacement]

// PVFrom returns the compact form of a volume, keeping its labels of labelKeys.
func PVFrom(in *corev1.PersistentVolume, labelKeys []string) *PV {
	out := &PV{objectMeta: metaOf(&in.ObjectMeta)}
	out.status = unique.Make(pvStatus{phase: in.Status.Phase, policy: in.Spec.PersistentVolumeReclaimPolicy})
	if ref := in.Spec.ClaimRef; ref != nil && (in.Status.Phase == corev1.VolumeReleased || in.Status.Phase == corev1.VolumeFailed) {
		out.claim = &claimRef{namespace: intern(ref.Namespace), name: ref.Name, uid: UIDOf(ref.UID)}
	}
	pl := &pvPlacement{}
	for _, k := range labelKeys {
		if v, ok := in.Labels[k]; ok {
			if pl.Labels == nil {
				pl.Labels = map[string]string{}
			}
			pl.Labels[k] = v
		}
	}
	if na := in.Spec.NodeAffinity; na != nil {
		// Whole: the usable nodes of a volume depend on every expression (a
		// hostname-pinned local volume names no zone).
		pl.Affinity = na.Required
	}
	if key, err := json.Marshal(pl); err == nil {
		pl = pvPlacements.intern(string(key), pl)
	}
	out.placement = pl
	return out
}

func (pv *PV) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (pv *PV) DeepCopyObject() runtime.Object {
	out := *pv
	return &out
}

// Unchanged tells whether old is a PV equal to pv but for its resourceVersion.
func (pv *PV) Unchanged(old any) bool { return unchanged(pv, old) }

// Phase is the volume's phase.
func (pv *PV) Phase() corev1.PersistentVolumePhase { return pv.status.Value().phase }

// ClaimRef is the namespace, name and UID of the claim a Released or Failed volume was
// bound to; ok is false for other volumes and those without a claim reference.
func (pv *PV) ClaimRef() (namespace, name string, uid UID, ok bool) {
	if pv.claim == nil {
		return "", "", UID{}, false
	}
	return value(pv.claim.namespace), pv.claim.name, pv.claim.uid, true
}
