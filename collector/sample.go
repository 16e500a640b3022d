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
// pairs are made once, and shared: a namespace block keeps its samples by value in one
// array, each memo their label sets in another (the samples with only the base labels
// share one), the memos share the pairs of equal labels through a pairTable (but for
// those naming the StatefulSet's own objects), and all share the label names.
type constSample struct {
	shape  *descShape // of its desc: the desc, value type and label names
	value  float64
	labels *[]*dto.LabelPair // sorted by name; read-only, possibly shared
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
	s := &ownedSample{constSample: constSample{shape: shape, value: value}, pairs: make([]*dto.LabelPair, len(labels))}
	s.labels = &s.pairs
	for i, idx := range shape.order {
		s.pairs[i] = lp.pair(shape.names[i], labels[idx])
	}
	return &s.constSample
}

// ownedSample is a sample made alone, with its own label set.
type ownedSample struct {
	constSample
	pairs []*dto.LabelPair
}

// Desc implements prometheus.Metric.
func (s *constSample) Desc() *prometheus.Desc { return s.shape.desc }

// Write implements prometheus.Metric, filling m as a const metric's Write does. The
// registry and the encoders only read what m points to.
func (s *constSample) Write(m *dto.Metric) error {
	m.Label = *s.labels
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

// sampleBuilder makes the samples of one source densely: one array of samples (for a
// namespace block), one of their label sets (for the memo) and one of the sets'
// pairs. The samples with only the base labels share one set.
type sampleBuilder struct {
	shared  *pairTable // the pairs of labels not in perSetLabels; nil: lp
	lp      labelPairs // the other pairs of this source
	samples []constSample
	setOf   []int    // of each sample, the index of its label set in sets
	sets    [][2]int // the label sets' spans in pairs
	pairs   []*dto.LabelPair
	baseSet int // 1 + the index in sets of the base labels' set; 0 when none yet
}

// perSetLabels are the labels whose values name objects of one StatefulSet: no other
// StatefulSet's samples could share their pairs, so they are not kept in a pairTable.
var perSetLabels = map[string]bool{"statefulset": true, "service_name": true, "pod": true,
	"persistentvolumeclaim": true, "persistentvolume": true}

// add keeps one sample of shape with the label values labels, of which the first
// nBase are the source's base labels.
func (b *sampleBuilder) add(shape *descShape, value float64, labels []string, nBase int) {
	set := b.labelSet(shape, labels, nBase)
	b.samples = append(b.samples, constSample{shape: shape, value: value})
	b.setOf = append(b.setOf, set)
}

// labelSet returns the index of the label set of a sample of shape with the label
// values labels, of which the first nBase are the base labels, adding it when new.
func (b *sampleBuilder) labelSet(shape *descShape, labels []string, nBase int) int {
	checkLabelCount(shape, labels)
	baseOnly := len(labels) == nBase && shape.inOrder
	if baseOnly && b.baseSet > 0 {
		return b.baseSet - 1
	}
	if b.lp == nil {
		b.lp = labelPairs{}
	}
	start := len(b.pairs)
	for i, idx := range shape.order {
		b.pairs = append(b.pairs, b.pair(shape.names[i], labels[idx]))
	}
	b.sets = append(b.sets, [2]int{start, len(b.pairs)})
	if baseOnly {
		b.baseSet = len(b.sets)
	}
	return len(b.sets) - 1
}

func (b *sampleBuilder) pair(name *string, value string) *dto.LabelPair {
	if b.shared == nil || perSetLabels[*name] {
		return b.lp.pair(name, value)
	}
	return b.shared.pair(name, value)
}

// finish returns the samples kept and their label sets, in arrays of their own, and
// makes b ready for another source.
func (b *sampleBuilder) finish() (samples []constSample, sets [][]*dto.LabelPair) {
	pairs := make([]*dto.LabelPair, len(b.pairs))
	copy(pairs, b.pairs)
	sets = make([][]*dto.LabelPair, len(b.sets))
	for i, sp := range b.sets {
		sets[i] = pairs[sp[0]:sp[1]:sp[1]]
	}
	samples = make([]constSample, len(b.samples))
	copy(samples, b.samples)
	for i, set := range b.setOf {
		samples[i].labels = &sets[set]
	}
	// Keep the scratch for the next source unless a large one made it large.
	if len(b.pairs) > 128 || len(b.lp) > 16 {
		*b = sampleBuilder{shared: b.shared}
		return samples, sets
	}
	clear(b.pairs)
	clear(b.lp)
	b.samples, b.setOf, b.sets, b.pairs, b.baseSet = b.samples[:0], b.setOf[:0], b.sets[:0], b.pairs[:0], 0
	return samples, sets
}

// pairTable shares label pairs between the memos of every StatefulSet: a namespace,
// a zone, a phase or a reason is one pair however many samples carry it. Pairs no
// memo uses any more are forgotten when the table has grown (memoStore.sweepPairs).
type pairTable struct {
	pairs labelPairs
	kept  int // the pairs kept by the last sweep
}

func (t *pairTable) pair(name *string, value string) *dto.LabelPair {
	if t.pairs == nil {
		t.pairs = labelPairs{}
	}
	return t.pairs.pair(name, value)
}

// grown tells whether the table may hold as many unused pairs as used ones.
func (t *pairTable) grown() bool { return len(t.pairs) > 2*t.kept+256 }

func checkLabelCount(shape *descShape, labels []string) {
	if len(labels) != len(shape.order) {
		panic(fmt.Sprintf("constSample of %s: %d label values for %d labels", shape.desc, len(labels), len(shape.order)))
	}
}
