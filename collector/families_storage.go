package collector

var storageFamilies = []family{
	gauge("statefulset_pvcs", "PVCs of the StatefulSet by phase.", []string{"phase"},
		func(h *health, add func(float64, ...string)) {
			for _, phase := range pvcPhases {
				add(float64(h.pvcsByPhase[phase]), string(phase))
			}
		}),
	gauge("statefulset_pvc_pending_created_timestamp_seconds", "Creation time of each Pending PVC, with why it is Pending.",
		[]string{"persistentvolumeclaim", "reason"},
		func(h *health, add func(float64, ...string)) {
			for _, p := range h.pendingPVCs {
				if !p.created.IsZero() {
					add(float64(p.created.UnixNano())/1e9, p.name, p.reason)
				}
			}
		}),
	gauge("statefulset_pod_volume_zone_mismatch", "1 when a pod's node is outside its volume's zones, else 0.",
		[]string{"pod", "persistentvolumeclaim", "volume_zone", "node_zone"},
		func(h *health, add func(float64, ...string)) {
			for _, s := range h.zoneMismatch {
				add(boolFloat(s.value), s.pod, s.pvc, s.volumeZone, s.nodeZone)
			}
		}),
	gauge("statefulset_pod_volume_zone_without_nodes", "1 when an unscheduled pod's volume zones have no Ready, schedulable node, else 0.",
		[]string{"pod", "persistentvolumeclaim", "volume_zone"},
		func(h *health, add func(float64, ...string)) {
			for _, s := range h.zoneWithoutNodes {
				add(boolFloat(s.value), s.pod, s.pvc, s.volumeZone)
			}
		}),
	gauge("statefulset_pods_ready_per_zone", "Ready pods per node zone.", []string{"node_zone"},
		func(h *health, add func(float64, ...string)) {
			for _, zone := range sortedKeys(h.readyPerZone) {
				add(float64(h.readyPerZone[zone]), zone)
			}
		}),
	gauge("statefulset_ready_zones", "Distinct node zones with a Ready pod.", nil,
		func(h *health, add func(float64, ...string)) { add(float64(len(h.readyPerZone))) }),
	gauge("statefulset_volume_attachment_errors", "VolumeAttachments of the StatefulSet's PVs with an attach or detach error.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.attachmentsWatched {
				add(float64(h.failingAttachments))
			}
		}),
	gauge("statefulset_volume_attachment_error", "A failing VolumeAttachment of the StatefulSet; always 1.",
		[]string{"persistentvolumeclaim", "node", "operation"},
		func(h *health, add func(float64, ...string)) {
			for _, e := range h.attachmentErrors {
				add(1, e.pvc, e.node, e.operation)
			}
		}),
}
