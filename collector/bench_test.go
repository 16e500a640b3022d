package collector

// In-process benchmarks of the collector at cluster scale. They are not part of the
// pass/fail tests: plain `go test ./collector/` runs none of them. Run them with
//
//	go test -run '^$' -bench . -benchmem ./collector/                  # 1k and 10k pods
//	go test -run '^$' -bench . -benchmem ./collector/ -args -bench.large  # also 150k pods
//
// (-benchtime=1x is enough for BenchmarkCacheMemory). See docs/benchmarks.md.
//
// The caches are filled without an API server and without the fake clientset (whose
// tracker and list deep copies make 150,000 pods slow): each generated object goes
// through the informer's transform function into the informer's indexer, and the
// collector's own event handler is called with it, exactly what a shared informer does
// with a listed object after its DeltaFIFO. The informers are not started.

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/tests/bench/fixture"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

var benchLarge = flag.Bool("bench.large", false, "also run the benchmarks at 150,000 pods (5,000 nodes)")

// benchNow is the fixed clock of the benchmarks.
var benchNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func benchSizes() []int {
	sizes := []int{1_000, 10_000}
	if *benchLarge {
		sizes = append(sizes, 150_000)
	}
	return sizes
}

// benchEnv is a collector whose caches hold a fixture cluster.
type benchEnv struct {
	c        *Collector
	counts   fixture.Counts
	handlers map[string]cache.ResourceEventHandler
	podKeys  []string // namespace/name of every pod, in generation order
	// raw are the generated objects by resource and key, the objects a watch would
	// decode, which the caches hold transformed; kept only by newRawBenchEnv, for
	// updates.
	raw map[string]map[string]k8sruntime.Object
}

var (
	benchEnvMu sync.Mutex
	benchEnvs  = map[int]*benchEnv{}
)

// sharedBenchEnv returns the environment of the given size, built once per process:
// the benchmarks that only read it share it.
func sharedBenchEnv(b testing.TB, pods int) *benchEnv {
	b.Helper()
	benchEnvMu.Lock()
	defer benchEnvMu.Unlock()
	if e, ok := benchEnvs[pods]; ok {
		return e
	}
	e := newBenchEnv(b, pods)
	benchEnvs[pods] = e
	return e
}

func newBenchCollector(b testing.TB, opts ...Option) *Collector {
	b.Helper()
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	opts = append([]Option{WithClock(func() time.Time { return benchNow }), WithProbe(func(context.Context) error { return nil })}, opts...)
	c, err := New(fake.NewClientset(), cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchResource maps a fixture kind to the watched resource and its transform.
func benchResource(c *Collector, kind fixture.Kind) (string, cache.TransformFunc) {
	name := map[fixture.Kind]string{
		fixture.KindStatefulSet: resStatefulSets, fixture.KindPod: resPods, fixture.KindPVC: resPVCs,
		fixture.KindPV: resPVs, fixture.KindNode: resNodes, fixture.KindStorageClass: resStorageClasses,
		fixture.KindPDB: resPodDisruptionBudgets, fixture.KindService: resServices, fixture.KindLease: resLeases,
	}[kind]
	for _, s := range watchSpecs(c.client, &c.cfg) {
		if s.name == name {
			return name, s.transform
		}
	}
	return "", nil // namespaces are not watched
}

func newBenchEnv(b testing.TB, pods int, opts ...Option) *benchEnv {
	b.Helper()
	return fillBenchEnv(b, &benchEnv{c: newBenchCollector(b, opts...), handlers: map[string]cache.ResourceEventHandler{}}, pods)
}

// newRawBenchEnv is newBenchEnv keeping the generated objects.
func newRawBenchEnv(b testing.TB, pods int, opts ...Option) *benchEnv {
	b.Helper()
	return newRawBenchEnvOf(b, fixture.Spec{Pods: pods}, opts...)
}

// newRawBenchEnvOf is newRawBenchEnv with a cluster of spec (at benchNow).
func newRawBenchEnvOf(b testing.TB, spec fixture.Spec, opts ...Option) *benchEnv {
	b.Helper()
	e := &benchEnv{c: newBenchCollector(b, opts...), handlers: map[string]cache.ResourceEventHandler{}, raw: map[string]map[string]k8sruntime.Object{}}
	return fillBenchEnvOf(b, e, spec)
}

func fillBenchEnv(b testing.TB, e *benchEnv, pods int) *benchEnv {
	b.Helper()
	return fillBenchEnvOf(b, e, fixture.Spec{Pods: pods})
}

func fillBenchEnvOf(b testing.TB, e *benchEnv, spec fixture.Spec) *benchEnv {
	b.Helper()
	start := time.Now()
	var rv int
	spec.Now = benchNow
	e.counts = fixture.Generate(spec, func(kind fixture.Kind, obj k8sruntime.Object) {
		rv++
		if kind == fixture.KindPod {
			p := obj.(*corev1.Pod)
			e.podKeys = append(e.podKeys, p.Namespace+"/"+p.Name)
		}
		e.add(b, kind, obj, rv)
	})
	b.Logf("filled caches with %s in %s", e.counts, time.Since(start).Round(time.Millisecond))
	return e
}

// add does what an informer does with a listed object: transform, store, notify.
func (e *benchEnv) add(b testing.TB, kind fixture.Kind, obj k8sruntime.Object, rv int) {
	name, transform := benchResource(e.c, kind)
	if name == "" {
		return
	}
	obj.(interface{ SetResourceVersion(string) }).SetResourceVersion(fmt.Sprint(rv))
	if e.raw != nil {
		key, _ := cache.MetaNamespaceKeyFunc(obj)
		if e.raw[name] == nil {
			e.raw[name] = map[string]k8sruntime.Object{}
		}
		e.raw[name][key] = obj
	}
	slim, err := transform(obj)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.c.watch.resources[name].informer.GetIndexer().Add(slim); err != nil {
		b.Fatal(err)
	}
	e.handler(name).OnAdd(slim, true)
}

// handler returns the collector's event handler of a resource.
func (e *benchEnv) handler(name string) cache.ResourceEventHandler {
	h, ok := e.handlers[name]
	if !ok {
		h = e.c.watch.eventHandler(name)
		e.handlers[name] = h
	}
	return h
}

// rawOf returns the object a watch decoded of the cached object at key, when kept, else
// the cached object.
func (e *benchEnv) rawOf(name, key string, cached any) k8sruntime.Object {
	if raw, ok := e.raw[name][key]; ok {
		return raw
	}
	return cached.(k8sruntime.Object)
}

// transform applies the resource's transform to obj, keeping obj as the raw object of
// its key.
func (e *benchEnv) transform(b testing.TB, name string, obj k8sruntime.Object) any {
	b.Helper()
	for _, s := range watchSpecs(e.c.client, &e.c.cfg) {
		if s.name != name {
			continue
		}
		if e.raw != nil {
			key, _ := cache.MetaNamespaceKeyFunc(obj)
			if e.raw[name] == nil {
				e.raw[name] = map[string]k8sruntime.Object{}
			}
			e.raw[name][key] = obj
		}
		slim, err := s.transform(obj)
		if err != nil {
			b.Fatal(err)
		}
		return slim
	}
	b.Fatalf("no resource %s", name)
	return nil
}

// update replaces a cached object the way an informer applies a watch event.
func (e *benchEnv) update(b testing.TB, name string, old, obj any) {
	r := e.c.watch.resources[name]
	if err := r.informer.GetIndexer().Update(obj); err != nil {
		b.Fatal(err)
	}
	e.handler(name).OnUpdate(old, obj)
}

func benchRegistry(b testing.TB, c *Collector) *prometheus.Registry {
	b.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		b.Fatal(err)
	}
	return reg
}

// countingWriter is an http.ResponseWriter that keeps only the byte count.
type countingWriter struct {
	header http.Header
	n      int64
	status int
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *countingWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkScrape measures a full /metrics request: the collector's handler writes the
// pre-encoded exposition (expo.go) and the registry's other families in the text
// format, uncompressed (plain) and with Accept-Encoding: gzip. The caches do not change between scrapes, so the
// collector reuses its memoised derivations (memo.go); gzip-fresh derives every
// StatefulSet on every scrape, as after a relist or when everything changed (and as
// every scrape did before the memo). It reports the response size and the number of
// samples.
func BenchmarkScrape(b *testing.B) {
	for _, pods := range benchSizes() {
		for _, enc := range []string{"plain", "gzip", "gzip-fresh"} {
			b.Run(fmt.Sprintf("pods=%d/%s", pods, enc), func(b *testing.B) {
				e := sharedBenchEnv(b, pods)
				handler := benchHandler(e.c)
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if enc != "plain" {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				e.c.noMemo = enc == "gzip-fresh"
				defer func() { e.c.noMemo = false }()
				w := &countingWriter{header: http.Header{}}
				handler.ServeHTTP(w, req) // warm: the memo is filled
				b.ReportAllocs()
				b.ResetTimer()
				cpu := processCPU()
				for b.Loop() {
					w = &countingWriter{header: http.Header{}}
					handler.ServeHTTP(w, req)
				}
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
				if got := w.header.Get("Content-Encoding"); (enc != "plain") != (got == "gzip") {
					b.Fatalf("Content-Encoding %q for %s", got, enc)
				}
				b.ReportMetric(float64(w.n), "body-bytes")
				b.ReportMetric(float64(benchSamples(b, e.c)), "samples")
			})
		}
	}
}

// benchHandler is the collector's metrics handler over a registry of its other
// families, as the exporter serves them.
func benchHandler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Others())
	return c.Handler(reg, HandlerOpts{Registry: reg})
}

func benchSamples(b testing.TB, c *Collector) int {
	mfs, err := benchRegistry(b, c).Gather()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// BenchmarkCollect measures the collector alone: Collect into a channel that a
// goroutine drains, without the registry's gathering and encoding; memo with the
// memoised derivations of an unchanged cluster, fresh deriving every StatefulSet.
func BenchmarkCollect(b *testing.B) {
	for _, pods := range benchSizes() {
		for _, mode := range []string{"memo", "fresh"} {
			b.Run(fmt.Sprintf("pods=%d/%s", pods, mode), func(b *testing.B) {
				e := sharedBenchEnv(b, pods)
				e.c.noMemo = mode == "fresh"
				defer func() { e.c.noMemo = false }()
				collect := func() {
					ch := make(chan prometheus.Metric, 1024)
					done := make(chan int)
					go func() {
						n := 0
						for range ch {
							n++
						}
						done <- n
					}()
					e.c.Collect(ch)
					close(ch)
					<-done
				}
				collect()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					collect()
				}
			})
		}
	}
}

// BenchmarkPodUpdate measures how long one pod change takes to show in a scrape: the
// informer's work for a watch event (transform, store update, the collector's event
// handler) plus the next collection, checked to reflect the change. The change is a
// container restart, which moves statefulset_container_restarts_total of the pod's
// StatefulSet. It uses its own caches, since it modifies them.
func BenchmarkPodUpdate(b *testing.B) {
	for _, pods := range benchSizes() {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			e := newRawBenchEnv(b, pods)
			indexer := e.c.watch.resources[resPods].informer.GetIndexer()
			handler := benchHandler(e.c)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			handler.ServeHTTP(&countingWriter{header: http.Header{}}, req) // warm: the memo is filled
			// Pods with a container status to restart (pending pods have none).
			var keys []string
			for _, key := range e.podKeys {
				if obj, ok, _ := indexer.GetByKey(key); ok && len(e.rawOf(resPods, key, obj).(*corev1.Pod).Status.ContainerStatuses) > 0 {
					keys = append(keys, key)
				}
			}
			var applyTotal, collectTotal, cpuTotal time.Duration
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				key := keys[(i*7919)%len(keys)] // spread over the cluster
				i++
				start, cpu := time.Now(), processCPU()
				obj, ok, _ := indexer.GetByKey(key)
				if !ok {
					b.Fatalf("pod %s not cached", key)
				}
				old := obj.(*derive.Pod)
				raw := e.rawOf(resPods, key, old).(*corev1.Pod).DeepCopy() // stands for the object the watch decoded
				raw.ResourceVersion += "1"
				raw.Status.ContainerStatuses[0].RestartCount++
				slim := e.transform(b, resPods, raw)
				e.update(b, resPods, old, slim)
				applied := time.Now()

				set := derive.OwnerStatefulSetKey(old)
				want := e.c.restarts.total(set)
				w := &countingWriter{header: http.Header{}}
				handler.ServeHTTP(w, req)
				collectTotal += time.Since(applied)
				applyTotal += applied.Sub(start)
				cpuTotal += processCPU() - cpu
				b.StopTimer()
				if got := benchRestarts(b, e.c, set); got != want {
					b.Fatalf("restarts of %s: got %v after the update, want %v", set, got, want)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(applyTotal.Nanoseconds())/float64(b.N), "apply-ns/op")
			b.ReportMetric(float64(collectTotal.Nanoseconds())/float64(b.N), "scrape-ns/op")
			b.ReportMetric(float64(cpuTotal.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkClusterScopedUpdate measures the gzip scrape after a change of a
// cluster-scoped kind: a node cordoned or uncordoned, a volume's reclaim policy
// changed, a failed VolumeAttachment added. Each marks the questions it may answer
// differently (dirty.go): the scrape revisits the namespaces whose derivations asked
// them, not every namespace. It reports the scrape alone (scrape-ns/op, CPU in
// cpu-ns/op) and the memos revalidated per scrape.
func BenchmarkClusterScopedUpdate(b *testing.B) {
	for _, pods := range benchSizes() {
		for _, kind := range []string{"node", "pv", "volumeattachment", "defaultclass"} {
			b.Run(fmt.Sprintf("pods=%d/%s", pods, kind), func(b *testing.B) {
				e := newRawBenchEnv(b, pods)
				handler := benchHandler(e.c)
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				handler.ServeHTTP(&countingWriter{header: http.Header{}}, req) // warm: the memo is filled
				nodes := e.c.watch.resources[resNodes].informer.GetIndexer().ListKeys()
				volumes := e.c.watch.resources[resPVs].informer.GetIndexer().ListKeys()
				var scrapeTotal, cpuTotal time.Duration
				valids := 0
				i := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					i++
					switch kind {
					case "node":
						key := nodes[(i*7919)%len(nodes)]
						old, _, _ := e.c.watch.resources[resNodes].informer.GetIndexer().GetByKey(key)
						raw := e.rawOf(resNodes, key, old).(*corev1.Node).DeepCopy()
						raw.Spec.Unschedulable = !raw.Spec.Unschedulable
						e.update(b, resNodes, old, e.transform(b, resNodes, raw))
					case "pv":
						key := volumes[(i*7919)%len(volumes)]
						old, _, _ := e.c.watch.resources[resPVs].informer.GetIndexer().GetByKey(key)
						raw := e.rawOf(resPVs, key, old).(*corev1.PersistentVolume).DeepCopy()
						raw.Spec.PersistentVolumeReclaimPolicy = map[bool]corev1.PersistentVolumeReclaimPolicy{
							true: corev1.PersistentVolumeReclaimDelete, false: corev1.PersistentVolumeReclaimRetain,
						}[raw.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain]
						e.update(b, resPVs, old, e.transform(b, resPVs, raw))
					case "volumeattachment":
						volume := volumes[(i*7919)%len(volumes)]
						va := e.transform(b, resVolumeAttachments, &storagev1.VolumeAttachment{
							ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("csi-bench-%d", i)},
							Spec:       storagev1.VolumeAttachmentSpec{NodeName: "node-x", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &volume}},
							Status:     storagev1.VolumeAttachmentStatus{AttachError: &storagev1.VolumeError{Message: "rpc error"}},
						})
						if err := e.c.watch.resources[resVolumeAttachments].informer.GetIndexer().Add(va); err != nil {
							b.Fatal(err)
						}
						e.handler(resVolumeAttachments).OnAdd(va, false)
					case "defaultclass":
						// An annotation the transform keeps, on the class that stays the default.
						for _, old := range e.c.watch.resources[resStorageClasses].informer.GetStore().List() {
							if !derive.IsDefaultStorageClass(old.(*storagev1.StorageClass)) {
								continue
							}
							key, _ := cache.MetaNamespaceKeyFunc(old)
							raw := e.rawOf(resStorageClasses, key, old).(*storagev1.StorageClass).DeepCopy()
							raw.Annotations = maps.Clone(raw.Annotations)
							if i%2 == 1 {
								raw.Annotations[derive.AnnBetaDefaultStorageClass] = "true"
							}
							e.update(b, resStorageClasses, old, e.transform(b, resStorageClasses, raw))
						}
					}
					e.c.valids = 0
					b.StartTimer()
					start, cpu := time.Now(), processCPU()
					handler.ServeHTTP(&countingWriter{header: http.Header{}}, req)
					scrapeTotal += time.Since(start)
					cpuTotal += processCPU() - cpu
					valids += e.c.valids
				}
				b.ReportMetric(float64(scrapeTotal.Nanoseconds())/float64(b.N), "scrape-ns/op")
				b.ReportMetric(float64(cpuTotal.Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(valids)/float64(b.N), "revalidated/op")
				b.ReportMetric(float64(len(e.c.memos)), "memos")
			})
		}
	}
}

// BenchmarkGzipChunks measures, by chunk span (namespaces per gzip chunk on average),
// what compressing every chunk costs (the first gzip scrape, or everything changed),
// the gzip body's size, the number of compressed parts and their live heap.
func BenchmarkGzipChunks(b *testing.B) {
	for _, pods := range benchSizes() {
		for _, span := range []uint32{1, 4, 8, 32, 1 << 30} {
			b.Run(fmt.Sprintf("pods=%d/span=%d", pods, span), func(b *testing.B) {
				e := sharedBenchEnv(b, pods)
				defer func(s uint32) { chunkSpan = s; e.c.chunks = nil }(chunkSpan)
				chunkSpan = span
				var snap expoSnapshot
				for b.Loop() {
					e.c.chunks = nil
					snap, _ = e.c.exposition(true)
				}
				b.StopTimer()
				var w countingWriter
				if err := writeExposition(&w, snap, nil, true, func(error) bool { return false }); err != nil {
					b.Fatal(err)
				}
				parts := 0
				for _, p := range snap.parts {
					parts += len(p)
				}
				e.c.chunks = nil
				heap := benchRetained(func() any { e.c.exposition(true); return e })
				b.ReportMetric(float64(w.n), "body-bytes")
				b.ReportMetric(float64(parts), "parts")
				b.ReportMetric(float64(heap)/float64(pods), "chunk-B/pod")
			})
		}
	}
}

// benchRestarts reads statefulset_container_restarts_total of one StatefulSet from a
// collection.
func benchRestarts(b testing.TB, c *Collector, setKey string) float64 {
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	value := -1.0
	for m := range ch {
		if m.Desc() != restartsFamilies[0].desc {
			continue
		}
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			b.Fatal(err)
		}
		var ns, name string
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "namespace":
				ns = l.GetValue()
			case "statefulset":
				name = l.GetValue()
			}
		}
		if ns+"/"+name == setKey {
			value = d.GetCounter().GetValue()
		}
	}
	return value
}

// BenchmarkCacheMemory measures the heap the caches retain, per pod, after the transform
// functions: pods alone (pod-B/pod), every cache of the fixture cluster divided by its
// pods (all-B/pod), what the memoised derivations add after a collection and a gzip
// scrape's cached parts (memo-B/pod),
// and for comparison the untransformed pods (raw-pod-B/pod, which
// lack the managedFields the API server would add, so they underestimate real objects).
// Use -benchtime=1x.
func BenchmarkCacheMemory(b *testing.B) {
	for _, pods := range benchSizes() {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			for b.Loop() {
				podB := benchRetained(func() any {
					idx := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{byStatefulSet: podByStatefulSet})
					fixture.Generate(fixture.Spec{Pods: pods, Now: benchNow}, func(kind fixture.Kind, obj k8sruntime.Object) {
						if kind == fixture.KindPod {
							slim, _ := transformPod(obj)
							_ = idx.Add(slim)
						}
					})
					return idx
				})
				rawB := benchRetained(func() any {
					idx := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{byStatefulSet: podByStatefulSet})
					fixture.Generate(fixture.Spec{Pods: pods, Now: benchNow}, func(kind fixture.Kind, obj k8sruntime.Object) {
						if kind == fixture.KindPod {
							_ = idx.Add(obj)
						}
					})
					return idx
				})
				// The fake clientset parses its schema once per process; the first
				// collector built pays for it, so a small one is built first. The
				// benchmark's own list of pod keys is not the exporter's memory.
				newBenchCollector(b)
				var env *benchEnv
				allB := benchRetained(func() any { env = newBenchEnv(b, pods); env.podKeys = nil; return env })
				memoB := benchRetained(func() any {
					benchRestarts(b, env.c, "") // one collection fills the memo
					env.c.exposition(true)      // and a gzip scrape its chunks
					return env
				})
				b.ReportMetric(float64(podB)/float64(pods), "pod-B/pod")
				b.ReportMetric(float64(allB)/float64(pods), "all-B/pod")
				b.ReportMetric(float64(memoB)/float64(pods), "memo-B/pod")
				b.ReportMetric(float64(rawB)/float64(pods), "raw-pod-B/pod")
				b.ReportMetric(float64(allB)/(1<<20), "all-MiB")
			}
		})
	}
}

// processCPU is the CPU time the process has used (user and system, every thread): on
// a shared machine a truer cost than the wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRetained returns the live heap that fill's result keeps.
func benchRetained(fill func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := fill()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestBenchFixtureScrapes is a cheap check, part of the normal tests, that the
// benchmark environment works: a gzip scrape of a small fixture cluster decodes, has a
// sample per StatefulSet, and a pod update shows in the next collection.
func TestBenchFixtureScrapes(t *testing.T) {
	e := newRawBenchEnv(t, 300)
	reg := benchRegistry(t, e.c)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, req)
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("statefulset_replicas_desired{namespace=%q,statefulset=\"db-00000\"}", "team-0000"); !strings.Contains(string(body), want) {
		t.Errorf("scrape lacks %s", want)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "statefulset_replicas_desired" && len(mf.GetMetric()) != e.counts.StatefulSets {
			t.Errorf("statefulset_replicas_desired has %d samples, want %d", len(mf.GetMetric()), e.counts.StatefulSets)
		}
	}

	indexer := e.c.watch.resources[resPods].informer.GetIndexer()
	obj, ok, _ := indexer.GetByKey(e.podKeys[0])
	if !ok {
		t.Fatal("first pod not cached")
	}
	old := obj.(*derive.Pod)
	set := derive.OwnerStatefulSetKey(old)
	before := benchRestarts(t, e.c, set)
	raw := e.rawOf(resPods, e.podKeys[0], old).(*corev1.Pod).DeepCopy()
	raw.Status.ContainerStatuses[0].RestartCount += 2
	slim := e.transform(t, resPods, raw)
	e.update(t, resPods, old, slim)
	if got := benchRestarts(t, e.c, set); got != before+2 {
		t.Errorf("restarts of %s after the update: %v, want %v", set, got, before+2)
	}
}
