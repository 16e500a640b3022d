package collector

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// constSample is an immutable sample, the compact equivalent of
// prometheus.MustNewConstMetric: its label pairs share the label names of the desc and
// point into its label values, which share their strings with the objects they come
// from. Samples are kept between collections (see scrapecache.go), and every
// collection hands them to the registry again without allocating.
type constSample struct {
	shape     *descShape
	valueType prometheus.ValueType
	value     float64
	labels    []string         // in the order of the desc's variable labels
	pairs     []*dto.LabelPair // sorted by name, read-only once made
}

// descShape is what Write needs of a desc: its variable labels in name order, which is
// the order prometheus.MakeLabelPairs gives them.
type descShape struct {
	desc  *prometheus.Desc
	order []int     // order[i] is the index in labels of the i-th label by name
	names []*string // the label names by name; shared by every sample, never written
}

// descShapes holds the shape of every desc made by shapedDesc. It is written during
// package initialisation only.
var descShapes = map[*prometheus.Desc]*descShape{}

// shapedDesc records the variable label names of desc, which prometheus.Desc does not
// expose, so that constSamples of it can be made.
func shapedDesc(desc *prometheus.Desc, labels []string) *prometheus.Desc {
	s := &descShape{desc: desc, order: make([]int, len(labels)), names: make([]*string, len(labels))}
	for i := range labels {
		s.order[i] = i
	}
	sort.SliceStable(s.order, func(i, j int) bool { return labels[s.order[i]] < labels[s.order[j]] })
	for i, idx := range s.order {
		name := labels[idx]
		s.names[i] = &name
	}
	descShapes[desc] = s
	return desc
}

// newConstSample makes a sample of a desc made by shapedDesc. Like
// prometheus.MustNewConstMetric it panics when the number of label values is wrong,
// which is a programming error. The label values must be valid UTF-8 (see boundedLabel).
func newConstSample(desc *prometheus.Desc, valueType prometheus.ValueType, value float64, labels []string) *constSample {
	shape := descShapes[desc]
	if shape == nil || len(labels) != len(shape.order) {
		panic(fmt.Sprintf("constSample of %s: %d label values for a desc without a matching shape", desc, len(labels)))
	}
	s := &constSample{shape: shape, valueType: valueType, value: value, labels: labels}
	n := len(labels)
	pairs := make([]dto.LabelPair, n)
	s.pairs = make([]*dto.LabelPair, n)
	for i, idx := range shape.order {
		pairs[i].Name = shape.names[i]
		pairs[i].Value = &s.labels[idx]
		s.pairs[i] = &pairs[i]
	}
	return s
}

// Desc implements prometheus.Metric.
func (s *constSample) Desc() *prometheus.Desc { return s.shape.desc }

// Write implements prometheus.Metric, filling m as a const metric's Write does. The
// registry and the encoders only read what m points to.
func (s *constSample) Write(m *dto.Metric) error {
	m.Label = s.pairs
	switch s.valueType {
	case prometheus.CounterValue:
		m.Counter = &dto.Counter{Value: &s.value}
	case prometheus.GaugeValue:
		m.Gauge = &dto.Gauge{Value: &s.value}
	default:
		m.Untyped = &dto.Untyped{Value: &s.value}
	}
	return nil
}
