package collector

import "github.com/statefulset-exporter/statefulset-exporter/collector/derive"

var storageFamilies = []family[*derive.Health]{
	gauge("statefulset_pvcs", "PVCs of the StatefulSet by phase; phases without claims have no series.", []string{"phase"},
		func(h *derive.Health, out *sampleOut) {
			for _, phase := range derive.PVCPhases {
				if n := h.PVCsByPhase[phase]; n > 0 {
					out.add(float64(n), string(phase))
				}
			}
		}),
	gauge("statefulset_pvcs_retained", "PVCs of ordinals outside the replica range, kept after a scale-down by the claim retention policy.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.RetainedPVCs)) }),
	gauge("statefulset_pvc_pending_created_timestamp_seconds", "Creation time of each Pending PVC, with why it is Pending.",
		[]string{"persistentvolumeclaim", "reason"},
		func(h *derive.Health, out *sampleOut) {
			for _, p := range h.PendingPVCs {
				if !p.Created.IsZero() {
					out.add(unixSeconds(p.Created), p.Name, p.Reason)
				}
			}
		}),
	gauge("statefulset_pod_volume_zone_mismatch_info", "A scheduled pod whose node is outside its volume's zones; always 1.",
		[]string{"pod", "persistentvolumeclaim", "volume_zone", "node_zone"},
		func(h *derive.Health, out *sampleOut) {
			for _, s := range h.ZoneMismatch {
				out.add(1, s.Pod, s.PVC, s.VolumeZone, s.NodeZone)
			}
		}),
	gauge("statefulset_pod_volume_no_usable_node_info", "An unscheduled pod whose bound volume has no usable node (Ready, not cordoned, matching the volume's and the pod's node affinity, taints tolerated); always 1.",
		[]string{"pod", "persistentvolumeclaim", "volume_zone"},
		func(h *derive.Health, out *sampleOut) {
			for _, s := range h.NoUsableNode {
				out.add(1, s.Pod, s.PVC, s.VolumeZone)
			}
		}),
	gauge("statefulset_pods_ready_per_zone", "Ready pods per node zone.", []string{"node_zone"},
		func(h *derive.Health, out *sampleOut) {
			for _, zone := range sortedKeys(h.ReadyPerZone) {
				out.add(float64(h.ReadyPerZone[zone]), zone)
			}
		}),
	gauge("statefulset_ready_zones", "Distinct node zones with a Ready pod.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(len(h.ReadyPerZone))) }),
	gauge("statefulset_pod_volume_attached_elsewhere_info", "A running pod whose single-node volume is attached to another node (Multi-Attach); always 1.",
		[]string{"pod", "persistentvolumeclaim", "node", "attached_node"},
		func(h *derive.Health, out *sampleOut) {
			for _, a := range h.AttachedElsewhere {
				out.add(1, a.Pod, a.PVC, a.Node, a.AttachedNode)
			}
		}),
	gauge("statefulset_volume_attachment_error_info", "A failing VolumeAttachment of the StatefulSet; always 1.",
		[]string{"persistentvolumeclaim", "node", "operation"},
		func(h *derive.Health, out *sampleOut) {
			for _, e := range h.AttachmentErrors {
				out.add(1, e.PVC, e.Node, e.Operation)
			}
		}),
}

// bindDurationFamilies come from the bind-duration tracker, one histogram per
// StatefulSet.
var bindDurationFamilies = []family[*bindDurations]{
	histogramFamily("statefulset_pvc_bind_duration_seconds", "Pending to Bound durations of the StatefulSet's PVCs observed by the exporter.", workloadLabels,
		func(t *bindDurations, out *sampleOut) {
			t.eachHistogram(func(namespace, name string, h *bindHistogram) {
				buckets := make(map[float64]uint64, len(bindBuckets))
				for i, bound := range bindBuckets {
					buckets[bound] = h.buckets[i]
				}
				out.addHistogram(h.count, h.sum, buckets, namespace, name)
			})
		}),
}
