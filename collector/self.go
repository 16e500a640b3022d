package collector

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// selfMetrics are the exporter's metrics about itself and its view of the API server.
type selfMetrics struct {
	apiReachable    prometheus.Gauge
	apiLastSuccess  prometheus.Gauge
	probeSucceeded  atomic.Bool // apiLastSuccess has no sample before the first success
	apiErrors       *prometheus.CounterVec
	enabled         *prometheus.GaugeVec
	synced          *prometheus.GaugeVec
	lastEvent       *prometheus.GaugeVec
	collectDuration prometheus.Gauge
}

func newSelfMetrics() *selfMetrics {
	m := &selfMetrics{
		apiReachable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statefulset_exporter_api_reachable",
			Help: "1 when the last API server probe succeeded, else 0.",
		}),
		apiLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statefulset_exporter_api_last_success_timestamp_seconds",
			Help: "Time of the last successful API server probe.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statefulset_exporter_api_errors_total",
			Help: "Failed list/watch calls per resource and failed probes (resource=\"probe\"), by reason.",
		}, []string{"resource", "reason"}),
		enabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "statefulset_exporter_resource_enabled",
			Help: "1 when the resource is watched, 0 when RBAC forbids an optional kind.",
		}, []string{"resource"}),
		synced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "statefulset_exporter_cache_synced",
			Help: "1 once the resource's informer has completed its first list.",
		}, []string{"resource"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "statefulset_exporter_last_event_timestamp_seconds",
			Help: "Time of the last add, update or delete seen for the resource.",
		}, []string{"resource"}),
		collectDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statefulset_exporter_collect_duration_seconds",
			Help: "Time the last collection of the derived metrics took.",
		}),
	}
	// Every error series exists from the start, so increase() sees the first error.
	for _, res := range append(append([]string(nil), allResources...), "probe") {
		for _, reason := range apiErrorReasons {
			m.apiErrors.WithLabelValues(res, reason)
		}
	}
	return m
}

func (m *selfMetrics) describe(ch chan<- *prometheus.Desc) {
	m.apiReachable.Describe(ch)
	m.apiLastSuccess.Describe(ch)
	m.apiErrors.Describe(ch)
	m.enabled.Describe(ch)
	m.synced.Describe(ch)
	m.lastEvent.Describe(ch)
	m.collectDuration.Describe(ch)
}

func (m *selfMetrics) collect(ch chan<- prometheus.Metric) {
	m.apiReachable.Collect(ch)
	if m.probeSucceeded.Load() {
		m.apiLastSuccess.Collect(ch)
	}
	m.apiErrors.Collect(ch)
	m.enabled.Collect(ch)
	m.synced.Collect(ch)
	m.lastEvent.Collect(ch)
	m.collectDuration.Collect(ch)
}
