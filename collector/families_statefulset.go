package collector

import "sort"

var statefulSetFamilies = []family{
	gauge("statefulset_replicas_desired", "Desired replicas (spec.replicas).", nil,
		func(h *health, add func(float64, ...string)) {
			if h.desired != nil {
				add(float64(*h.desired))
			}
		}),
	gauge("statefulset_replicas_current", "Replicas on the current revision (status.currentReplicas).", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.current)) }),
	gauge("statefulset_replicas_ready", "Ready replicas (status.readyReplicas).", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.ready)) }),
	gauge("statefulset_replicas_available", "Available replicas (status.availableReplicas).", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.available)) }),
	gauge("statefulset_replicas_updated", "Replicas on the update revision (status.updatedReplicas).", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.updated)) }),
	gauge("statefulset_ready_ratio", "Ready replicas over desired replicas, 0..1; 1 when scaled to 0.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.readyRatio != nil {
				add(*h.readyRatio)
			}
		}),
	gauge("statefulset_generation_lag", "metadata.generation minus status.observedGeneration.", nil,
		func(h *health, add func(float64, ...string)) { add(float64(h.generationLag)) }),
	gauge("statefulset_info", "StatefulSet metadata; always 1.", []string{"update_strategy", "pod_management_policy", "service_name"},
		func(h *health, add func(float64, ...string)) {
			add(1, h.updateStrategy, h.podManagement, h.serviceName)
		}),
}

var rolloutFamilies = []family{
	gauge("statefulset_rollout_in_progress", "1 while a strategy-aware rollout is in progress, else 0.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.rollout.known {
				add(boolFloat(h.rollout.inProgress))
			}
		}),
	gauge("statefulset_rollout_partition", "RollingUpdate partition (0 when unset); no sample for OnDelete.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.rollout.partition != nil {
				add(float64(*h.rollout.partition))
			}
		}),
	gauge("statefulset_rollout_last_progress_timestamp_seconds", "Last time the exporter saw the rollout move.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.rollout.known {
				add(float64(h.rollout.lastProgress.UnixNano()) / 1e9)
			}
		}),
	gauge("statefulset_rollout_stalled", "1 when a rollout in progress has not moved for --rollout.stall-after, else 0.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.rollout.known {
				add(boolFloat(h.rollout.stalled))
			}
		}),
	gauge("statefulset_rollout_blocking_pod_info", "The pod a rollout in progress waits on; always 1.", []string{"pod", "reason"},
		func(h *health, add func(float64, ...string)) {
			if b := h.rollout.blocking; b != nil {
				add(1, b.pod, b.reason)
			}
		}),
	gauge("statefulset_pods_outdated", "Pods not on status.updateRevision.", nil,
		func(h *health, add func(float64, ...string)) {
			if h.rollout.outdatedPods != nil {
				add(float64(*h.rollout.outdatedPods))
			}
		}),
}

// sortedKeys returns a map's keys in order, for a stable exposition.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
