package collector

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// constSample is an immutable sample, the compact equivalent of
// prometheus.MustNewConstMetric. Samples are kept between collections (see
// memo.go) and handed to the registry again without allocating, so their label
// pairs are made once, and shared: the samples of one StatefulSet share the pairs of
// equal labels (its namespace and name, a zone), those with only the base labels one
// slice of them (sampleBuilder), and all share the label names. A memo keeps its
// samples by value in one array, their pairs in another.
type constSample struct {
	shape *descShape // of its desc: the desc, value type and label names
	value float64
	pairs []*dto.LabelPair // sorted by name; read-only, possibly shared
}

// descShape is what a sample needs of a desc: its value type and variable labels in
// name order, which is the order prometheus.MakeLabelPairs gives them.
type descShape struct {
	desc       *prometheus.Desc
	valueType  prometheus.ValueType
	order      []int     // order[i] is the index in the label values of the i-th label by name
	names      []*string // the label names by name
	name, help string    // of the family, for the text exposition (expo.go)
	inOrder    bool      // order is the identity: the label values come in name order
}

// descShapes holds the shape of every desc made by shapedDesc, and labelNames one
// shared string per label name. Both are written during package initialisation only:
// every family is a package-level variable.
var (
	descShapes = map[*prometheus.Desc]*descShape{}
	labelNames = map[string]*string{}
)

// shapedDesc makes a desc of samples of valueType and records its variable label
// names, which prometheus.Desc does not expose, so that constSamples of it can be made.
func shapedDesc(valueType prometheus.ValueType, name, help string, labels []string) *descShape {
	desc := prometheus.NewDesc(name, help, labels, nil)
	s := &descShape{desc: desc, valueType: valueType, order: make([]int, len(labels)), names: make([]*string, len(labels)),
		name: name, help: help}
	for i := range labels {
		s.order[i] = i
	}
	sort.SliceStable(s.order, func(i, j int) bool { return labels[s.order[i]] < labels[s.order[j]] })
	s.inOrder = sort.IntsAreSorted(s.order)
	for i, idx := range s.order {
		name := labels[idx]
		if labelNames[name] == nil {
			labelNames[name] = &name
		}
		s.names[i] = labelNames[name]
	}
	descShapes[desc] = s
	return s
}

// labelPairs hands out label pairs, one per distinct name and value, so that samples
// share them. A nil labelPairs shares nothing.
type labelPairs map[[2]string]*dto.LabelPair

func (lp labelPairs) pair(name *string, value string) *dto.LabelPair {
	key := [2]string{*name, value}
	if p := lp[key]; p != nil {
		return p
	}
	p := &dto.LabelPair{Name: name, Value: &value}
	if lp != nil {
		lp[key] = p
	}
	return p
}

// newConstSample makes a sample of a desc made by shapedDesc, taking its label pairs
// from lp. Like prometheus.MustNewConstMetric it panics when the number of label values
// is wrong, which is a programming error. The label values must be valid UTF-8 (see
// boundedLabel).
func newConstSample(shape *descShape, value float64, labels []string, lp labelPairs) *constSample {
	checkLabelCount(shape, labels)
	s := &constSample{shape: shape, value: value, pairs: make([]*dto.LabelPair, len(labels))}
	for i, idx := range shape.order {
		s.pairs[i] = lp.pair(shape.names[i], labels[idx])
	}
	return s
}

// Desc implements prometheus.Metric.
func (s *constSample) Desc() *prometheus.Desc { return s.shape.desc }

// Write implements prometheus.Metric, filling m as a const metric's Write does. The
// registry and the encoders only read what m points to.
func (s *constSample) Write(m *dto.Metric) error {
	m.Label = s.pairs
	switch s.shape.valueType {
	case prometheus.CounterValue:
		m.Counter = &dto.Counter{Value: &s.value}
	case prometheus.GaugeValue:
		m.Gauge = &dto.Gauge{Value: &s.value}
	default:
		m.Untyped = &dto.Untyped{Value: &s.value}
	}
	return nil
}

// sampleBuilder makes the samples of one source densely, for a memo to keep: one
// array of samples and one of their label pairs, in which the samples with only the
// base labels share one span.
type sampleBuilder struct {
	lp       labelPairs
	samples  []constSample
	spans    [][2]int // of each sample's pairs in pairs
	pairs    []*dto.LabelPair
	baseSpan int // 1 + the index in spans of the first base-only sample; 0 when none yet
}

// add keeps one sample of shape with the label values labels, of which the first
// nBase are the source's base labels.
func (b *sampleBuilder) add(shape *descShape, value float64, labels []string, nBase int) {
	checkLabelCount(shape, labels)
	if b.lp == nil {
		b.lp = labelPairs{}
	}
	if b.baseSpan > 0 && len(labels) == nBase && shape.inOrder {
		b.samples = append(b.samples, constSample{shape: shape, value: value})
		b.spans = append(b.spans, b.spans[b.baseSpan-1])
		return
	}
	start := len(b.pairs)
	for i, idx := range shape.order {
		b.pairs = append(b.pairs, b.lp.pair(shape.names[i], labels[idx]))
	}
	b.samples = append(b.samples, constSample{shape: shape, value: value})
	b.spans = append(b.spans, [2]int{start, len(b.pairs)})
	if b.baseSpan == 0 && len(labels) == nBase && shape.inOrder {
		b.baseSpan = len(b.spans)
	}
}

// finish returns the samples kept, in arrays of their own, and the pairs of the base
// labels (nil when no sample had only those), and makes b ready for another source.
func (b *sampleBuilder) finish() (samples []constSample, base []*dto.LabelPair) {
	pairs := make([]*dto.LabelPair, len(b.pairs))
	copy(pairs, b.pairs)
	samples = make([]constSample, len(b.samples))
	copy(samples, b.samples)
	for i, sp := range b.spans {
		samples[i].pairs = pairs[sp[0]:sp[1]:sp[1]]
	}
	if b.baseSpan > 0 {
		base = samples[b.baseSpan-1].pairs
	}
	clear(b.pairs) // drop the references of the scratch arrays
	clear(b.samples)
	clear(b.lp)
	b.samples, b.spans, b.pairs, b.baseSpan = b.samples[:0], b.spans[:0], b.pairs[:0], 0
	return samples, base
}

func checkLabelCount(shape *descShape, labels []string) {
	if len(labels) != len(shape.order) {
		panic(fmt.Sprintf("constSample of %s: %d label values for %d labels", shape.desc, len(labels), len(shape.order)))
	}
}
