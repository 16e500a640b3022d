package collector

import (
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

func derivePVCs(h *health, in statefulSetInputs, view *clusterView) {
	h.pvcsByPhase = make(map[corev1.PersistentVolumeClaimPhase]int, len(pvcPhases))
	for _, phase := range pvcPhases {
		h.pvcsByPhase[phase] = 0
	}
	for _, c := range in.pvcs {
		if _, known := h.pvcsByPhase[c.Status.Phase]; known {
			h.pvcsByPhase[c.Status.Phase]++
		}
		if c.Status.Phase == corev1.ClaimPending {
			h.pendingPVCs = append(h.pendingPVCs, pendingPVC{
				name: c.Name, reason: pendingReason(c, view), created: c.CreationTimestamp.Time,
			})
		}
	}
}

// pendingReason says why a PVC is still Pending.
func pendingReason(c *corev1.PersistentVolumeClaim, view *clusterView) string {
	className := ""
	switch {
	case c.Spec.StorageClassName != nil:
		className = *c.Spec.StorageClassName
	default:
		className = view.defaultStorageClass
	}
	if className == "" {
		return pvcNoStorageClass
	}
	if view.storageClass == nil {
		return pvcOther
	}
	class := view.storageClass(className)
	switch {
	case class == nil:
		return pvcClassNotFound
	case class.Provisioner == noProvisioner:
		return pvcNoProvisioner
	case c.Annotations[annSelectedNode] != "":
		return pvcProvisioning
	case class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return pvcWaitForFirstConsumer
	}
	return pvcProvisioning
}

// podVolumes calls fn for each PVC volume of the pod that is bound to a zone-pinned PV.
func podVolumes(p *corev1.Pod, view *clusterView, fn func(pvc *corev1.PersistentVolumeClaim, zones []string)) {
	if view.pvc == nil || view.pv == nil {
		return
	}
	// Several volumes may mount the same claim; it yields one sample.
	seen := make(map[string]bool, len(p.Spec.Volumes))
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil || seen[v.PersistentVolumeClaim.ClaimName] {
			continue
		}
		seen[v.PersistentVolumeClaim.ClaimName] = true
		pvc := view.pvc(p.Namespace, v.PersistentVolumeClaim.ClaimName)
		if pvc == nil || pvc.Spec.VolumeName == "" {
			continue
		}
		pv := view.pv(pvc.Spec.VolumeName)
		if pv == nil {
			continue
		}
		if zones := volumeZones(pv, view.zoneKeys); len(zones) > 0 {
			fn(pvc, zones)
		}
	}
}

func deriveVolumeZones(h *health, in statefulSetInputs, view *clusterView) {
	for _, p := range in.pods {
		switch {
		case p.Spec.NodeName != "" && view.node != nil:
			node := view.node(p.Spec.NodeName)
			if node == nil {
				continue
			}
			nodeZone := zoneOf(node.Labels, view.zoneKeys)
			if nodeZone == "" {
				continue
			}
			podVolumes(p, view, func(pvc *corev1.PersistentVolumeClaim, zones []string) {
				h.zoneMismatch = append(h.zoneMismatch, volumeZoneSample{
					pod: p.Name, pvc: pvc.Name, volumeZone: strings.Join(zones, ","), nodeZone: nodeZone,
					value: !contains(zones, nodeZone),
				})
			})
		case p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil && view.zoneSchedulable != nil:
			podVolumes(p, view, func(pvc *corev1.PersistentVolumeClaim, zones []string) {
				anyNode := false
				for _, z := range zones {
					anyNode = anyNode || view.zoneSchedulable(z)
				}
				h.zoneWithoutNodes = append(h.zoneWithoutNodes, volumeZoneSample{
					pod: p.Name, pvc: pvc.Name, volumeZone: strings.Join(zones, ","), value: !anyNode,
				})
			})
		}
	}
}

func deriveAttachments(h *health, in statefulSetInputs, view *clusterView) {
	if view.attachments == nil {
		return
	}
	h.attachmentsWatched = true
	// Two attachers may report the same PV on the same node: one sample per labels.
	seen := map[attachmentError]bool{}
	add := func(e attachmentError) {
		if !seen[e] {
			seen[e] = true
			h.attachmentErrors = append(h.attachmentErrors, e)
		}
	}
	for _, c := range in.pvcs {
		if c.Spec.VolumeName == "" {
			continue
		}
		for _, va := range view.attachments(c.Spec.VolumeName) {
			if va.Status.AttachError != nil || va.Status.DetachError != nil {
				h.failingAttachments++
			}
			if va.Status.AttachError != nil {
				add(attachmentError{pvc: c.Name, node: va.Spec.NodeName, operation: "attach"})
			}
			if va.Status.DetachError != nil {
				add(attachmentError{pvc: c.Name, node: va.Spec.NodeName, operation: "detach"})
			}
		}
	}
}

// nodeSchedulable tells whether new pods can land on a node.
func nodeSchedulable(n *corev1.Node) bool {
	return nodeStatus(n) == nodeReady && !n.Spec.Unschedulable
}
