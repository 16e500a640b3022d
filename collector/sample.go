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
// equal labels (its namespace and name, a zone), and all share the label names.
type constSample struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     float64
	pairs     []*dto.LabelPair // sorted by name; read-only, possibly shared
}

// descShape is what a sample needs of a desc: its variable labels in name order, which
// is the order prometheus.MakeLabelPairs gives them.
type descShape struct {
	order      []int     // order[i] is the index in the label values of the i-th label by name
	names      []*string // the label names by name
	name, help string    // of the family, for the text exposition (expo.go)
}

// descShapes holds the shape of every desc made by shapedDesc, and labelNames one
// shared string per label name. Both are written during package initialisation only:
// every family is a package-level variable.
var (
	descShapes = map[*prometheus.Desc]*descShape{}
	labelNames = map[string]*string{}
)

// shapedDesc makes a desc and records its variable label names, which prometheus.Desc
// does not expose, so that constSamples of it can be made.
func shapedDesc(name, help string, labels []string) *prometheus.Desc {
	desc := prometheus.NewDesc(name, help, labels, nil)
	s := &descShape{order: make([]int, len(labels)), names: make([]*string, len(labels)), name: name, help: help}
	for i := range labels {
		s.order[i] = i
	}
	sort.SliceStable(s.order, func(i, j int) bool { return labels[s.order[i]] < labels[s.order[j]] })
	for i, idx := range s.order {
		name := labels[idx]
		if labelNames[name] == nil {
			labelNames[name] = &name
		}
		s.names[i] = labelNames[name]
	}
	descShapes[desc] = s
	return desc
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
func newConstSample(desc *prometheus.Desc, valueType prometheus.ValueType, value float64, labels []string, lp labelPairs) *constSample {
	shape := descShapes[desc]
	if shape == nil || len(labels) != len(shape.order) {
		panic(fmt.Sprintf("constSample of %s: %d label values for a desc without a matching shape", desc, len(labels)))
	}
	s := &constSample{desc: desc, valueType: valueType, value: value, pairs: make([]*dto.LabelPair, len(labels))}
	for i, idx := range shape.order {
		s.pairs[i] = lp.pair(shape.names[i], labels[idx])
	}
	return s
}

// Desc implements prometheus.Metric.
func (s *constSample) Desc() *prometheus.Desc { return s.desc }

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
