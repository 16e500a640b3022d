package main

// BenchmarkScrapeLoad is a report, not a pass/fail test (plain `go test` runs no
// benchmark): the exporter's HTTP handler (newMux, with --web.max-requests) over a
// collector synced from a fake clientset holding the 10,000-pod fixture cluster of
// tests/bench/fixture. Run it with
//
//	go test -run '^$' -bench ScrapeLoad -benchtime 1x ./cmd/statefulset-exporter/
//
// It reports, above the heap of the synced caches (after GC): the peak live heap while
// 20 clients scrape at once (5 rounds, with the default cap of 10 and without a cap),
// how many got 503, the process's peak RSS, and the heap still held while one client
// reads a response at 1 byte/ms. Figures in docs/benchmarks.md.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/statefulset-exporter/statefulset-exporter/collector"
	"github.com/statefulset-exporter/statefulset-exporter/tests/bench/fixture"
)

const (
	loadPods     = 10_000
	loadClients  = 20
	loadRounds   = 5
	slowReadTime = 10 * time.Second
)

func BenchmarkScrapeLoad(b *testing.B) {
	var objs []k8sruntime.Object
	counts := fixture.Generate(fixture.Spec{Pods: loadPods}, func(_ fixture.Kind, obj k8sruntime.Object) { objs = append(objs, obj) })
	cfg := collector.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	coll, err := collector.New(fake.NewClientset(objs...), cfg, logger, collector.WithProbe(func(context.Context) error { return nil }))
	if err != nil {
		b.Fatal(err)
	}
	objs = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	coll.Start(ctx)
	if !coll.WaitForSync(ctx) {
		b.Fatal("not synced")
	}
	b.Logf("synced %s", counts)

	for _, maxRequests := range []int{10, 0} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(coll.Others())
		mux, err := newMux(reg, coll, "/metrics", false, maxRequests, logger)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(mux)
		size := scrapeOnce(b, srv.URL, "gzip") // warm up the memo
		plainSize := scrapeOnce(b, srv.URL, "identity")
		base := liveHeap()
		peak := watchHeap()
		var unavailable atomic.Int64
		start := time.Now()
		for range loadRounds {
			var wg sync.WaitGroup
			for range loadClients {
				wg.Go(func() {
					if code := scrapeCode(b, srv.URL); code == http.StatusServiceUnavailable {
						unavailable.Add(1)
					}
				})
			}
			wg.Wait()
		}
		took := time.Since(start)
		peakHeap := peak()
		b.Logf("max-requests=%d: %d pods, response %d B gzip / %d B plain; heap after sync %.1f MB; %d rounds of %d concurrent gzip scrapes in %s: peak heap %.1f MB above it, %d answered 503; VmHWM %s",
			maxRequests, loadPods, size, plainSize, mb(base), loadRounds, loadClients, took.Round(time.Millisecond), mb(peakHeap-base), unavailable.Load(), procStatus("VmHWM"))
		b.ReportMetric(mb(peakHeap-base), fmt.Sprintf("MB-peak-heap-cap%d", maxRequests))
		b.ReportMetric(float64(unavailable.Load()), fmt.Sprintf("503s-cap%d", maxRequests))
		if maxRequests != 0 {
			for _, enc := range []string{"gzip", "identity"} {
				held := slowRead(b, srv.URL, enc, base)
				b.Logf("slow reader (%s, 1 byte/ms for %s): heap above the synced caches while it reads: %s", enc, slowReadTime, held)
			}
		}
		srv.Close()
	}
}

// slowRead reads a scrape 1 byte per millisecond for slowReadTime and samples the live
// heap (after GC) every second.
func slowRead(b *testing.B, url, encoding string, base uint64) string {
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n", encoding)
	r := bufio.NewReaderSize(conn, 16)
	buf := make([]byte, 1)
	var samples []string
	next := time.Now().Add(time.Second)
	read := 0
	for end := time.Now().Add(slowReadTime); time.Now().Before(end); {
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		read++
		time.Sleep(time.Millisecond)
		if time.Now().After(next) {
			samples = append(samples, fmt.Sprintf("%.1f", mb(liveHeap()-min(base, liveHeap()))))
			next = next.Add(time.Second)
		}
	}
	return fmt.Sprintf("%s MB (read %d bytes)", strings.Join(samples, ", "), read)
}

func scrapeOnce(b *testing.B, url, encoding string) int {
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Accept-Encoding", encoding)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return int(n)
}

func scrapeCode(b *testing.B, url string) int {
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.Error(err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// watchHeap samples HeapAlloc every 2ms until the returned function is called, which
// returns the peak.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	return func() uint64 { close(done); <-stopped; return peak.Load() }
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func procStatus(key string) string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
