// Command compare runs statefulset-exporter and kube-state-metrics side by side against
// the same local kube-apiserver holding the same synthetic cluster (tests/bench/fixture),
// and reports for each: peak and post-sync RSS, CPU seconds to sync, /metrics latency
// (median and p99) with and without gzip, response sizes, and for the exporter how long
// an object change takes to show in /metrics.
//
// Usage (from the repository root; tests/bench/compare.sh builds kube-state-metrics
// first):
//
//	go run ./tests/bench/compare -pods 10000 -out /tmp/compare-10k.md
//
// The two exporters run one after the other, never together, so that on a small machine
// neither steals the other's CPU; each is started, waited for until synced (its caches
// are listed and its CPU use has settled for a second), measured, scraped, and stopped.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/tests/bench/fixture"
)

// ksmResources are the kinds kube-state-metrics is restricted to: the ones the exporter
// watches.
const ksmResources = "statefulsets,pods,persistentvolumeclaims,persistentvolumes,nodes,storageclasses,volumeattachments,poddisruptionbudgets,services,leases"

type options struct {
	pods, nodes     int
	runs            int
	scrapes         int
	changes         int
	workers         int
	qps             float64
	burst           int
	ksm             string
	exporter        string
	dir             string
	out             string
	profileDir      string
	only            string
	exporterArgs    []string
	etcd            string
	apiServerArgs   string
	settle          time.Duration
	syncTimeout     time.Duration
	keepGoingOnFail bool
}

func main() {
	var o options
	flag.IntVar(&o.pods, "pods", 10000, "StatefulSet pods to create (with one PVC and PV each)")
	flag.IntVar(&o.nodes, "nodes", 0, "nodes to create; 0 means max(3, pods/30)")
	flag.IntVar(&o.runs, "runs", 1, "measurements of each side against the same objects, alternating; the report gives the median of the runs")
	flag.IntVar(&o.scrapes, "scrapes", 30, "scrapes of /metrics per exporter and encoding")
	flag.IntVar(&o.changes, "changes", 5, "pod changes whose propagation to the exporter's /metrics is timed")
	flag.IntVar(&o.workers, "workers", 48, "concurrent object creations")
	flag.Float64Var(&o.qps, "qps", 1000, "client QPS while loading objects")
	flag.IntVar(&o.burst, "burst", 2000, "client burst while loading objects")
	flag.StringVar(&o.ksm, "ksm", "", "kube-state-metrics binary (default <repo>/.cache/ksm/kube-state-metrics)")
	flag.StringVar(&o.exporter, "exporter", "", "statefulset-exporter binary (default: built from this tree)")
	flag.StringVar(&o.etcd, "etcd", "", "etcd binary (default: Debian's); one that reports watch progress (tests/bench/build-etcd.sh) lets kube-apiserver stream lists")
	flag.StringVar(&o.apiServerArgs, "apiserver-args", "", "extra flags for kube-apiserver, space-separated, e.g. --feature-gates=WatchList=true")
	flag.StringVar(&o.dir, "dir", "", "parent of the API server's temporary directory (etcd data); /dev/shm keeps etcd off the disk")
	flag.StringVar(&o.out, "out", "", "also write the report (markdown) to this file")
	flag.StringVar(&o.profileDir, "profile-dir", "", "save the exporter's heap profile after sync and a CPU profile of its scrapes here")
	flag.StringVar(&o.only, "only", "", "run only one side: exporter or ksm")
	flag.Func("exporter-args", "extra flags for statefulset-exporter, space-separated; repeat to measure several variants of the exporter (the first is compared with KSM)", func(v string) error {
		o.exporterArgs = append(o.exporterArgs, v)
		return nil
	})
	flag.DurationVar(&o.settle, "settle", time.Second, "how long a process's CPU use must stay flat to count as synced")
	flag.DurationVar(&o.syncTimeout, "sync-timeout", 15*time.Minute, "how long each exporter may take to sync")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	if o.ksm == "" {
		o.ksm = filepath.Join(root, ".cache", "ksm", "kube-state-metrics")
	}
	if o.only != "exporter" {
		if _, err := os.Stat(o.ksm); err != nil {
			return fmt.Errorf("kube-state-metrics binary: %w (build it with tests/bench/build-ksm.sh)", err)
		}
	}
	tmp, err := os.MkdirTemp("", "bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.exporter == "" {
		log.Printf("building statefulset-exporter")
		if o.exporter, err = exporterbin.Build(ctx, tmp); err != nil {
			return err
		}
	}

	log.Printf("starting the local kube-apiserver")
	cluster, err := localkube.Start(ctx, localkube.Options{Logf: log.Printf, Dir: o.dir, StartTimeout: 2 * time.Minute,
		EtcdPath: o.etcd, ExtraAPIServerArgs: strings.Fields(o.apiServerArgs)})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		return err
	}
	cfg := cluster.AdminConfig()
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	started := time.Now()
	counts, err := load(ctx, client, o)
	if err != nil {
		return err
	}
	loadTime := time.Since(started)
	log.Printf("loaded %s in %s", counts, loadTime.Round(time.Second))

	variants := o.exporterArgs
	if len(variants) == 0 {
		variants = []string{""}
	}
	ours := make([][]*result, len(variants))
	var theirs []*result
	for i := range max(o.runs, 1) {
		if o.runs > 1 {
			log.Printf("run %d of %d", i+1, o.runs)
		}
		if o.only != "ksm" {
			for v, extra := range variants {
				args := append([]string{"--kubeconfig=" + kubeconfig, "--web.enable-pprof", "--log.level=warn"}, strings.Fields(extra)...)
				name := "statefulset-exporter"
				if v > 0 {
					name += " " + extra
				}
				r, err := measure(ctx, o, name, func() (*proc, error) { return startExporter(ctx, o.exporter, args) }, client, counts)
				if err != nil {
					return err
				}
				ours[v] = append(ours[v], r)
			}
		}
		if o.only != "exporter" {
			r, err := measure(ctx, o, "kube-state-metrics", func() (*proc, error) { return startKSM(ctx, o.ksm, kubeconfig) }, client, counts)
			if err != nil {
				return err
			}
			theirs = append(theirs, r)
		}
	}
	var results []*result
	for _, rs := range append(ours, theirs) {
		if len(rs) > 0 {
			results = append(results, medianOf(rs))
		}
	}

	report := render(o, counts, loadTime, results)
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// load creates the fixture cluster on the API server: namespaces synchronously (every
// namespaced object needs its namespace first), everything else by a pool of workers,
// each object followed by its status, as a controller or kubelet would have written it.
func load(ctx context.Context, client kubernetes.Interface, o options) (fixture.Counts, error) {
	type item struct {
		kind fixture.Kind
		obj  k8sruntime.Object
	}
	items := make(chan item, 4*o.workers)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		created  atomic.Int64
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				if firstErr.Load() != nil {
					continue
				}
				if err := create(ctx, client, it.kind, it.obj); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					continue
				}
				if n := created.Add(1); n%10000 == 0 {
					log.Printf("created %d objects", n)
				}
			}
		}()
	}
	counts := fixture.Generate(fixture.Spec{Pods: o.pods, Nodes: o.nodes}, func(kind fixture.Kind, obj k8sruntime.Object) {
		if firstErr.Load() != nil {
			return
		}
		if kind == fixture.KindNamespace {
			_, err := client.CoreV1().Namespaces().Create(ctx, obj.(*corev1.Namespace), metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				firstErr.CompareAndSwap(nil, &err)
			}
			return
		}
		items <- item{kind, obj}
	})
	close(items)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return counts, *p
	}
	return counts, nil
}

// create creates obj and writes its status. The API server resets the status on
// create, so the status goes in a second request.
func create(ctx context.Context, client kubernetes.Interface, kind fixture.Kind, obj k8sruntime.Object) error {
	opts := metav1.CreateOptions{}
	up := metav1.UpdateOptions{}
	var err error
	switch o := obj.(type) {
	case *corev1.Node:
		status := o.Status
		if o, err = client.CoreV1().Nodes().Create(ctx, o, opts); err == nil {
			o.Status = status
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, o, up)
		}
	case *storagev1.StorageClass:
		_, err = client.StorageV1().StorageClasses().Create(ctx, o, opts)
	case *coordinationv1.Lease:
		_, err = client.CoordinationV1().Leases(o.Namespace).Create(ctx, o, opts)
	case *appsv1.StatefulSet:
		status := o.Status
		if o, err = client.AppsV1().StatefulSets(o.Namespace).Create(ctx, o, opts); err == nil {
			status.ObservedGeneration = o.Generation
			o.Status = status
			// Written by hand: 150k pods is beyond any simulated control plane here.
			_, err = client.AppsV1().StatefulSets(o.Namespace).UpdateStatus(ctx, o, up)
		}
	case *policyv1.PodDisruptionBudget:
		_, err = client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, opts)
	case *corev1.Service:
		if o.Spec.ClusterIP != corev1.ClusterIPNone {
			// The API server allocates ClusterIP addresses itself.
			o.Spec.ClusterIP, o.Spec.ClusterIPs = "", nil
		}
		_, err = client.CoreV1().Services(o.Namespace).Create(ctx, o, opts)
	case *corev1.PersistentVolume:
		status := o.Status
		if o, err = client.CoreV1().PersistentVolumes().Create(ctx, o, opts); err == nil {
			o.Status = status
			_, err = client.CoreV1().PersistentVolumes().UpdateStatus(ctx, o, up)
		}
	case *corev1.PersistentVolumeClaim:
		status := o.Status
		if o, err = client.CoreV1().PersistentVolumeClaims(o.Namespace).Create(ctx, o, opts); err == nil {
			o.Status = status
			_, err = client.CoreV1().PersistentVolumeClaims(o.Namespace).UpdateStatus(ctx, o, up)
		}
	case *corev1.Pod:
		status := o.Status
		if o, err = client.CoreV1().Pods(o.Namespace).Create(ctx, o, opts); err == nil {
			o.Status = status
			_, err = client.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, o, up)
		}
	default:
		return fmt.Errorf("unexpected %T", obj)
	}
	if err != nil {
		return fmt.Errorf("creating %T: %w", obj, err)
	}
	return nil
}

// proc is a running exporter: its PID, the /metrics URL and how to tell it synced.
type proc struct {
	pid        int
	metricsURL string
	baseURL    string
	// listed reports whether the process has listed every resource once.
	listed func(ctx context.Context) bool
	stop   func()
	log    func() string
}

func startExporter(ctx context.Context, binary string, args []string) (*proc, error) {
	p, err := exporterbin.Start(ctx, binary, args...)
	if err != nil {
		return nil, err
	}
	pid, err := pidOf(p)
	if err != nil {
		p.Stop()
		return nil, err
	}
	return &proc{
		pid: pid, metricsURL: p.URL + "/metrics", baseURL: p.URL,
		listed: func(ctx context.Context) bool { _, err := p.Get(ctx, "/readyz"); return err == nil },
		stop:   p.Stop, log: p.Log,
	}, nil
}

// pidOf finds the exporter's PID: exporterbin does not expose it, but the process is our
// child listening on the URL's port; /proc tells.
func pidOf(p *exporterbin.Process) (int, error) {
	// The most recently started child of ours running the exporter binary.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	best := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		fields := statFields(stat)
		if len(fields) < 4 || fields[3] != strconv.Itoa(self) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "--web.listen-address="+strings.TrimPrefix(p.URL, "http://")) && pid > best {
			best = pid
		}
	}
	if best == 0 {
		return 0, errors.New("cannot find the exporter's PID")
	}
	return best, nil
}

func startKSM(ctx context.Context, binary, kubeconfig string) (*proc, error) {
	port, err := exporterbin.FreePort()
	if err != nil {
		return nil, err
	}
	telemetry, err := exporterbin.FreePort()
	if err != nil {
		return nil, err
	}
	var logBuf syncBuffer
	cmd := exec.Command(binary,
		"--kubeconfig="+kubeconfig,
		"--resources="+ksmResources,
		"--host=127.0.0.1", "--port="+strconv.Itoa(port),
		"--telemetry-host=127.0.0.1", "--telemetry-port="+strconv.Itoa(telemetry),
		"--enable-gzip-encoding",
	)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	telemetryURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetry)
	// kube-state-metrics counts its lists on the telemetry port, per resource type.
	kinds := []string{"*v1.StatefulSet", "*v1.Pod", "*v1.PersistentVolumeClaim", "*v1.PersistentVolume", "*v1.Node",
		"*v1.StorageClass", "*v1.VolumeAttachment", "*v1.PodDisruptionBudget", "*v1.Service", "*v1.Lease"}
	listed := func(ctx context.Context) bool {
		_, body, err := get(ctx, telemetryURL, false)
		if err != nil {
			return false
		}
		for _, k := range kinds {
			if !strings.Contains(string(body), fmt.Sprintf(`kube_state_metrics_list_total{resource=%q,result="success"}`, k)) {
				return false
			}
		}
		return true
	}
	return &proc{pid: cmd.Process.Pid, metricsURL: base + "/metrics", baseURL: base, listed: listed, stop: stop, log: logBuf.String}, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what was measured of one exporter.
type result struct {
	name                 string
	syncTime             time.Duration // start to synced, wall clock
	syncCPU              float64       // seconds of user+system CPU until synced
	rssSynced, hwmSynced int64         // bytes
	rssEnd, hwmEnd       int64
	plain, gz            []time.Duration
	plainBytes, gzBytes  int // as sent on the wire
	samples              int
	scrapeCPU            float64 // mean CPU seconds per scrape
	changeLatencies      []time.Duration
	goRuntime            int64     // go_memstats_sys_bytes - go_memstats_heap_released_bytes at the first scrape; 0 when not exported
	rssAtScrape          int64     // RSS right after that scrape
	runs                 int       // how many runs a combined result is the median of; 0 for one run
	perRun               []*result // the runs of a combined result
}

// medianOf combines several runs of one exporter: the median of each figure, and
// every scrape and change latency of all runs (whose median and p99 the report gives).
func medianOf(rs []*result) *result {
	if len(rs) == 1 {
		return rs[0]
	}
	m := &result{name: rs[0].name, runs: len(rs)}
	med := func(f func(r *result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		if n := len(vs); n%2 == 0 {
			return (vs[n/2-1] + vs[n/2]) / 2
		}
		return vs[len(vs)/2]
	}
	m.syncTime = time.Duration(med(func(r *result) float64 { return float64(r.syncTime) }))
	m.syncCPU = med(func(r *result) float64 { return r.syncCPU })
	m.rssSynced = int64(med(func(r *result) float64 { return float64(r.rssSynced) }))
	m.hwmSynced = int64(med(func(r *result) float64 { return float64(r.hwmSynced) }))
	m.rssEnd = int64(med(func(r *result) float64 { return float64(r.rssEnd) }))
	m.hwmEnd = int64(med(func(r *result) float64 { return float64(r.hwmEnd) }))
	m.plainBytes = int(med(func(r *result) float64 { return float64(r.plainBytes) }))
	m.gzBytes = int(med(func(r *result) float64 { return float64(r.gzBytes) }))
	m.samples = int(med(func(r *result) float64 { return float64(r.samples) }))
	m.scrapeCPU = med(func(r *result) float64 { return r.scrapeCPU })
	m.goRuntime = int64(med(func(r *result) float64 { return float64(r.goRuntime) }))
	m.rssAtScrape = int64(med(func(r *result) float64 { return float64(r.rssAtScrape) }))
	for _, r := range rs {
		m.plain = append(m.plain, r.plain...)
		m.gz = append(m.gz, r.gz...)
		m.changeLatencies = append(m.changeLatencies, r.changeLatencies...)
		m.perRun = append(m.perRun, r)
	}
	return m
}

func measure(ctx context.Context, o options, name string, start func() (*proc, error), client kubernetes.Interface, counts fixture.Counts) (*result, error) {
	log.Printf("%s: starting", name)
	t0 := time.Now()
	p, err := start()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer p.stop()
	r := &result{name: name}

	// Synced: every resource listed, then CPU flat for o.settle.
	deadline := time.Now().Add(o.syncTimeout)
	for !p.listed(ctx) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%s did not list everything within %s\n%s", name, o.syncTimeout, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	const tick = 100 * time.Millisecond
	type sample struct {
		at  time.Time
		cpu float64
	}
	var history []sample
	for {
		cpu, err := cpuSeconds(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", name, err, p.log())
		}
		now := time.Now()
		history = append(history, sample{now, cpu})
		// Settled: at most 2% of a core used over the last o.settle. The sync time is
		// the start of that quiet window.
		k := -1
		for i := len(history) - 1; i >= 0; i-- {
			if now.Sub(history[i].at) >= o.settle {
				k = i
				break
			}
		}
		if k >= 0 && cpu-history[k].cpu <= 0.02*o.settle.Seconds() {
			r.syncTime = history[k].at.Sub(t0)
			r.syncCPU = cpu
			break
		}
		if now.After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%s: CPU never settled", name)
		}
		time.Sleep(tick)
	}
	r.rssSynced, r.hwmSynced, err = memory(p.pid)
	if err != nil {
		return nil, err
	}
	log.Printf("%s: synced after %s, %.2f CPU-s, RSS %s (peak %s)", name, r.syncTime.Round(time.Millisecond), r.syncCPU, mib(r.rssSynced), mib(r.hwmSynced))
	if o.profileDir != "" && name == "statefulset-exporter" {
		if err := saveURL(ctx, p.baseURL+"/debug/pprof/heap", filepath.Join(o.profileDir, fmt.Sprintf("heap-%d.pb.gz", o.pods))); err != nil {
			log.Printf("heap profile: %v", err)
		}
	}

	// One warm-up scrape each, then the timed ones, alternating encodings.
	var profileDone chan error
	if o.profileDir != "" && name == "statefulset-exporter" {
		profileDone = make(chan error, 1)
		go func() {
			profileDone <- saveURL(ctx, p.baseURL+"/debug/pprof/profile?seconds=20", filepath.Join(o.profileDir, fmt.Sprintf("cpu-scrapes-%d.pb.gz", o.pods)))
		}()
	}
	_, body, err := get(ctx, p.metricsURL, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.samples = countSamples(body)
	// What the Go runtime holds (GOMEMLIMIT's measure, approximately): its mapped
	// memory less the heap returned to the OS. Only the exporter exports it here.
	r.goRuntime = int64(sampleValue(body, "go_memstats_sys_bytes ") - sampleValue(body, "go_memstats_heap_released_bytes "))
	r.rssAtScrape, _, _ = memory(p.pid)
	if _, _, err := get(ctx, p.metricsURL, true); err != nil {
		return nil, err
	}
	cpuBefore, _ := cpuSeconds(p.pid)
	for range o.scrapes {
		for _, gz := range []bool{false, true} {
			t := time.Now()
			b, _, err := get(ctx, p.metricsURL, gz)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			d := time.Since(t)
			if gz {
				r.gz = append(r.gz, d)
				r.gzBytes = len(b)
			} else {
				r.plain = append(r.plain, d)
				r.plainBytes = len(b)
			}
		}
	}
	cpuAfter, _ := cpuSeconds(p.pid)
	r.scrapeCPU = (cpuAfter - cpuBefore) / float64(2*o.scrapes)
	if profileDone != nil {
		if err := <-profileDone; err != nil {
			log.Printf("cpu profile: %v", err)
		}
	}

	if strings.HasPrefix(name, "statefulset-exporter") && o.changes > 0 {
		if err := changeLatency(ctx, o, p, client, counts, r); err != nil {
			return nil, fmt.Errorf("%s: change latency: %w", name, err)
		}
	}
	r.rssEnd, r.hwmEnd, err = memory(p.pid)
	if err != nil {
		return nil, err
	}
	log.Printf("%s: plain median %s, gzip median %s, %d samples, %s / %s gzip; RSS %s, peak %s",
		name, median(r.plain).Round(time.Millisecond), median(r.gz).Round(time.Millisecond), r.samples,
		mib(int64(r.plainBytes)), mib(int64(r.gzBytes)), mib(r.rssEnd), mib(r.hwmEnd))
	return r, nil
}

// changeLatency makes a healthy pod crash-loop (a container restart and a
// CrashLoopBackOff waiting reason, written as the kubelet would) and times how long
// until the exporter's /metrics, scraped with gzip back to back, shows the restart.
func changeLatency(ctx context.Context, o options, p *proc, client kubernetes.Interface, counts fixture.Counts, r *result) error {
	pods, err := client.CoreV1().Pods("team-0000").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var candidates []corev1.Pod
	for _, pod := range pods.Items {
		if len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Waiting == nil {
			candidates = append(candidates, pod)
		}
	}
	if len(candidates) < o.changes {
		return fmt.Errorf("only %d healthy pods in team-0000", len(candidates))
	}
	for i := range o.changes {
		pod := candidates[i*len(candidates)/o.changes]
		set := metav1.GetControllerOf(&pod).Name
		// Labels come out sorted by name.
		series := fmt.Sprintf(`statefulset_pods_waiting{namespace="%s",reason="CrashLoopBackOff",statefulset="%s"} `, pod.Namespace, set)
		_, before, err := get(ctx, p.metricsURL, true)
		if err != nil {
			return err
		}
		want := sampleValue(before, series) + 1
		pod.Status.ContainerStatuses[0].RestartCount++
		pod.Status.ContainerStatuses[0].Ready = false
		pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		if _, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
			return err
		}
		changed := time.Now()
		for {
			_, body, err := get(ctx, p.metricsURL, true)
			if err != nil {
				return err
			}
			if sampleValue(body, series) == want {
				r.changeLatencies = append(r.changeLatencies, time.Since(changed))
				break
			}
			if time.Since(changed) > time.Minute {
				return fmt.Errorf("%s never reached %v", series, want)
			}
		}
	}
	return nil
}

// sampleValue returns the value of the series whose line starts with prefix, 0 when
// absent.
func sampleValue(body []byte, prefix string) float64 {
	i := bytes.Index(body, []byte("\n"+prefix))
	if i < 0 {
		return 0
	}
	line := body[i+1+len(prefix):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	v, _ := strconv.ParseFloat(strings.TrimSpace(string(line)), 64)
	return v
}

// get fetches url and returns the body as sent on the wire (compressed when gz) and
// decompressed.
func get(ctx context.Context, url string, gz bool) (wire, plain []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if gz {
		// Set explicitly, so that the transport does not decompress transparently.
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	wire, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if !gz {
		return wire, wire, nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		return nil, nil, fmt.Errorf("GET %s: asked for gzip, got Content-Encoding %q", url, ce)
	}
	zr, err := gzip.NewReader(bytes.NewReader(wire))
	if err != nil {
		return nil, nil, err
	}
	plain, err = io.ReadAll(zr)
	return wire, plain, err
}

func countSamples(body []byte) int {
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

func saveURL(ctx context.Context, url, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return os.WriteFile(path, data, 0o644)
}

// statFields splits /proc/<pid>/stat, whose second field (comm) may hold spaces, into
// fields numbered as in proc(5) minus one.
func statFields(stat []byte) []string {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return append([]string{s[:strings.IndexByte(s, ' ')], s[strings.IndexByte(s, '(') : i+1]}, strings.Fields(s[i+1:])...)
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux.
const clockTicks = 100

// cpuSeconds returns utime+stime of pid.
func cpuSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := statFields(stat)
	if len(f) < 15 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseFloat(f[13], 64)
	stime, _ := strconv.ParseFloat(f[14], 64)
	return (utime + stime) / clockTicks, nil
}

// memory returns VmRSS and VmHWM of pid in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

func median(ds []time.Duration) time.Duration { return quantile(ds, 0.5) }

// quantile is the nearest-rank quantile.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func render(o options, counts fixture.Counts, loadTime time.Duration, results []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %d pods\n\n", counts.Pods)
	fmt.Fprintf(&b, "Objects: %s (loaded in %s).\n\n", counts, loadTime.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s.\n\n", machine())
	fmt.Fprintf(&b, "Command: `go run ./tests/bench/compare %s`\n\n", strings.Join(os.Args[1:], " "))
	var ours, ksm *result
	for _, r := range results {
		switch {
		case r.name == "statefulset-exporter":
			ours = r
		case r.name == "kube-state-metrics":
			ksm = r
		}
	}
	header := "| | "
	sep := "|---|"
	for _, r := range results {
		header += r.name + " | "
		sep += "---:|"
	}
	if ours != nil && ksm != nil {
		header += "ours / KSM |"
		sep += "---:|"
	}
	b.WriteString(header + "\n" + sep + "\n")
	row := func(name string, f func(r *result) string, ratio func(r *result) float64) {
		line := "| " + name + " | "
		for _, r := range results {
			line += f(r) + " | "
		}
		if ours != nil && ksm != nil && ratio != nil {
			if d := ratio(ksm); d != 0 {
				line += fmt.Sprintf("%.2f |", ratio(ours)/d)
			} else {
				line += "– |"
			}
		} else if ours != nil && ksm != nil {
			line += " |"
		}
		b.WriteString(line + "\n")
	}
	row("peak RSS (VmHWM, after the scrapes)", func(r *result) string { return mib(r.hwmEnd) }, func(r *result) float64 { return float64(r.hwmEnd) })
	row("peak RSS until synced", func(r *result) string { return mib(r.hwmSynced) }, func(r *result) float64 { return float64(r.hwmSynced) })
	row("RSS after sync", func(r *result) string { return mib(r.rssSynced) }, func(r *result) float64 { return float64(r.rssSynced) })
	row("RSS after the scrapes", func(r *result) string { return mib(r.rssEnd) }, func(r *result) float64 { return float64(r.rssEnd) })
	row("Go runtime memory (sys − released) / RSS, first scrape", func(r *result) string {
		if r.goRuntime <= 0 {
			return "–"
		}
		return fmt.Sprintf("%s / %s", mib(r.goRuntime), mib(r.rssAtScrape))
	}, nil)
	row("CPU to sync (utime+stime)", func(r *result) string { return fmt.Sprintf("%.2f s", r.syncCPU) }, func(r *result) float64 { return r.syncCPU })
	row("time to sync (wall)", func(r *result) string { return fmt.Sprintf("%.1f s", r.syncTime.Seconds()) }, func(r *result) float64 { return r.syncTime.Seconds() })
	n := max(o.runs, 1) * o.scrapes
	row(fmt.Sprintf("/metrics plain, median of %d", n), func(r *result) string { return ms(median(r.plain)) }, func(r *result) float64 { return float64(median(r.plain)) })
	row(fmt.Sprintf("/metrics plain, p99 of %d", n), func(r *result) string { return ms(quantile(r.plain, 0.99)) }, func(r *result) float64 { return float64(quantile(r.plain, 0.99)) })
	row(fmt.Sprintf("/metrics gzip, median of %d", n), func(r *result) string { return ms(median(r.gz)) }, func(r *result) float64 { return float64(median(r.gz)) })
	row(fmt.Sprintf("/metrics gzip, p99 of %d", n), func(r *result) string { return ms(quantile(r.gz, 0.99)) }, func(r *result) float64 { return float64(quantile(r.gz, 0.99)) })
	row("CPU per scrape (mean of all)", func(r *result) string { return fmt.Sprintf("%.0f ms", r.scrapeCPU*1000) }, func(r *result) float64 { return r.scrapeCPU })
	row("response bytes, plain", func(r *result) string { return mib(int64(r.plainBytes)) }, func(r *result) float64 { return float64(r.plainBytes) })
	row("response bytes, gzip", func(r *result) string { return mib(int64(r.gzBytes)) }, func(r *result) float64 { return float64(r.gzBytes) })
	row("samples", func(r *result) string { return strconv.Itoa(r.samples) }, func(r *result) float64 { return float64(r.samples) })
	for _, r := range results {
		if len(r.changeLatencies) > 0 {
			fmt.Fprintf(&b, "\nA pod change (status update through the API) visible in %s's /metrics, scraped with gzip back to back, %d changes: median %s, max %s.\n",
				r.name, len(r.changeLatencies), ms(median(r.changeLatencies)), ms(quantile(r.changeLatencies, 1)))
		}
	}
	runs := max(o.runs, 1)
	if runs > 1 {
		fmt.Fprintf(&b, "\nEach figure is the median of %d runs per side (alternating, against the same objects); latencies are over all %d scrapes of the runs.", runs, runs*o.scrapes)
		for _, r := range results {
			var syncs []string
			for _, pr := range r.perRun {
				syncs = append(syncs, fmt.Sprintf("%.1f s", pr.syncTime.Seconds()))
			}
			fmt.Fprintf(&b, " %s synced in %s.", r.name, strings.Join(syncs, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\np99 of %d scrapes is their maximum. KSM runs with --enable-gzip-encoding (it does not compress otherwise).\n\n", runs*o.scrapes)
	return b.String()
}

func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
