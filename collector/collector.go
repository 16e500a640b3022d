// Package collector derives StatefulSet health from client-go informer caches and
// exposes it as Prometheus metrics. A scrape never calls the Kubernetes API: it reads the
// caches, so while the API server fails over the last known state keeps being served.
//
// Files: informers.go sets up the watches, transform.go slims cached objects, derive*.go
// compute health, families_*.go turn it into metric families, and restarts.go,
// bindings.go and lease.go hold the state that needs history.
package collector

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Collector is a prometheus.Collector of derived StatefulSet, control-plane and
// self metrics. Create it with New, start it with Start.
type Collector struct {
	cfg    Config
	client kubernetes.Interface
	logger *slog.Logger
	now    func() time.Time
	probe  func(ctx context.Context) error

	namespaced, cluster, leaseFactory informers.SharedInformerFactory
	resources                         map[string]*watchedResource

	restarts      *restartTracker
	binds         *bindTracker
	leases        *leaseTracker
	bindDurations *prometheus.HistogramVec
	self          *selfMetrics
	recovery      *recoverySignal // fired when the API probe succeeds after failing

	// progressMu serialises collections, which update progress and memos.
	progressMu sync.Mutex
	progress   map[string]*rolloutProgress
	memos      map[string]*setMemo // see scrapecache.go
	blocks     map[string]*nsBlock // by namespace
	noMemo     bool                // derive every StatefulSet on every collection (tests)

	startOnce sync.Once
}

// Option changes how a Collector is built.
type Option func(*Collector)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(c *Collector) { c.now = now } }

// WithProbe replaces the API reachability probe (by default the discovery client's
// ServerVersion call).
func WithProbe(probe func(ctx context.Context) error) Option {
	return func(c *Collector) { c.probe = probe }
}

// New builds a Collector and its informers. cfg must have passed Validate.
func New(client kubernetes.Interface, cfg Config, logger *slog.Logger, opts ...Option) (*Collector, error) {
	c := &Collector{
		cfg:      cfg,
		client:   client,
		logger:   logger,
		now:      time.Now,
		restarts: newRestartTracker(),
		binds:    newBindTracker(),
		leases:   newLeaseTracker(),
		progress: map[string]*rolloutProgress{},
		memos:    map[string]*setMemo{},
		blocks:   map[string]*nsBlock{},
		self:     newSelfMetrics(),
		recovery: newRecoverySignal(),
		bindDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "statefulset_pvc_bind_duration_seconds",
			Help:    "Pending to Bound durations of the StatefulSet's PVCs observed by the exporter.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 900, 3600},
		}, []string{"namespace", "statefulset"}),
	}
	c.probe = func(context.Context) error {
		_, err := client.Discovery().ServerVersion()
		return err
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.buildInformers(); err != nil {
		return nil, err
	}
	return c, nil
}

// Start starts the informers and the API probe and returns at once; everything stops
// when ctx is done.
func (c *Collector) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		for _, name := range allResources {
			go c.resources[name].informer.RunWithContext(ctx)
		}
		go c.probeLoop(ctx)
	})
}

// WaitForSync blocks until the collector is Ready, or ctx ends. It reports whether it
// became Ready.
func (c *Collector) WaitForSync(ctx context.Context) bool {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for !c.Ready() {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
	}
	return true
}

// Ready tells whether every enabled informer has completed its first list. An optional
// kind that RBAC forbids does not hold readiness back.
func (c *Collector) Ready() bool {
	for _, r := range c.resources {
		if r.enabled() && !r.informer.HasSynced() {
			return false
		}
	}
	return true
}

func (c *Collector) probeLoop(ctx context.Context) {
	ticker := time.NewTicker(c.cfg.APIProbeInterval)
	defer ticker.Stop()
	failing := false
	for {
		probeCtx, cancel := context.WithTimeout(ctx, max(c.cfg.APIProbeInterval, time.Second))
		err := c.probe(probeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			reason := classifyAPIError(err)
			c.self.apiErrors.WithLabelValues("probe", reason).Inc()
			c.self.apiReachable.Set(0)
			c.logger.Warn("API server probe failed", "reason", reason, "err", err)
			failing = true
		} else {
			if failing {
				// Wake the list/watch retries at once instead of at their next backoff.
				c.recovery.fire()
				c.logger.Info("API server reachable again")
				failing = false
			}
			c.self.apiReachable.Set(1)
			c.self.apiLastSuccess.Set(float64(c.now().UnixNano()) / 1e9)
			c.self.probeSucceeded.Store(true)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range workloadFamilies {
		ch <- f.desc
	}
	for _, f := range leaseFamilies {
		ch <- f.desc
	}
	ch <- restartsDesc
	c.bindDurations.Describe(ch)
	c.self.describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	c.collectWorkloads(ch)
	c.collectLeases(ch)
	c.bindDurations.Collect(ch)
	for _, name := range allResources {
		r := c.resources[name]
		enabled := r.enabled()
		c.self.enabled.WithLabelValues(name).Set(boolFloat(enabled))
		c.self.synced.WithLabelValues(name).Set(boolFloat(enabled && r.informer.HasSynced()))
	}
	c.self.collectDuration.Set(time.Since(start).Seconds())
	c.self.collect(ch)
}

func (c *Collector) collectWorkloads(ch chan<- prometheus.Metric) {
	now := c.now()
	view := c.clusterView()
	globals := view.globals()
	var deps viewDeps
	recording := view.recording(&deps)
	sets := c.resources[resStatefulSets].informer.GetStore().List()
	sort.Slice(sets, func(i, j int) bool {
		a, b := sets[i].(*appsv1.StatefulSet), sets[j].(*appsv1.StatefulSet)
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	podIndex := c.resources[resPods].informer.GetIndexer()
	pvcIndex := c.resources[resPVCs].informer.GetIndexer()

	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	seen := make(map[string]bool, len(sets))
	var nsMemos []*setMemo // of the namespace being collected; sets come by namespace
	for _, obj := range sets {
		set := obj.(*appsv1.StatefulSet)
		if !c.cfg.watchesNamespace(set.Namespace) {
			continue
		}
		if len(nsMemos) > 0 && nsMemos[0].set.Namespace != set.Namespace {
			c.emitNamespace(ch, nsMemos)
			nsMemos = nsMemos[:0]
		}
		key := set.Namespace + "/" + set.Name
		seen[key], seen[set.Namespace] = true, true
		in := statefulSetInputs{set: set}
		pods, _ := podIndex.ByIndex(byStatefulSet, key)
		in.pods = make([]*corev1.Pod, 0, len(pods))
		for _, p := range pods {
			in.pods = append(in.pods, p.(*corev1.Pod))
		}
		bases, _ := statefulSetByClaimBase(set)
		for _, base := range bases {
			claims, _ := pvcIndex.ByIndex(byClaimBase, base)
			for _, pvc := range claims {
				in.pvcs = append(in.pvcs, pvc.(*corev1.PersistentVolumeClaim))
			}
		}
		sortByName(in.pods)
		sortByName(in.pvcs)
		prev := c.progress[key]
		m := c.memos[key]
		if c.noMemo || m == nil || !m.valid(in, view, globals, prev, now, &c.cfg) {
			deps.reset()
			h, next := derive(in, recording, prev, now, &c.cfg)
			c.progress[key] = next
			m = newSetMemo(in, &deps, globals, h, next, now, &c.cfg, workloadSamples(h, nil))
			m.restartLabels, m.restartPairs = []string{set.Namespace, set.Name}, labelPairs{}
			c.memos[key] = m
		}
		m.restarts = c.restarts.total(key)
		nsMemos = append(nsMemos, m)
	}
	if len(nsMemos) > 0 {
		c.emitNamespace(ch, nsMemos)
	}
	for ns := range c.blocks {
		if !seen[ns] {
			delete(c.blocks, ns)
		}
	}
	for key := range c.progress {
		if !seen[key] {
			delete(c.progress, key)
		}
	}
	for key := range c.memos {
		if !seen[key] {
			delete(c.memos, key)
		}
	}
}

// clusterView builds the read-only lookups of one collection from the caches.
func (c *Collector) clusterView() *clusterView {
	v := &clusterView{zoneKeys: c.cfg.ZoneLabels}
	nodes := c.resources[resNodes].informer.GetStore()
	schedulable := map[string]bool{}
	for _, obj := range nodes.List() {
		n := obj.(*corev1.Node)
		if zone := zoneOf(n.Labels, v.zoneKeys); zone != "" && nodeSchedulable(n) {
			schedulable[zone] = true
		}
	}
	v.node = func(name string) *corev1.Node {
		obj, ok, _ := nodes.GetByKey(name)
		if !ok {
			return nil
		}
		return obj.(*corev1.Node)
	}
	v.zoneSchedulable = func(zone string) bool { return schedulable[zone] }
	pvcs := c.resources[resPVCs].informer.GetStore()
	v.pvc = func(namespace, name string) *corev1.PersistentVolumeClaim {
		obj, ok, _ := pvcs.GetByKey(namespace + "/" + name)
		if !ok {
			return nil
		}
		return obj.(*corev1.PersistentVolumeClaim)
	}
	pvs := c.resources[resPVs].informer.GetStore()
	v.pv = func(name string) *corev1.PersistentVolume {
		obj, ok, _ := pvs.GetByKey(name)
		if !ok {
			return nil
		}
		return obj.(*corev1.PersistentVolume)
	}
	classes := c.resources[resStorageClasses].informer.GetStore()
	var defaultClass *storagev1.StorageClass
	for _, obj := range classes.List() {
		sc := obj.(*storagev1.StorageClass)
		if sc.Annotations[annDefaultStorageClass] == "true" || sc.Annotations[annBetaDefaultStorageClass] == "true" {
			// Kubernetes picks the newest default class when several are marked, the
			// first name when they are equally new.
			if defaultClass == nil || sc.CreationTimestamp.After(defaultClass.CreationTimestamp.Time) ||
				(sc.CreationTimestamp.Equal(&defaultClass.CreationTimestamp) && sc.Name < defaultClass.Name) {
				defaultClass = sc
			}
		}
	}
	if defaultClass != nil {
		v.defaultStorageClass = defaultClass.Name
	}
	v.storageClass = func(name string) *storagev1.StorageClass {
		obj, ok, _ := classes.GetByKey(name)
		if !ok {
			return nil
		}
		return obj.(*storagev1.StorageClass)
	}
	if r := c.resources[resVolumeAttachments]; r.enabled() {
		index := r.informer.GetIndexer()
		v.attachments = func(pvName string) []*storagev1.VolumeAttachment {
			objs, _ := index.ByIndex(byVolume, pvName)
			out := make([]*storagev1.VolumeAttachment, 0, len(objs))
			for _, o := range objs {
				out = append(out, o.(*storagev1.VolumeAttachment))
			}
			return out
		}
	}
	if r := c.resources[resPodDisruptionBudgets]; r.enabled() {
		index := r.informer.GetIndexer()
		v.pdbs = func(namespace string) []*policyv1.PodDisruptionBudget {
			objs, _ := index.ByIndex(cache.NamespaceIndex, namespace)
			out := make([]*policyv1.PodDisruptionBudget, 0, len(objs))
			for _, o := range objs {
				out = append(out, o.(*policyv1.PodDisruptionBudget))
			}
			return out
		}
	}
	return v
}

func (c *Collector) collectLeases(ch chan<- prometheus.Metric) {
	r := c.resources[resLeases]
	if !r.enabled() {
		return
	}
	for _, obj := range r.informer.GetStore().List() {
		l := obj.(*coordinationv1.Lease)
		if len(c.cfg.LeaseNames) > 0 && !contains(c.cfg.LeaseNames, l.Name) {
			continue
		}
		transitions, changedAt, _ := c.leases.state(l.Namespace, l.Name)
		emitLease(ch, leaseView{lease: l, transitions: transitions, observedChangeAt: changedAt})
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
