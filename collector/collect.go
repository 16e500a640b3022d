package collector

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// One collection: every watched StatefulSet derived (or taken from its memo) and
// exposed, then the Leases, the bind-duration histograms and the exporter's own state.

func (c *Collector) collectWorkloads(ch chan<- prometheus.Metric) {
	c.memoMu.Lock()
	defer c.memoMu.Unlock()
	c.refreshWorkloads(func(b *nsBlock) { emitNamespace(ch, b) })
}

// refreshWorkloads brings the memos and namespace blocks up to date and passes each
// namespace's block, in namespace order, to each. It revisits only the namespaces
// marked dirty since the last collection and those whose time-dependent memos changed
// (dirty.go). c.memoMu must be held.
func (c *Collector) refreshWorkloads(each func(*nsBlock)) {
	// Cleared before the caches are read: a change that lands later is seen next time.
	marks := c.watch.dirty.take()
	all, dirty := marks.all, marks.namespaces
	// Switching an optional kind off or on (RBAC) changes the lookups of every
	// derivation and comes without an event: everything is revisited.
	if kinds := c.optionalKindsOn(); kinds != c.optionalKinds {
		c.optionalKinds, all = kinds, true
	}
	now := c.now()
	th := c.cfg.thresholds()
	sets := c.watch.resources[resStatefulSets].informer.GetIndexer()
	var view *derive.View
	if all || c.noMemo {
		dirty = make(map[string]bool, len(c.blocks))
		for ns := range c.blocks {
			dirty[ns] = true
		}
		for _, ns := range sets.ListIndexFuncValues(cache.NamespaceIndex) {
			dirty[ns] = true
		}
	} else if len(marks.questions) > 0 {
		// The namespaces whose derivations asked what a cluster-scoped change may answer
		// differently (dirty.go).
		view = c.clusterView()
		asked := marks.askedBy(view)
		for _, m := range c.memos {
			if ns := m.set.Namespace; !dirty[ns] && asked(&m.deps) {
				if dirty == nil {
					dirty = map[string]bool{}
				}
				dirty[ns] = true
			}
		}
	}
	for ns := range c.timed {
		if !dirty[ns] && c.timeChanged(ns, now, th) {
			if dirty == nil {
				dirty = map[string]bool{}
			}
			dirty[ns] = true
		}
	}
	if len(dirty) > 0 {
		if view == nil {
			view = c.clusterView()
		}
		reorder := false
		for ns := range dirty {
			reorder = c.setNamespace(ns, c.refreshNamespace(ns, sets, view, now, th)) || reorder
		}
		if reorder {
			c.sortNamespaces()
		}
	}
	for _, ns := range c.order {
		each(c.blocks[ns])
	}
}

// refreshNamespace returns the memos of the StatefulSets of namespace ns, in name order.
func (c *Collector) refreshNamespace(ns string, sets cache.Indexer, view *derive.View, now time.Time, th derive.Thresholds) []*setMemo {
	if !c.cfg.watchesNamespace(ns) {
		return nil
	}
	objs, _ := sets.ByIndex(cache.NamespaceIndex, ns)
	if len(objs) == 0 {
		return nil
	}
	inNamespace := make([]*derive.StatefulSet, 0, len(objs))
	for _, o := range objs {
		inNamespace = append(inNamespace, o.(*derive.StatefulSet))
	}
	sortByName(inNamespace)
	podIndex := c.watch.resources[resPods].informer.GetIndexer()
	memos := make([]*setMemo, 0, len(inNamespace))
	for _, set := range inNamespace {
		key := set.Namespace + "/" + set.Name
		in := derive.Inputs{Set: set}
		pods, _ := podIndex.ByIndex(byStatefulSet, key)
		in.Pods = make([]*derive.Pod, 0, len(pods))
		for _, p := range pods {
			in.Pods = append(in.Pods, p.(*derive.Pod))
		}
		in.PVCs, in.ReleasedVolumes = c.watch.claimsOf(set)
		sortByName(in.Pods)
		m := c.memo(key, in, view, now, th)
		m.restarts = c.restarts.total(key)
		memos = append(memos, m)
	}
	return memos
}

// optionalKindsOn has a bit set for each optional kind of the cluster view that is on.
func (c *Collector) optionalKindsOn() uint8 {
	var on uint8
	for i, name := range []string{resVolumeAttachments, resPodDisruptionBudgets, resServices} {
		if c.watch.resources[name].enabled() {
			on |= 1 << i
		}
	}
	return on
}

// clusterView builds the read-only lookups of one collection from the caches.
func (c *Collector) clusterView() *derive.View {
	classes := c.watch.resources[resStorageClasses].informer.GetStore()
	v := derive.NewView(c.cfg.ZoneLabels, func() string {
		return derive.DefaultStorageClass(listOf[*storagev1.StorageClass](classes))
	})

	nodes := c.watch.resources[resNodes].informer.GetStore()
	v.Node = derive.NewLookup(v, resNodes, getter[*derive.Node](nodes))
	v.UsableNode = derive.NewUsableNodeLookup(v, lookupUsableNodes, func() []*derive.Node { return listOf[*derive.Node](nodes) })
	v.CordonedCandidate = derive.NewCordonedCandidateLookup(v, lookupCordonedCandidates, func() []*derive.Node { return listOf[*derive.Node](nodes) })
	v.PVC = derive.NewLookup(v, resPVCs, getter[*derive.PVC](c.watch.resources[resPVCs].informer.GetStore()))
	v.PV = derive.NewLookup(v, resPVs, getter[*derive.PV](c.watch.resources[resPVs].informer.GetStore()))
	classByName := getter[*storagev1.StorageClass](classes)
	v.StorageClass = derive.NewLookup(v, resStorageClasses, func(name string) derive.StorageClass {
		return derive.StorageClassOf(classByName(name))
	})
	if r := c.watch.resources[resVolumeAttachments]; r.enabled() {
		v.Attachments = derive.NewListLookup(v, resVolumeAttachments, indexed[storagev1.VolumeAttachment](r.informer.GetIndexer(), byVolume))
	}
	if r := c.watch.resources[resPodDisruptionBudgets]; r.enabled() {
		v.PDBs = derive.NewListLookup(v, resPodDisruptionBudgets, indexed[policyv1.PodDisruptionBudget](r.informer.GetIndexer(), cache.NamespaceIndex))
	}
	if r := c.watch.resources[resServices]; r.enabled() {
		v.Services = derive.NewLookup(v, resServices, getter[*derive.Service](r.informer.GetStore()))
	}
	return v
}

func (c *Collector) collectLeases(ch chan<- prometheus.Metric) {
	r := c.watch.resources[resLeases]
	if !r.enabled() {
		return
	}
	o := sampleOut{emit: func(m prometheus.Metric) { ch <- m }}
	now := c.now()
	for _, l := range listOf[*coordinationv1.Lease](r.informer.GetStore()) {
		if len(c.cfg.LeaseNames) > 0 && !slices.Contains(c.cfg.LeaseNames, l.Name) {
			continue
		}
		transitions, changedAt, _ := c.leases.state(l.Namespace, l.Name)
		o.base = []string{boundedLabel(l.Namespace), boundedLabel(l.Name)}
		collectFamilies(leaseFamilies, leaseView{lease: l, transitions: transitions, observedChangeAt: changedAt, now: now}, &o)
	}
}

func (c *Collector) collectBindDurations(ch chan<- prometheus.Metric) {
	collectFamilies(bindDurationFamilies, c.binds, &sampleOut{emit: func(m prometheus.Metric) { ch <- m }})
}

// collectSelf records the resources' states and the collection's duration, then sends
// the self families.
func (c *Collector) collectSelf(ch chan<- prometheus.Metric, started time.Time) {
	c.self.collected(c.watch.states(), time.Since(started))
	var samples []prometheus.Metric
	c.self.mu.Lock()
	collectFamilies(selfFamilies, c.self, &sampleOut{emit: func(m prometheus.Metric) { samples = append(samples, m) }})
	c.self.mu.Unlock()
	for _, m := range samples {
		ch <- m
	}
}
