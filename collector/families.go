package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// family is one workload metric family: its descriptor and how its samples come out of
// a StatefulSet's health. Every workload family starts with the namespace and
// statefulset labels; add takes the values of the extra labels.
type family struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	samples   func(h *health, add func(value float64, extraLabels ...string))
}

var workloadLabels = []string{"namespace", "statefulset"}

func workloadDesc(name, help string, extraLabels ...string) *prometheus.Desc {
	labels := append(append([]string(nil), workloadLabels...), extraLabels...)
	return shapedDesc(prometheus.NewDesc(name, help, labels, nil), labels)
}

func gauge(name, help string, extraLabels []string, samples func(h *health, add func(float64, ...string))) family {
	return family{desc: workloadDesc(name, help, extraLabels...), valueType: prometheus.GaugeValue, samples: samples}
}

// workloadFamilies is every per-StatefulSet family, gathered from the families_*.go
// tables.
var workloadFamilies = concat(statefulSetFamilies, rolloutFamilies, podFamilies, storageFamilies, riskFamilies)

var restartsDesc = workloadDesc("statefulset_container_restarts_total",
	"Container restarts of the StatefulSet's pods, kept per pod UID so it does not drop when a pod is recreated.")

func concat(lists ...[]family) []family {
	var out []family
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func emitWorkload(ch chan<- prometheus.Metric, h *health) {
	for _, m := range workloadSamples(h, nil) {
		ch <- m
	}
}

// workloadSamples appends the samples of every workload family to out. The samples
// share their label pairs (see constSample).
func workloadSamples(h *health, out []prometheus.Metric) []prometheus.Metric {
	base := []string{boundedLabel(h.namespace), boundedLabel(h.name)}
	lp := labelPairs{}
	labels := make([]string, 0, 8)
	for _, f := range workloadFamilies {
		f.samples(h, func(value float64, extra ...string) {
			labels = append(labels[:0], base...)
			for _, v := range extra {
				labels = append(labels, boundedLabel(v))
			}
			out = append(out, newConstSample(f.desc, f.valueType, value, labels, lp))
		})
	}
	return out
}
