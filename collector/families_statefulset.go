package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

var statefulSetFamilies = []family[*derive.Health]{
	gauge("statefulset_replicas_desired", "Desired replicas (spec.replicas).", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Desired != nil {
				out.add(float64(*h.Desired))
			}
		}),
	gauge("statefulset_replicas_current", "Replicas on the current revision (status.currentReplicas).", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Current)) }),
	gauge("statefulset_replicas_ready", "Ready replicas (status.readyReplicas).", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Ready)) }),
	gauge("statefulset_replicas_available", "Available replicas (status.availableReplicas).", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Available)) }),
	gauge("statefulset_replicas_updated", "Replicas on the update revision (status.updatedReplicas).", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.Updated)) }),
	gauge("statefulset_ready_ratio", "Ready replicas over desired replicas, 0..1; 1 when scaled to 0.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.ReadyRatio != nil {
				out.add(*h.ReadyRatio)
			}
		}),
	gauge("statefulset_generation_lag", "metadata.generation minus status.observedGeneration.", nil,
		func(h *derive.Health, out *sampleOut) { out.add(float64(h.GenerationLag)) }),
	gauge("statefulset_info", "StatefulSet metadata; always 1.", []string{"update_strategy", "pod_management_policy", "service_name"},
		func(h *derive.Health, out *sampleOut) {
			out.add(1, h.UpdateStrategy, h.PodManagement, h.ServiceName)
		}),
}

var rolloutFamilies = []family[*derive.Health]{
	gauge("statefulset_rollout_in_progress", "1 while a strategy-aware rollout is in progress, else 0.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Rollout.Known {
				out.add(boolFloat(h.Rollout.InProgress))
			}
		}),
	gauge("statefulset_rollout_partition", "RollingUpdate partition (0 when unset); no sample for OnDelete.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Rollout.Partition != nil {
				out.add(float64(*h.Rollout.Partition))
			}
		}),
	gauge("statefulset_rollout_last_progress_timestamp_seconds", "Last time the exporter saw the rollout move.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Rollout.Known {
				out.add(unixSeconds(h.Rollout.LastProgress))
			}
		}),
	gauge("statefulset_rollout_stalled", "1 when a rollout in progress has not moved for --rollout.stall-after, else 0.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Rollout.Known {
				out.add(boolFloat(h.Rollout.Stalled))
			}
		}),
	gauge("statefulset_rollout_blocking_pod_info", "The pod a rollout in progress waits on; always 1.", []string{"pod", "reason"},
		func(h *derive.Health, out *sampleOut) {
			if b := h.Rollout.Blocking; b != nil {
				out.add(1, b.Pod, b.Reason)
			}
		}),
	gauge("statefulset_pods_outdated", "Pods not on status.updateRevision.", nil,
		func(h *derive.Health, out *sampleOut) {
			if h.Rollout.OutdatedPods != nil {
				out.add(float64(*h.Rollout.OutdatedPods))
			}
		}),
}

// workloadFamilies is every per-StatefulSet family derived from its health, gathered
// from the families_*.go tables.
var workloadFamilies = concat(statefulSetFamilies, rolloutFamilies, podFamilies, storageFamilies, claimFamilies, riskFamilies)

// restartsFamilies are counted by the restart tracker rather than derived: their source
// is a StatefulSet's restart total, made into a sample on every collection.
var restartsFamilies = []family[float64]{
	newFamily(prometheus.CounterValue, "statefulset_container_restarts_total",
		"Container restarts of the StatefulSet's pods, kept per pod UID so it does not drop when a pod is recreated.", workloadLabels,
		func(total float64, out *sampleOut) { out.add(total) }),
}

// gauge declares a workload gauge family: its samples carry the namespace and
// statefulset labels, then extraLabels.
func gauge(name, help string, extraLabels []string, samples func(h *derive.Health, out *sampleOut)) family[*derive.Health] {
	return newFamily(prometheus.GaugeValue, name, help, joinLabels(workloadLabels, extraLabels...), samples)
}
