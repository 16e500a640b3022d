package collector

import (
	"bytes"
	"compress/gzip"
	"hash/fnv"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Pre-encoded exposition. The workload families and the restart counter, nearly every
// byte of a scrape, are kept as text exposition lines per namespace block, rendered when
// the block is made again (that is, when one of its StatefulSets' memos is), and, for
// gzip, as gzip members per (family, chunk of namespaces), compressed again only when a
// text in them changed. A response is the families in name order: the kept ones written
// as they are, the others (leases, bind durations, self metrics, the registry's other
// collectors) gathered and encoded on each scrape. Concatenated gzip members are one
// gzip stream (RFC 1952 2.2), which Go's gzip.Reader, Prometheus and curl read whole.
//
// The lines of a family come namespace by namespace, each namespace's sorted by label
// values (nsBlock): the registry's order for every family whose first label by name is
// namespace. For the few whose first label sorts before it (container, attached_node)
// the registry sorts across namespaces; here they stay by namespace, which the text
// format allows.

// exposeFamilies are the families kept pre-encoded: the workload families, then the
// restart counter.
var exposeFamilies = func() []*descShape {
	out := make([]*descShape, 0, len(workloadFamilies)+1)
	for _, f := range workloadFamilies {
		out = append(out, descShapes[f.desc])
	}
	return append(out, descShapes[restartsFamilies[0].desc])
}()

// restartsText is the index of the restart counter in exposeFamilies.
var restartsText = len(workloadFamilies)

// exposeOrder is the indexes of exposeFamilies in name order, and exposeHeaders their
// # HELP and # TYPE lines, plain and as a gzip member.
var (
	exposeOrder = func() []int {
		order := make([]int, len(exposeFamilies))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(exposeFamilies[a].name, exposeFamilies[b].name) })
		return order
	}()
	exposeHeaders, exposeHeadersGz = func() ([][]byte, [][]byte) {
		types := map[string]string{}
		for _, f := range workloadFamilies {
			types[descShapes[f.desc].name] = typeName(f.valueType)
		}
		types[exposeFamilies[restartsText].name] = typeName(restartsFamilies[0].valueType)
		plain, gz := make([][]byte, len(exposeFamilies)), make([][]byte, len(exposeFamilies))
		for i, f := range exposeFamilies {
			plain[i] = []byte("# HELP " + f.name + " " + helpEscaper.Replace(f.help) + "\n# TYPE " + f.name + " " + types[f.name] + "\n")
			gz[i] = gzipMember(plain[i])
		}
		return plain, gz
	}()
)

// expoText is what the exposition keeps of a namespace block: its samples by
// workload family (sub-slices of the block's samples) and, per exposeFamilies entry, a
// generation that changes only when the family's lines do. The lines themselves are
// made when needed: a plain scrape writes them from the samples, a gzip scrape keeps
// only the compressed chunks.
type expoText struct {
	fams [][]prometheus.Metric
	gen  []uint64
	// The StatefulSet names and restart totals of the restart counter's generation.
	restartNames []string
	restartTotal []float64
}

// setFamilies records the block's samples by workload family, keeping the
// generations of prev (the block this one replaces) whose samples are the same.
func (t *expoText) setFamilies(fams [][]prometheus.Metric, prev *expoText, gen *uint64) {
	t.fams, t.gen = fams, make([]uint64, len(exposeFamilies))
	for i := range fams {
		if prev != nil && slices.EqualFunc(prev.fams[i], fams[i], sameSample) {
			t.gen[i] = prev.gen[i]
		} else {
			*gen++
			t.gen[i] = *gen
		}
	}
	if prev != nil {
		t.gen[restartsText], t.restartNames, t.restartTotal = prev.gen[restartsText], prev.restartNames, prev.restartTotal
	}
}

// setRestarts gives the restart counter a new generation if a name or total of memos
// differs from those of its current one.
func (t *expoText) setRestarts(memos []*setMemo, gen *uint64) {
	same := len(memos) == len(t.restartNames)
	for i := 0; same && i < len(memos); i++ {
		same = memos[i].set.Name == t.restartNames[i] && memos[i].restarts == t.restartTotal[i]
	}
	if same {
		return
	}
	t.restartNames, t.restartTotal = make([]string, len(memos)), make([]float64, len(memos))
	for i, m := range memos {
		t.restartNames[i], t.restartTotal[i] = m.set.Name, m.restarts
	}
	*gen++
	t.gen[restartsText] = *gen
}

// appendLines appends the text lines of family f (an exposeFamilies index) of block b.
func appendLines(buf []byte, b *nsBlock, f int) []byte {
	if f != restartsText {
		for _, s := range b.fams[f] {
			buf = appendSample(buf, s.(*constSample))
		}
		return buf
	}
	o := sampleOut{emit: func(m prometheus.Metric) { buf = appendSample(buf, m.(*constSample)) }}
	for i, m := range b.memos {
		o.base, o.lp = m.restartLabels, m.restartPairs
		collectFamilies(restartsFamilies, b.restartTotal[i], &o)
	}
	return buf
}

// sameSample tells whether two samples have the same line.
func sameSample(a, b prometheus.Metric) bool {
	x, y := a.(*constSample), b.(*constSample)
	return x.desc == y.desc && math.Float64bits(x.value) == math.Float64bits(y.value) &&
		slices.EqualFunc(x.pairs, y.pairs, func(p, q *dto.LabelPair) bool { return p.GetValue() == q.GetValue() })
}

// chunkSpan is how many namespaces a gzip chunk holds on average. A namespace starts a
// chunk when its name hashes to 0 modulo chunkSpan, so chunks do not shift when a
// namespace comes or goes elsewhere.
const chunkSpan = 8

// expoChunk is the gzip members of a run of namespaces, one per exposeFamilies entry
// (nil when the chunk has no lines of it), and the generations of the texts in each.
type expoChunk struct {
	gens [][]uint64
	gz   [][]byte
}

// expoSnapshot is what one response writes of the kept families. Plain: the blocks,
// whose samples never change, and the restart lines of each, made under the memo lock;
// gzip: per exposeFamilies entry, the members of the chunks that have lines of it.
// Members are never modified once made. Either way the snapshot is written without
// holding a lock.
type expoSnapshot struct {
	blocks   []*nsBlock
	restarts [][]byte
	members  [][][]byte
	has      []bool // by exposeFamilies entry: whether it has a sample
}

func startsChunk(namespace string) bool {
	h := fnv.New32a()
	_, _ = io.WriteString(h, namespace)
	return h.Sum32()%chunkSpan == 0
}

// writeExposition writes the kept families of snap and the gathered families others
// (sorted by name, as Gather returns them) in name order: as text, or, when gz, as
// gzip members. Encoding errors of a gathered family are returned by onError, which
// tells whether to go on.
func writeExposition(w io.Writer, snap expoSnapshot, others []*dto.MetricFamily, gz bool, onError func(error) bool) error {
	var zw *gzip.Writer // of the run of gathered families being written
	if gz {
		zw = gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
	}
	inRun := false
	endRun := func() error {
		if !inRun {
			return nil
		}
		inRun = false
		return zw.Close()
	}
	order := exposeOrder
	for len(order) > 0 || len(others) > 0 {
		if len(order) == 0 || len(others) > 0 && others[0].GetName() < exposeFamilies[order[0]].name {
			out := w
			if gz {
				if !inRun {
					zw.Reset(w)
					inRun = true
				}
				out = zw
			}
			if _, err := expfmt.MetricFamilyToText(out, others[0]); err != nil && !onError(err) {
				return err
			}
			others = others[1:]
			continue
		}
		f := order[0]
		order = order[1:]
		if !snap.has[f] {
			continue
		}
		if err := endRun(); err != nil {
			return err
		}
		if err := writeFamily(w, snap, f, gz); err != nil {
			return err
		}
	}
	return endRun()
}

// writeFamily writes kept family f of snap: its header and lines, or their gzip
// members.
func writeFamily(w io.Writer, snap expoSnapshot, f int, gz bool) error {
	if gz {
		if _, err := w.Write(exposeHeadersGz[f]); err != nil {
			return err
		}
		for _, m := range snap.members[f] {
			if _, err := w.Write(m); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := w.Write(exposeHeaders[f]); err != nil {
		return err
	}
	buf := lineBuffers.Get().(*[]byte)
	defer lineBuffers.Put(buf)
	for i, b := range snap.blocks {
		if f == restartsText {
			if _, err := w.Write(snap.restarts[i]); err != nil {
				return err
			}
			continue
		}
		*buf = appendLines((*buf)[:0], b, f)
		if _, err := w.Write(*buf); err != nil {
			return err
		}
	}
	return nil
}

var lineBuffers = sync.Pool{New: func() any { return new([]byte) }}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// gzipMember compresses text into one gzip member.
func gzipMember(text []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	_, _ = zw.Write(text) // a bytes.Buffer does not fail
	_ = zw.Close()
	return bytes.Clone(buf.Bytes())
}

// appendSample appends the text exposition line of s, as expfmt.MetricFamilyToText
// writes it: label values escaped, the value formatted as its writeFloat does.
func appendSample(buf []byte, s *constSample) []byte {
	buf = append(buf, descShapes[s.desc].name...)
	for i, p := range s.pairs {
		if i == 0 {
			buf = append(buf, '{')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, p.GetName()...)
		buf = append(buf, '=', '"')
		buf = appendLabelValue(buf, p.GetValue())
		buf = append(buf, '"')
	}
	if len(s.pairs) > 0 {
		buf = append(buf, '}')
	}
	buf = append(buf, ' ')
	switch v := s.value; {
	case v == 1:
		buf = append(buf, '1')
	case v == 0:
		buf = append(buf, '0')
	case v == -1:
		buf = append(buf, "-1"...)
	case math.IsNaN(v):
		buf = append(buf, "NaN"...)
	case math.IsInf(v, 1):
		buf = append(buf, "+Inf"...)
	case math.IsInf(v, -1):
		buf = append(buf, "-Inf"...)
	default:
		buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
	}
	return append(buf, '\n')
}

func appendLabelValue(buf []byte, v string) []byte {
	if !strings.ContainsAny(v, "\\\"\n") {
		return append(buf, v...)
	}
	return append(buf, labelValueEscaper.Replace(v)...)
}

var (
	labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper       = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func typeName(t prometheus.ValueType) string {
	switch t {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	default:
		return "untyped"
	}
}
