package derive

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Reasons a PVC is Pending (the reason label).
const (
	pvcWaitForFirstConsumer = "WaitForFirstConsumer"
	pvcProvisioning         = "Provisioning"
	pvcNoStorageClass       = "NoStorageClass"
	pvcClassNotFound        = "StorageClassNotFound"
	pvcNoProvisioner        = "NoProvisioner"
	pvcOther                = "Other"
)

const noProvisioner = "kubernetes.io/no-provisioner"

func derivePVCs(h *Health, in Inputs, view *View) {
	h.PVCsByPhase = make(map[corev1.PersistentVolumeClaimPhase]int, len(PVCPhases))
	for _, phase := range PVCPhases {
		h.PVCsByPhase[phase] = 0
	}
	for _, c := range in.PVCs {
		if _, known := h.PVCsByPhase[c.Phase()]; known {
			h.PVCsByPhase[c.Phase()]++
		}
		if claimRetained(in.Set, c.name) {
			// Kept after a scale-down: a cost, never a pending or broken claim.
			h.RetainedPVCs++
			continue
		}
		if c.Phase() == corev1.ClaimPending {
			h.PendingPVCs = append(h.PendingPVCs, PendingPVC{
				Name: c.name, Reason: pendingReason(c, view), Created: c.Created(),
			})
		}
	}
}

// claimRetained tells whether a claim of the StatefulSet belongs to an ordinal outside
// [start, start+replicas): one the controller no longer runs a pod for, kept by the
// claim retention policy (Retain when scaled, the default).
func claimRetained(set *StatefulSet, claim string) bool {
	if set.Spec.Replicas == nil {
		return false
	}
	base, ok := ClaimBase(claim)
	if !ok || !strings.HasSuffix(base, "-"+set.Name) {
		return false
	}
	ordinal, err := strconv.Atoi(claim[len(base)+1:])
	if err != nil {
		return false
	}
	start := 0
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		start = int(set.Spec.Ordinals.Start)
	}
	return ordinal < start || ordinal >= start+int(*set.Spec.Replicas)
}

// pendingReason says why a PVC is still Pending.
func pendingReason(c *PVC, view *View) string {
	st := c.st()
	className := ""
	switch {
	case st.hasClass:
		className = st.class
	default:
		className = view.DefaultClass.Get(DefaultClassKey)
	}
	if className == "" {
		return pvcNoStorageClass
	}
	if view.StorageClass == nil {
		return pvcOther
	}
	class := view.StorageClass.Get(className)
	switch {
	case class == StorageClass{}:
		return pvcClassNotFound
	case class.Provisioner == noProvisioner:
		return pvcNoProvisioner
	case st.selectedNode:
		return pvcProvisioning
	case class.WaitForFirstConsumer:
		return pvcWaitForFirstConsumer
	}
	return pvcProvisioning
}

// podVolumes calls fn for each PVC volume of the pod that is bound to a PV. own are the
// StatefulSet's claims (Inputs.PVCs) by name, taken from there rather than looked up:
// the memo compares them already, and need not keep an answer per claim.
func podVolumes(p *Pod, own map[string]*PVC, view *View, fn func(pvc *PVC, pv *PV)) {
	if view.PVC == nil || view.PV == nil {
		return
	}
	// Several volumes may mount the same claim; it yields one sample.
	seen := make(map[string]bool, len(p.spec.Claims))
	p.claimNames(func(name string) bool {
		if seen[name] {
			return true
		}
		seen[name] = true
		pvc := own[name]
		if pvc == nil {
			pvc = view.PVC.Get(p.GetNamespace() + "/" + name)
		}
		if pvc == nil || pvc.volume == "" {
			return true
		}
		if pv := view.PV.Get(pvc.volume); pv != nil {
			fn(pvc, pv)
		}
		return true
	})
}

func deriveVolumeZones(h *Health, in Inputs, view *View) {
	for _, p := range in.Pods {
		switch {
		case p.NodeName() != "" && view.Node != nil:
			node := view.Node.Get(p.NodeName())
			if node == nil {
				continue
			}
			nodeZone := ZoneOf(node.Labels(), view.ZoneKeys)
			if nodeZone == "" {
				continue
			}
			podVolumes(p, in.claims, view, func(pvc *PVC, pv *PV) {
				if zones := VolumeZones(pv, view.ZoneKeys); len(zones) > 0 && !slices.Contains(zones, nodeZone) {
					h.ZoneMismatch = append(h.ZoneMismatch, VolumeZone{
						Pod: p.GetName(), PVC: pvc.name, VolumeZone: strings.Join(zones, ","), NodeZone: nodeZone,
					})
				}
			})
		case awaitsScheduling(p) && view.UsableNode != nil:
			podVolumes(p, in.claims, view, func(pvc *PVC, pv *PV) {
				key := UsableNodeKey(p, pv)
				if key == "" || view.UsableNode.Get(key) {
					return
				}
				h.NoUsableNode = append(h.NoUsableNode, VolumeZone{
					Pod: p.GetName(), PVC: pvc.name, VolumeZone: strings.Join(VolumeZones(pv, view.ZoneKeys), ","),
				})
			})
		}
	}
}

// awaitsScheduling tells whether the scheduler is trying to place a pod: Pending,
// without a node, not terminating and not held by scheduling gates.
func awaitsScheduling(p *Pod) bool {
	return p.NodeName() == "" && p.phase() == corev1.PodPending && !p.Terminating() &&
		schedulingWhy(p, nil) != WhySchedulingGated
}

func deriveAttachments(h *Health, in Inputs, view *View) {
	if view.Attachments == nil {
		return
	}
	// Two attachers may report the same PV on the same Node: one sample per labels.
	seen := map[AttachmentError]bool{}
	add := func(e AttachmentError) {
		if !seen[e] {
			seen[e] = true
			h.AttachmentErrors = append(h.AttachmentErrors, e)
		}
	}
	deriveAttachedElsewhere(h, in, view)
	for _, c := range in.PVCs {
		if c.volume == "" {
			continue
		}
		for _, va := range view.Attachments.Get(c.volume) {
			if va.Status.AttachError != nil {
				add(AttachmentError{PVC: c.name, Node: va.Spec.NodeName, Operation: "attach"})
			}
			if va.Status.DetachError != nil {
				add(AttachmentError{PVC: c.name, Node: va.Spec.NodeName, Operation: "detach"})
			}
		}
	}
}

// deriveAttachedElsewhere finds the pods whose single-node volume is attached to
// another node than theirs: the Multi-Attach situation, where the attach-detach
// controller will not attach the volume to the pod's node until it is detached from the
// other, typically a dead node that never unmounts it.
func deriveAttachedElsewhere(h *Health, in Inputs, view *View) {
	claims := in.claims
	for _, p := range in.Pods {
		if p.NodeName() == "" || p.Terminating() {
			continue
		}
		p.claimNames(func(name string) bool {
			c := claims[name]
			if c == nil || c.volume == "" || !c.st().singleNode {
				return true
			}
			for _, va := range view.Attachments.Get(c.volume) {
				if va.Status.Attached && va.Spec.NodeName != p.NodeName() {
					h.AttachedElsewhere = append(h.AttachedElsewhere, AttachedElsewhere{
						Pod: p.GetName(), PVC: c.name, Node: p.NodeName(), AttachedNode: va.Spec.NodeName})
				}
			}
			return true
		})
	}
}

func claimsByName(claims []*PVC) map[string]*PVC {
	m := make(map[string]*PVC, len(claims))
	for _, c := range claims {
		m[c.name] = c
	}
	return m
}
