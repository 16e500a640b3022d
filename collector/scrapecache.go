package collector

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Memoised derivations. A collection derives a StatefulSet again only when something its
// previous derivation read has changed; otherwise it sends the samples it made then.
//
// What a derivation reads is known exactly: the StatefulSet, its pods and PVCs (the
// statefulSetInputs), whatever it looked up through the clusterView (recorded by
// clusterView.recording), a few view-wide values (viewGlobals), the rollout progress
// remembered from the previous derivation, and the time. Informer caches never modify a
// cached object: an update replaces it with a new one. So "unchanged" is "the same
// pointers", which the memo compares; it keeps the objects it compares against alive,
// so that their addresses cannot be reused. Updates that change nothing the exporter
// keeps do not replace the cached object (see keepUnchanged in informers.go), so node
// heartbeats and the like do not defeat the memo.
//
// Time matters in two places only, which memoTimeValid re-evaluates with the
// derivation's own expressions: a rollout in progress becomes stalled, and a terminating
// pod becomes stuck.

// setMemo is one StatefulSet's last derivation and what it read.
type setMemo struct {
	set     *appsv1.StatefulSet
	pods    []*corev1.Pod                   // sorted by name
	pvcs    []*corev1.PersistentVolumeClaim // sorted by name
	deps    viewDeps
	globals viewGlobals
	// The rollout progress the derivation returned, and its time-dependent results.
	progress            *rolloutProgress
	inProgress, stalled bool
	terminating         []terminatingPod
	samples             []prometheus.Metric
	// statefulset_container_restarts_total, emitted fresh each time: its labels and
	// the value of this collection.
	restartLabels []string
	restartPairs  labelPairs
	restarts      float64
}

type terminatingPod struct {
	pod   *corev1.Pod
	stuck bool
}

// viewGlobals are the values of a clusterView that a derivation reads directly.
type viewGlobals struct {
	defaultStorageClass              string
	nodes, zones, pvcs, pvs, classes bool // whether the lookup exists
	attachments, pdbs                bool
	zoneKeys                         string
}

func (v *clusterView) globals() viewGlobals {
	return viewGlobals{
		defaultStorageClass: v.defaultStorageClass,
		nodes:               v.node != nil, zones: v.zoneSchedulable != nil, pvcs: v.pvc != nil, pvs: v.pv != nil,
		classes: v.storageClass != nil, attachments: v.attachments != nil, pdbs: v.pdbs != nil,
		zoneKeys: strings.Join(v.zoneKeys, "\x00"),
	}
}

// viewDeps is every answer a clusterView gave to one derivation.
type viewDeps struct {
	nodes       []nodeDep
	pvcs        []pvcDep
	pvs         []pvDep
	classes     []classDep
	attachments []attachmentsDep
	pdbs        []pdbsDep
	zones       []zoneDep
}

type nodeDep struct {
	name string
	node *corev1.Node
}

type pvcDep struct {
	namespace, name string
	pvc             *corev1.PersistentVolumeClaim
}

type pvDep struct {
	name string
	pv   *corev1.PersistentVolume
}

type classDep struct {
	name  string
	class *storagev1.StorageClass
}

type attachmentsDep struct {
	pvName string
	vas    []*storagev1.VolumeAttachment
}

type pdbsDep struct {
	namespace string
	pdbs      []*policyv1.PodDisruptionBudget
}

type zoneDep struct {
	zone string
	ok   bool
}

func (d *viewDeps) reset() {
	d.nodes, d.pvcs, d.pvs, d.classes = d.nodes[:0], d.pvcs[:0], d.pvs[:0], d.classes[:0]
	d.attachments, d.pdbs, d.zones = d.attachments[:0], d.pdbs[:0], d.zones[:0]
}

// compacted returns a copy of d, sized to fit, without repeated identical answers (a
// derivation looks up a pod's node twice). Answers that differ for the same question
// (the cache changed during the derivation) are all kept, so the memo never matches.
func (d *viewDeps) compacted() viewDeps {
	var out viewDeps
	out.nodes = compactDeps(d.nodes, func(a, b nodeDep) int { return strings.Compare(a.name, b.name) })
	out.pvcs = compactDeps(d.pvcs, func(a, b pvcDep) int {
		if c := strings.Compare(a.namespace, b.namespace); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out.pvs = compactDeps(d.pvs, func(a, b pvDep) int { return strings.Compare(a.name, b.name) })
	out.classes = compactDeps(d.classes, func(a, b classDep) int { return strings.Compare(a.name, b.name) })
	out.zones = compactDeps(d.zones, func(a, b zoneDep) int { return strings.Compare(a.zone, b.zone) })
	out.attachments = slices.Clone(d.attachments)
	out.pdbs = slices.Clone(d.pdbs)
	if len(out.attachments) == 0 {
		out.attachments = nil
	}
	if len(out.pdbs) == 0 {
		out.pdbs = nil
	}
	return out
}

// compactDeps sorts a copy of deps by question and drops exact repeats.
func compactDeps[T comparable](deps []T, cmp func(a, b T) int) []T {
	if len(deps) == 0 {
		return nil
	}
	out := slices.Clone(deps)
	slices.SortStableFunc(out, cmp)
	out = slices.Compact(out)
	return slices.Clip(out)
}

// recording returns a view that answers like v and notes every answer in deps.
func (v *clusterView) recording(deps *viewDeps) *clusterView {
	r := *v
	if v.node != nil {
		r.node = func(name string) *corev1.Node {
			n := v.node(name)
			deps.nodes = append(deps.nodes, nodeDep{name, n})
			return n
		}
	}
	if v.zoneSchedulable != nil {
		r.zoneSchedulable = func(zone string) bool {
			ok := v.zoneSchedulable(zone)
			deps.zones = append(deps.zones, zoneDep{zone, ok})
			return ok
		}
	}
	if v.pvc != nil {
		r.pvc = func(namespace, name string) *corev1.PersistentVolumeClaim {
			c := v.pvc(namespace, name)
			deps.pvcs = append(deps.pvcs, pvcDep{namespace, name, c})
			return c
		}
	}
	if v.pv != nil {
		r.pv = func(name string) *corev1.PersistentVolume {
			pv := v.pv(name)
			deps.pvs = append(deps.pvs, pvDep{name, pv})
			return pv
		}
	}
	if v.storageClass != nil {
		r.storageClass = func(name string) *storagev1.StorageClass {
			sc := v.storageClass(name)
			deps.classes = append(deps.classes, classDep{name, sc})
			return sc
		}
	}
	if v.attachments != nil {
		r.attachments = func(pvName string) []*storagev1.VolumeAttachment {
			vas := v.attachments(pvName)
			deps.attachments = append(deps.attachments, attachmentsDep{pvName, slices.Clone(vas)})
			return vas
		}
	}
	if v.pdbs != nil {
		r.pdbs = func(namespace string) []*policyv1.PodDisruptionBudget {
			pdbs := v.pdbs(namespace)
			deps.pdbs = append(deps.pdbs, pdbsDep{namespace, slices.Clone(pdbs)})
			return pdbs
		}
	}
	return &r
}

// unchanged tells whether v gives every recorded answer again.
func (d *viewDeps) unchanged(v *clusterView) bool {
	for _, n := range d.nodes {
		if v.node(n.name) != n.node {
			return false
		}
	}
	for _, c := range d.pvcs {
		if v.pvc(c.namespace, c.name) != c.pvc {
			return false
		}
	}
	for _, p := range d.pvs {
		if v.pv(p.name) != p.pv {
			return false
		}
	}
	for _, c := range d.classes {
		if v.storageClass(c.name) != c.class {
			return false
		}
	}
	for _, z := range d.zones {
		if v.zoneSchedulable(z.zone) != z.ok {
			return false
		}
	}
	for _, a := range d.attachments {
		if !samePointers(v.attachments(a.pvName), a.vas) {
			return false
		}
	}
	for _, p := range d.pdbs {
		if !samePointers(v.pdbs(p.namespace), p.pdbs) {
			return false
		}
	}
	return true
}

// samePointers tells whether a and b hold the same pointers, in any order.
func samePointers[T any](a, b []*T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if !slices.Contains(b, a[i]) {
			return false
		}
	}
	// Equal lengths and a ⊆ b; the lists come from sets of distinct objects.
	return true
}

// newSetMemo remembers a derivation made from in and deps at now.
func newSetMemo(in statefulSetInputs, deps *viewDeps, globals viewGlobals, h *health, progress *rolloutProgress, now time.Time, cfg *Config, samples []prometheus.Metric) *setMemo {
	m := &setMemo{
		set: in.set, pods: in.pods, pvcs: in.pvcs,
		deps: deps.compacted(), globals: globals,
		progress: progress, inProgress: h.rollout.inProgress, stalled: h.rollout.stalled,
		samples: samples,
	}
	for _, p := range in.pods {
		if p.DeletionTimestamp != nil {
			m.terminating = append(m.terminating, terminatingPod{pod: p, stuck: podStuck(p, now, cfg.TerminatingStuckAfter)})
		}
	}
	return m
}

// valid tells whether deriving in again at now would give the memo's samples.
func (m *setMemo) valid(in statefulSetInputs, v *clusterView, globals viewGlobals, progress *rolloutProgress, now time.Time, cfg *Config) bool {
	if m.set != in.set || m.globals != globals || !slices.Equal(m.pods, in.pods) || !slices.Equal(m.pvcs, in.pvcs) {
		return false
	}
	if progress != m.progress {
		return false
	}
	// deriveRollout's test; inProgress implies a progress.
	if m.inProgress && (progress == nil || (now.Sub(progress.at) >= cfg.RolloutStallAfter) != m.stalled) {
		return false
	}
	for _, t := range m.terminating {
		if podStuck(t.pod, now, cfg.TerminatingStuckAfter) != t.stuck {
			return false
		}
	}
	return m.deps.unchanged(v)
}

// sortByName sorts objects by name, the order the memo compares inputs in.
func sortByName[T interface{ GetName() string }](objs []T) {
	slices.SortFunc(objs, func(a, b T) int { return strings.Compare(a.GetName(), b.GetName()) })
}

// Samples in exposition order. The registry sorts the samples of every family by their
// label values, which costs a comparison-heavy O(n log n) on every scrape, unless they
// come sorted (its sort then only checks). Every workload family's first label is
// namespace, so a family is sorted when each namespace's samples are; the samples of a
// namespace are sorted once and kept while none of its StatefulSets changed.

// nsBlock is the samples of one namespace's StatefulSets, family by family, each family
// sorted by label values, and the memos they came from.
type nsBlock struct {
	memos   []*setMemo
	samples []prometheus.Metric
}

// familyIndex numbers the workload families, in exposition order.
var familyIndex = func() map[*prometheus.Desc]int {
	m := make(map[*prometheus.Desc]int, len(workloadFamilies))
	for i, f := range workloadFamilies {
		m[f.desc] = i
	}
	return m
}()

// emitNamespace sends the samples of memos, which are one namespace's StatefulSets in
// name order, then their restart counters.
func (c *Collector) emitNamespace(ch chan<- prometheus.Metric, memos []*setMemo) {
	ns := memos[0].set.Namespace
	b := c.blocks[ns]
	if b == nil || !slices.Equal(b.memos, memos) {
		b = &nsBlock{memos: slices.Clone(memos)}
		families := make([][]prometheus.Metric, len(workloadFamilies))
		n := 0
		for _, m := range memos {
			for _, s := range m.samples {
				i := familyIndex[s.Desc()]
				families[i] = append(families[i], s)
			}
			n += len(m.samples)
		}
		b.samples = make([]prometheus.Metric, 0, n)
		for _, f := range families {
			slices.SortStableFunc(f, compareSamples)
			b.samples = append(b.samples, f...)
		}
		c.blocks[ns] = b
	}
	for _, s := range b.samples {
		ch <- s
	}
	for _, m := range memos {
		ch <- newConstSample(restartsDesc, prometheus.CounterValue, m.restarts, m.restartLabels, m.restartPairs)
	}
}

// compareSamples orders two samples of one family as the registry does: by their label
// values, labels in name order.
func compareSamples(a, b prometheus.Metric) int {
	pa, pb := a.(*constSample).pairs, b.(*constSample).pairs
	for i := range min(len(pa), len(pb)) {
		if c := strings.Compare(pa[i].GetValue(), pb[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}
