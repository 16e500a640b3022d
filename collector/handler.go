package collector

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// HandlerOpts configure the metrics handler.
type HandlerOpts struct {
	// ErrorLog receives gathering and encoding errors; nil: they are not logged.
	ErrorLog *slog.Logger
	// Registry, if set, gets promhttp_metric_handler_errors_total, as promhttp's
	// handler registers it.
	Registry prometheus.Registerer
	// MaxRequestsInFlight caps the scrapes served at once; beyond it the handler
	// answers 503. 0: no limit.
	MaxRequestsInFlight int
}

// Handler serves the collector's metrics and those of others, a gatherer that must not
// hold the collector itself (register Others there instead). Text and OpenMetrics
// requests get the text format (version 0.0.4), gzip-compressed when accepted, written
// from the pre-encoded exposition (expo.go); protobuf requests are served by promhttp
// from a full gathering. Like promhttp with ContinueOnError, a gathering error is
// logged and counted, and what was gathered is served.
func (c *Collector) Handler(others prometheus.Gatherer, opts HandlerOpts) http.Handler {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
	errs.WithLabelValues("gathering")
	errs.WithLabelValues("encoding")
	if opts.Registry != nil {
		if err := opts.Registry.Register(errs); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				errs = are.ExistingCollector.(*prometheus.CounterVec)
			} else {
				panic(err)
			}
		}
	}
	workloads := prometheus.NewRegistry()
	workloads.MustRegister(workloadsCollector{c})
	h := &metricsHandler{c: c, others: others, opts: opts, errs: errs}
	h.proto = promhttp.HandlerFor(prometheus.Gatherers{workloads, others}, promhttp.HandlerOpts{
		ErrorLog:      promhttpLogger{opts.ErrorLog},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      opts.Registry,
	})
	if opts.MaxRequestsInFlight > 0 {
		h.inFlight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	return h
}

type metricsHandler struct {
	c        *Collector
	others   prometheus.Gatherer
	opts     HandlerOpts
	errs     *prometheus.CounterVec
	proto    http.Handler
	inFlight chan struct{}
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", h.opts.MaxRequestsInFlight), http.StatusServiceUnavailable)
			return
		}
	}
	if expfmt.NegotiateIncludingOpenMetrics(r.Header).FormatType() == expfmt.TypeProtoDelim {
		h.proto.ServeHTTP(w, r)
		return
	}
	gz := acceptsGzip(r.Header)
	started := time.Now()
	snap, _ := h.c.exposition(gz)
	h.c.exposeTook.Store(int64(time.Since(started)))
	mfs, err := h.others.Gather()
	if err != nil {
		h.logError("error gathering metrics", err)
		h.errs.WithLabelValues("gathering").Inc()
	}
	// The body depends on Accept-Encoding: a cache in between must not mix them up.
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err = writeExposition(bw, snap, mfs, gz, func(err error) bool {
		h.logError("error encoding metric family", err)
		h.errs.WithLabelValues("encoding").Inc()
		return true // ContinueOnError
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		h.logError("error sending metrics", err)
		h.errs.WithLabelValues("encoding").Inc()
	}
}

func (h *metricsHandler) logError(msg string, err error) {
	if h.opts.ErrorLog != nil {
		h.opts.ErrorLog.Error(msg, "err", err)
	}
}

// Others is a prometheus.Collector of the collector's metrics that are not kept
// pre-encoded: Leases, bind durations and self metrics. Register it, not the
// Collector, with the gatherer passed to Handler.
func (c *Collector) Others() prometheus.Collector { return othersCollector{c} }

type othersCollector struct{ c *Collector }

func (o othersCollector) Describe(ch chan<- *prometheus.Desc) {
	describeFamilies(ch, leaseFamilies)
	if o.c.binds != nil {
		describeFamilies(ch, bindDurationFamilies)
	}
	describeFamilies(ch, selfFamilies)
}

func (o othersCollector) Collect(ch chan<- prometheus.Metric) {
	started := time.Now().Add(-time.Duration(o.c.exposeTook.Load()))
	o.c.collectLeases(ch)
	o.c.collectBindDurations(ch)
	o.c.collectSelf(ch, started)
}

// workloadsCollector is the pre-encoded families as a prometheus.Collector, for the
// protobuf responses.
type workloadsCollector struct{ c *Collector }

func (w workloadsCollector) Describe(ch chan<- *prometheus.Desc) {
	describeFamilies(ch, workloadFamilies)
	describeFamilies(ch, restartsFamilies)
}

func (w workloadsCollector) Collect(ch chan<- prometheus.Metric) { w.c.collectWorkloads(ch) }

// exposition brings the memos up to date and returns the parts of a response, gzip
// compressed parts when gz. It reports the chunks whose part of some family it compressed.
func (c *Collector) exposition(gz bool) (snap expoSnapshot, compressed int) {
	c.memoMu.Lock()
	defer c.memoMu.Unlock()
	var blocks []*nsBlock
	c.refreshWorkloads(func(b *nsBlock) { blocks = append(blocks, b) })
	snap.has = make([]bool, len(exposeFamilies))
	if !gz {
		snap.blocks = blocks
		snap.restarts = make([][]byte, len(blocks))
		for i, b := range blocks {
			// The memos' restart totals change under the lock: their lines are made here.
			snap.restarts[i] = appendLines(nil, b, restartsText)
			for f := range exposeFamilies {
				snap.has[f] = snap.has[f] || f == restartsText || len(b.fams[f]) > 0
			}
		}
		return snap, 0
	}
	snap.parts = make([][]deflatePart, len(exposeFamilies))
	chunks := make(map[string]*expoChunk, len(c.chunks))
	var gens []uint64
	var text []byte
	for start := 0; start < len(blocks); {
		end := start + 1
		for end < len(blocks) && !startsChunk(blocks[end].memos[0].set.Namespace) {
			end++
		}
		key := blocks[start].memos[0].set.Namespace
		ch := c.chunks[key]
		if ch == nil {
			ch = &expoChunk{gens: make([][]uint64, len(exposeFamilies)), gz: make([]deflatePart, len(exposeFamilies))}
		}
		chunks[key] = ch
		rebuilt := false
		for f := range exposeFamilies {
			gens = gens[:0]
			for _, b := range blocks[start:end] {
				gens = append(gens, b.gen[f])
			}
			if !slices.Equal(gens, ch.gens[f]) {
				ch.gens[f] = slices.Clone(gens)
				text = text[:0]
				for _, b := range blocks[start:end] {
					text = appendLines(text, b, f)
				}
				ch.gz[f] = deflatePart{}
				if len(text) > 0 {
					ch.gz[f] = deflateText(text)
				}
				rebuilt = true
			}
			if ch.gz[f].n > 0 {
				snap.parts[f] = append(snap.parts[f], ch.gz[f])
				snap.has[f] = true
			}
		}
		if rebuilt {
			compressed++
		}
		start = end
	}
	c.chunks = chunks
	return snap, compressed
}

// acceptsGzip tells whether an Accept-Encoding header accepts gzip. gzip's own q-value
// decides when it is listed; "*" only when it is not (RFC 9110, 12.5.3).
func acceptsGzip(h http.Header) bool {
	gzipQ, anyQ := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			if name, value, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(name) == "q" {
				q, _ = strconv.ParseFloat(strings.TrimSpace(value), 64)
			}
			switch c := strings.TrimSpace(coding); {
			case strings.EqualFold(c, "gzip"):
				gzipQ = q
			case c == "*":
				anyQ = q
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return anyQ > 0
}

// promhttpLogger adapts a slog.Logger to promhttp's Logger.
type promhttpLogger struct{ l *slog.Logger }

func (p promhttpLogger) Println(v ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintln(v...))
	}
}
