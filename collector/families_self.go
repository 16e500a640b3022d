package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// selfFamilies are the exporter's metrics about itself. Their samples are made while
// the selfMetrics lock is held.
var selfFamilies = []family[*selfMetrics]{
	newFamily(prometheus.GaugeValue, "statefulset_exporter_api_reachable", "1 when the last API server probe succeeded, else 0.", nil,
		func(m *selfMetrics, out *sampleOut) { out.add(boolFloat(m.apiReachable)) }),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_api_last_success_timestamp_seconds", "Time of the last successful API server probe.", nil,
		func(m *selfMetrics, out *sampleOut) {
			if !m.apiLastSuccess.IsZero() {
				out.add(unixSeconds(m.apiLastSuccess))
			}
		}),
	newFamily(prometheus.CounterValue, "statefulset_exporter_api_errors_total", `Failed list/watch calls per resource and failed probes (resource="probe"), by reason.`, []string{"resource", "reason"},
		func(m *selfMetrics, out *sampleOut) {
			for key, n := range m.apiErrors {
				out.add(n, key[0], key[1])
			}
		}),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_resource_enabled", "1 when the resource is watched, 0 when RBAC forbids an optional kind.", []string{"resource"},
		func(m *selfMetrics, out *sampleOut) {
			for _, r := range m.resources {
				out.add(boolFloat(r.enabled), r.name)
			}
		}),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_cache_synced", "1 once the resource's informer has completed its first list.", []string{"resource"},
		func(m *selfMetrics, out *sampleOut) {
			for _, r := range m.resources {
				out.add(boolFloat(r.enabled && r.synced), r.name)
			}
		}),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_resource_failing", "1 from a failed list or watch of the resource until a list succeeds or a watch is established again: its cache is not being kept up to date.", []string{"resource"},
		func(m *selfMetrics, out *sampleOut) {
			for _, r := range m.resources {
				out.add(boolFloat(r.failing), r.name)
			}
		}),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_last_event_timestamp_seconds", "Time of the last add, update or delete seen for the resource.", []string{"resource"},
		func(m *selfMetrics, out *sampleOut) {
			for resource, t := range m.lastEvent {
				out.add(unixSeconds(t), resource)
			}
		}),
	newFamily(prometheus.GaugeValue, "statefulset_exporter_collect_duration_seconds", "Time the last collection of the derived metrics took.", nil,
		func(m *selfMetrics, out *sampleOut) { out.add(m.collectDuration.Seconds()) }),
}
