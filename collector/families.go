package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// family is one metric family: its descriptor and how its samples come out of a source
// S, such as a StatefulSet's health, a Lease or the exporter's own state. Every metric
// the exporter emits is declared as a family, in the families_*.go tables.
//
// samples calls out.add once per sample (out.addHistogram for a histogram family) with
// the values of the family's own labels; the labels every family of a source starts
// with (namespace and statefulset for workload families) are out's.
type family[S any] struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	shape     *descShape
	samples   func(src S, out *sampleOut)
}

func newFamily[S any](valueType prometheus.ValueType, name, help string, labels []string, samples func(S, *sampleOut)) family[S] {
	shape := shapedDesc(valueType, name, help, labels)
	return family[S]{desc: shape.desc, valueType: valueType, shape: shape, samples: samples}
}

// collectFamilies passes every sample of fams for src to out.
func collectFamilies[S any](fams []family[S], src S, out *sampleOut) {
	for i := range fams {
		out.shape = fams[i].shape
		fams[i].samples(src, out)
	}
}

func describeFamilies[S any](ch chan<- *prometheus.Desc, fams []family[S]) {
	for _, f := range fams {
		ch <- f.desc
	}
}

// sampleOut turns what a family's samples function adds into metrics: emitted, or
// kept by into.
type sampleOut struct {
	base []string   // label values every sample starts with
	lp   labelPairs // label pairs shared between samples; nil shares none
	emit func(prometheus.Metric)
	into *sampleBuilder // when set, keeps the samples instead of emit (not histograms)
	// basePairs, when set, is the label set of base in name order, for the samples
	// without labels of their own (base may then be nil).
	basePairs *[]*dto.LabelPair

	shape  *descShape // of the family being collected
	labels []string   // scratch
}

func (o *sampleOut) labelValues(extra []string) []string {
	o.labels = append(o.labels[:0], o.base...)
	for _, v := range extra {
		o.labels = append(o.labels, boundedLabel(v))
	}
	return o.labels
}

// add emits one gauge or counter sample.
func (o *sampleOut) add(value float64, labels ...string) {
	switch {
	case o.into != nil:
		o.into.add(o.shape, value, o.labelValues(labels), len(o.base))
	case o.basePairs != nil && len(labels) == 0 && o.shape.inOrder && pairsNamed(*o.basePairs, o.shape.names):
		o.emit(&constSample{shape: o.shape, value: value, labels: o.basePairs})
	default:
		o.emit(newConstSample(o.shape, value, o.labelValues(labels), o.lp))
	}
}

// addHistogram emits one histogram sample; buckets are cumulative counts by upper bound.
func (o *sampleOut) addHistogram(count uint64, sum float64, buckets map[float64]uint64, labels ...string) {
	o.emit(prometheus.MustNewConstHistogram(o.shape.desc, count, sum, buckets, o.labelValues(labels)...))
}

// Label names every family of a source starts with.
var (
	workloadLabels = []string{"namespace", "statefulset"}
	leaseLabels    = []string{"namespace", "lease"}
)

func joinLabels(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}

// histogramFamily declares a family whose samples are histograms (out.addHistogram).
func histogramFamily[S any](name, help string, labels []string, samples func(S, *sampleOut)) family[S] {
	return newFamily(prometheus.UntypedValue, name, help, labels, samples)
}

// pairsNamed tells whether pairs have the label names names (shared strings, see
// labelNames).
func pairsNamed(pairs []*dto.LabelPair, names []*string) bool {
	if len(pairs) != len(names) {
		return false
	}
	for i, p := range pairs {
		if p.Name != names[i] {
			return false
		}
	}
	return true
}
