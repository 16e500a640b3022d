package derive

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Reasons a PVC is Pending (the reason label).
const (
	pvcWaitForFirstConsumer = "wait_for_first_consumer"
	pvcProvisioning         = "provisioning"
	pvcNoStorageClass       = "no_storage_class"
	pvcClassNotFound        = "storage_class_not_found"
	pvcNoProvisioner        = "no_provisioner"
	pvcOther                = "other"
)

const noProvisioner = "kubernetes.io/no-provisioner"

func derivePVCs(h *Health, in Inputs, view *View) {
	h.PVCsByPhase = make(map[corev1.PersistentVolumeClaimPhase]int, len(PVCPhases))
	for _, phase := range PVCPhases {
		h.PVCsByPhase[phase] = 0
	}
	for _, c := range in.PVCs {
		if _, known := h.PVCsByPhase[c.Status.Phase]; known {
			h.PVCsByPhase[c.Status.Phase]++
		}
		if c.Status.Phase == corev1.ClaimPending {
			h.PendingPVCs = append(h.PendingPVCs, PendingPVC{
				Name: c.Name, Reason: pendingReason(c, view), Created: c.CreationTimestamp.Time,
			})
		}
	}
}

// pendingReason says why a PVC is still Pending.
func pendingReason(c *corev1.PersistentVolumeClaim, view *View) string {
	className := ""
	switch {
	case c.Spec.StorageClassName != nil:
		className = *c.Spec.StorageClassName
	default:
		className = view.DefaultStorageClass
	}
	if className == "" {
		return pvcNoStorageClass
	}
	if view.StorageClass == nil {
		return pvcOther
	}
	class := view.StorageClass.Get(className)
	switch {
	case class == nil:
		return pvcClassNotFound
	case class.Provisioner == noProvisioner:
		return pvcNoProvisioner
	case c.Annotations[AnnSelectedNode] != "":
		return pvcProvisioning
	case class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return pvcWaitForFirstConsumer
	}
	return pvcProvisioning
}

// podVolumes calls fn for each PVC volume of the pod that is bound to a zone-pinned PV.
func podVolumes(p *corev1.Pod, view *View, fn func(pvc *corev1.PersistentVolumeClaim, zones []string)) {
	if view.PVC == nil || view.PV == nil {
		return
	}
	// Several volumes may mount the same claim; it yields one sample.
	seen := make(map[string]bool, len(p.Spec.Volumes))
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil || seen[v.PersistentVolumeClaim.ClaimName] {
			continue
		}
		seen[v.PersistentVolumeClaim.ClaimName] = true
		pvc := view.PVC.Get(p.Namespace + "/" + v.PersistentVolumeClaim.ClaimName)
		if pvc == nil || pvc.Spec.VolumeName == "" {
			continue
		}
		pv := view.PV.Get(pvc.Spec.VolumeName)
		if pv == nil {
			continue
		}
		if zones := VolumeZones(pv, view.ZoneKeys); len(zones) > 0 {
			fn(pvc, zones)
		}
	}
}

func deriveVolumeZones(h *Health, in Inputs, view *View) {
	for _, p := range in.Pods {
		switch {
		case p.Spec.NodeName != "" && view.Node != nil:
			node := view.Node.Get(p.Spec.NodeName)
			if node == nil {
				continue
			}
			nodeZone := ZoneOf(node.Labels, view.ZoneKeys)
			if nodeZone == "" {
				continue
			}
			podVolumes(p, view, func(pvc *corev1.PersistentVolumeClaim, zones []string) {
				h.ZoneMismatch = append(h.ZoneMismatch, VolumeZone{
					Pod: p.Name, PVC: pvc.Name, VolumeZone: strings.Join(zones, ","), NodeZone: nodeZone,
					Value: !slices.Contains(zones, nodeZone),
				})
			})
		case p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil && view.ZoneSchedulable != nil:
			podVolumes(p, view, func(pvc *corev1.PersistentVolumeClaim, zones []string) {
				anyNode := false
				for _, z := range zones {
					anyNode = anyNode || view.ZoneSchedulable.Get(z)
				}
				h.ZoneWithoutNodes = append(h.ZoneWithoutNodes, VolumeZone{
					Pod: p.Name, PVC: pvc.Name, VolumeZone: strings.Join(zones, ","), Value: !anyNode,
				})
			})
		}
	}
}

func deriveAttachments(h *Health, in Inputs, view *View) {
	if view.Attachments == nil {
		return
	}
	h.AttachmentsWatched = true
	// Two attachers may report the same PV on the same Node: one sample per labels.
	seen := map[AttachmentError]bool{}
	add := func(e AttachmentError) {
		if !seen[e] {
			seen[e] = true
			h.AttachmentErrors = append(h.AttachmentErrors, e)
		}
	}
	for _, c := range in.PVCs {
		if c.Spec.VolumeName == "" {
			continue
		}
		for _, va := range view.Attachments.Get(c.Spec.VolumeName) {
			if va.Status.AttachError != nil || va.Status.DetachError != nil {
				h.FailingAttachments++
			}
			if va.Status.AttachError != nil {
				add(AttachmentError{PVC: c.Name, Node: va.Spec.NodeName, Operation: "attach"})
			}
			if va.Status.DetachError != nil {
				add(AttachmentError{PVC: c.Name, Node: va.Spec.NodeName, Operation: "detach"})
			}
		}
	}
}

// NodeSchedulable tells whether new pods can land on a node.
func NodeSchedulable(n *corev1.Node) bool {
	return nodeStatus(n) == nodeReady && !n.Spec.Unschedulable
}
