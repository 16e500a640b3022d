package collector

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
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
// byte of a scrape, are kept as the namespace blocks' sorted samples, and, for gzip, as
// compressed parts per (family, chunk of namespaces), compressed again only when a
// line in them changed (the generations of expoText). A response is the families in
// name order: the kept ones written from the samples or the parts, the others (leases,
// bind durations, self metrics, the registry's other collectors) gathered and encoded
// on each scrape.
//
// kube-state-metrics' pkg/metrics_store (v2.16.0) is not used: its MetricsWriter writes
// every object's bytes on every scrape and leaves compression to the HTTP layer, so a
// gzip scrape still compresses everything; it ranges over a sync.Map, so lines come in
// no stable order; it writes a family's header whenever the store holds an object, even
// when no object has a line of it; it is filled by a reflector with single API objects
// keyed by UID, while a StatefulSet's health derives from several objects and the memo
// decides when it is made again; and the registry's other families would need a second
// writer to come out in name order.
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
// # HELP and # TYPE lines, plain and as a compressed part.
var (
	exposeOrder = func() []int {
		order := make([]int, len(exposeFamilies))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(exposeFamilies[a].name, exposeFamilies[b].name) })
		return order
	}()
	exposeHeaders, exposeHeadersGz = func() ([][]byte, []deflatePart) {
		types := map[string]string{}
		for _, f := range workloadFamilies {
			types[descShapes[f.desc].name] = typeName(f.valueType)
		}
		types[exposeFamilies[restartsText].name] = typeName(restartsFamilies[0].valueType)
		plain, gz := make([][]byte, len(exposeFamilies)), make([]deflatePart, len(exposeFamilies))
		for i, f := range exposeFamilies {
			plain[i] = []byte("# HELP " + f.name + " " + helpEscaper.Replace(f.help) + "\n# TYPE " + f.name + " " + types[f.name] + "\n")
			gz[i] = deflateText(plain[i])
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
	fams [][]constSample
	gen  []uint64
	// The restart totals of the restart counter's generation, by memo of the block;
	// the StatefulSet names are those of the block's memos.
	restartTotal []float64
}

// setFamilies records the block's samples by workload family, keeping the
// generations of prev (the block this one replaces) whose samples are the same, and
// its restart counter's when the StatefulSet names are the same (sameNames).
func (t *expoText) setFamilies(fams [][]constSample, prev *expoText, sameNames bool, gen *uint64) {
	t.fams, t.gen = fams, make([]uint64, len(exposeFamilies))
	for i := range fams {
		if prev != nil && slices.EqualFunc(prev.fams[i], fams[i], sameSample) {
			t.gen[i] = prev.gen[i]
		} else {
			*gen++
			t.gen[i] = *gen
		}
	}
	if prev != nil && sameNames {
		t.gen[restartsText], t.restartTotal = prev.gen[restartsText], prev.restartTotal
	}
}

// setRestarts gives the restart counter a new generation if a total of memos, the
// block's, differs from those of its current one (or it has none).
func (t *expoText) setRestarts(memos []*setMemo, gen *uint64) {
	same := len(memos) == len(t.restartTotal)
	for i := 0; same && i < len(memos); i++ {
		same = memos[i].restarts == t.restartTotal[i]
	}
	if same {
		return
	}
	t.restartTotal = make([]float64, len(memos))
	for i, m := range memos {
		t.restartTotal[i] = m.restarts
	}
	*gen++
	t.gen[restartsText] = *gen
}

// appendLines appends the text lines of family f (an exposeFamilies index) of block b.
func appendLines(buf []byte, b *nsBlock, f int) []byte {
	if f != restartsText {
		for i := range b.fams[f] {
			buf = appendSample(buf, &b.fams[f][i])
		}
		return buf
	}
	o := sampleOut{emit: func(m prometheus.Metric) { buf = appendSample(buf, m.(*constSample)) }}
	for i, m := range b.memos {
		o.basePairs = &m.sets[0]
		collectFamilies(restartsFamilies, b.restartTotal[i], &o)
	}
	return buf
}

// sameSample tells whether two samples have the same line.
func sameSample(x, y constSample) bool {
	return x.shape == y.shape && math.Float64bits(x.value) == math.Float64bits(y.value) &&
		slices.EqualFunc(*x.labels, *y.labels, func(p, q *dto.LabelPair) bool { return p.GetValue() == q.GetValue() })
}

// chunkSpan is how many namespaces a gzip chunk holds on average. A namespace starts a
// chunk when its name hashes to 0 modulo chunkSpan, so chunks do not shift when a
// namespace comes or goes elsewhere. A variable for BenchmarkGzipChunks.
var chunkSpan uint32 = 8

// expoChunk is the compressed lines of a run of namespaces, one part per exposeFamilies
// entry (without data when the chunk has no lines of it), and the generations of the
// blocks' lines in each.
type expoChunk struct {
	gens [][]uint64
	gz   []deflatePart
}

// expoSnapshot is what one response writes of the kept families. Plain: the blocks,
// whose samples never change, and the restart lines of each, made under the memo lock;
// gzip: per exposeFamilies entry, the parts of the chunks that have lines of it.
// Parts are never modified once made. Either way the snapshot is written without
// holding a lock.
type expoSnapshot struct {
	blocks   []*nsBlock
	restarts [][]byte
	parts    [][]deflatePart
	has      []bool // by exposeFamilies entry: whether it has a sample
}

func startsChunk(namespace string) bool {
	h := fnv.New32a()
	_, _ = io.WriteString(h, namespace)
	return h.Sum32()%chunkSpan == 0
}

// writeExposition writes the kept families of snap and the gathered families others
// (sorted by name, as Gather returns them) in name order: as text, or, when gz, as one
// gzip stream (gzipStream). Encoding errors of a gathered family are returned by
// onError, which tells whether to go on.
func writeExposition(w io.Writer, snap expoSnapshot, others []*dto.MetricFamily, gz bool, onError func(error) bool) error {
	out := w
	var zs *gzipStream
	if gz {
		zs = newGzipStream(w)
		defer zs.release()
		out = zs
	}
	order := exposeOrder
	for len(order) > 0 || len(others) > 0 {
		if len(order) == 0 || len(others) > 0 && others[0].GetName() < exposeFamilies[order[0]].name {
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
		if err := writeFamily(w, zs, snap, f); err != nil {
			return err
		}
	}
	if zs != nil {
		return zs.close()
	}
	return nil
}

// writeFamily writes kept family f of snap: its header and lines to w, or their
// compressed parts to zs.
func writeFamily(w io.Writer, zs *gzipStream, snap expoSnapshot, f int) error {
	if zs != nil {
		if err := zs.writePart(exposeHeadersGz[f]); err != nil {
			return err
		}
		for _, p := range snap.parts[f] {
			if err := zs.writePart(p); err != nil {
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

// A gzip response is one gzip member (RFC 1952) whose deflate stream (RFC 1951) is the
// concatenation of parts: each kept part was compressed on its own and ends with a
// sync flush (an empty stored block), so it starts and ends on a byte boundary and
// refers to nothing before it; the text encoded on each scrape is compressed between
// them the same way; a final empty block ends the stream. The trailer's CRC-32 is
// combined from the parts' (crc32Combine), so no kept text is needed. Several gzip
// members would be simpler, and are a valid gzip stream, but curl and other zlib users
// decode only the first.

// deflatePart is text compressed into a deflate stream that ends in a sync flush, with
// the CRC-32 and length of the text.
type deflatePart struct {
	data []byte
	crc  uint32
	n    int
}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression) // fails only for a bad level
	return w
}}

// deflateText compresses text into a part.
func deflateText(text []byte) deflatePart {
	var buf bytes.Buffer
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	fw.Reset(&buf)
	_, _ = fw.Write(text) // a bytes.Buffer does not fail
	_ = fw.Flush()
	return deflatePart{data: bytes.Clone(buf.Bytes()), crc: crc32.ChecksumIEEE(text), n: len(text)}
}

// gzipStream writes one gzip member made of parts (writePart) and of text compressed
// as it is written (Write).
type gzipStream struct {
	w       io.Writer
	fw      *flate.Writer
	pending bool   // text written to fw since the last part
	crc     uint32 // of everything so far
	size    uint32 // of everything so far, modulo 2^32 (ISIZE)
	started bool
}

func newGzipStream(w io.Writer) *gzipStream {
	return &gzipStream{w: w, fw: flateWriters.Get().(*flate.Writer)}
}

func (z *gzipStream) release() { flateWriters.Put(z.fw) }

// gzipHeader is a gzip member header without a name, time or extra fields.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

func (z *gzipStream) start() error {
	if z.started {
		return nil
	}
	z.started = true
	_, err := z.w.Write(gzipHeader)
	return err
}

// Write compresses p.
func (z *gzipStream) Write(p []byte) (int, error) {
	if err := z.start(); err != nil {
		return 0, err
	}
	if !z.pending {
		z.fw.Reset(z.w)
		z.pending = true
	}
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p))
	return z.fw.Write(p)
}

func (z *gzipStream) flushText() error {
	if !z.pending {
		return nil
	}
	z.pending = false
	return z.fw.Flush()
}

// writePart writes a compressed part.
func (z *gzipStream) writePart(p deflatePart) error {
	if err := z.start(); err != nil {
		return err
	}
	if err := z.flushText(); err != nil {
		return err
	}
	if _, err := z.w.Write(p.data); err != nil {
		return err
	}
	z.crc = crc32Combine(z.crc, p.crc, p.n)
	z.size += uint32(p.n)
	return nil
}

// close ends the deflate stream with a final empty stored block and writes the trailer.
func (z *gzipStream) close() error {
	if err := z.start(); err != nil {
		return err
	}
	if err := z.flushText(); err != nil {
		return err
	}
	trailer := []byte{1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(trailer[5:], z.crc)
	binary.LittleEndian.PutUint32(trailer[9:], z.size)
	_, err := z.w.Write(trailer)
	return err
}

// crc32Combine returns the CRC-32 (IEEE) of a text A followed by a text B of length n
// from the CRC-32s of A and B, as zlib's crc32_combine: crcA times x^(8n) modulo the
// polynomial, plus crcB.
func crc32Combine(crcA, crcB uint32, n int) uint32 {
	if n == 0 {
		return crcA
	}
	// x^(8n): the product of x^(2^k) over the bits k of 8n.
	p := uint32(1) << 31 // x^0
	for k, m := 3, uint64(n); m != 0; k, m = k+1, m>>1 {
		if m&1 != 0 {
			p = crc32MulModP(crc32X2n[k&31], p)
		}
	}
	return crc32MulModP(p, crcA) ^ crcB
}

// crc32X2n[k] is x^(2^k) modulo the CRC-32 polynomial, reflected.
var crc32X2n = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = crc32MulModP(p, p)
		t[k] = p
	}
	return t
}()

// crc32MulModP multiplies a and b modulo the CRC-32 polynomial (reflected bit order);
// a must not be 0.
func crc32MulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
}

// appendSample appends the text exposition line of s, as expfmt.MetricFamilyToText
// writes it: label values escaped, the value formatted as its writeFloat does.
func appendSample(buf []byte, s *constSample) []byte {
	buf = append(buf, s.shape.name...)
	for i, p := range *s.labels {
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
	if len(*s.labels) > 0 {
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
