package collector

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Memoised derivations. A collection derives a StatefulSet again only when something its
// previous derivation read has changed; otherwise it sends the samples it made then.
//
// What a derivation reads is known exactly: the StatefulSet, its pods and PVCs (the
// derive.Inputs, with the volumes earlier claims left behind), whatever it looked up
// through the derive.View (recorded by the view itself, see derive.Deps), the rollout
// progress remembered from the previous derivation, and the time. Informer caches never
// modify a cached object: an update replaces it with a new one. So "unchanged" is "the
// same pointers", which the memo compares; it keeps the objects it compares against
// alive, so that their addresses cannot be reused. Updates that change nothing the
// exporter keeps do not replace the cached object (see keepUnchanged in listpages.go), so
// node heartbeats and the like do not defeat the memo.
//
// Time matters in three places only, which valid re-evaluates with the derivation's own
// predicates: a rollout in progress becomes stalled, a terminating pod becomes stuck, and
// a container's last termination leaves the recent window (--restarts.recent-window).

// memoStore is the memos of every StatefulSet, and the namespace blocks of samples made
// from them.
type memoStore struct {
	progress map[string]*derive.Progress // by StatefulSet namespace/name
	memos    map[string]*setMemo         // by StatefulSet namespace/name
	blocks   map[string]*nsBlock         // by namespace
	order    []string                    // the namespaces of blocks, sorted
	timed    map[string][]*setMemo       // the memos time can change, by namespace (dirty.go)
	deps     derive.Deps                 // what the derivation under way reads
	textGen  uint64                      // the last generation given to a block's text (expo.go)
	chunks   map[string]*expoChunk       // gzip chunks by first namespace (expo.go)
	build    sampleBuilder               // scratch of the derivation under way
	pairs    pairTable                   // the label pairs memos share
	// optionalKinds is which optional kinds the last collection's view read (collect.go).
	optionalKinds uint8
	noMemo        bool // derive every StatefulSet on every collection (tests)
	valids        int  // calls of setMemo.valid (tests)
}

func newMemoStore() memoStore {
	return memoStore{progress: map[string]*derive.Progress{}, memos: map[string]*setMemo{}, blocks: map[string]*nsBlock{},
		timed: map[string][]*setMemo{}}
}

// memo returns the memo of the StatefulSet key with inputs in, deriving it again when
// the one kept would not give the same samples at now.
func (s *memoStore) memo(key string, in derive.Inputs, view *derive.View, now time.Time, th derive.Thresholds) *setMemo {
	prev := s.progress[key]
	m := s.memos[key]
	if m != nil && !s.noMemo {
		s.valids++
	}
	if s.noMemo || m == nil || !m.valid(in, view, prev, now, th) {
		view.RecordInto(&s.deps)
		h, next := derive.Derive(in, view, prev, now, th)
		view.RecordInto(nil)
		s.progress[key] = next
		s.build.shared = &s.pairs
		m = newSetMemo(in, s.deps.Compacted(view), h, next, now, th, &s.build)
		s.memos[key] = m
		if s.pairs.grown() {
			s.sweepPairs()
		}
	}
	return m
}

// setNamespace records the memos of namespace ns, one per StatefulSet in name order
// (none when it has none left), makes its block and forgets the memos of StatefulSets
// gone. It reports whether ns gained or lost its block.
func (s *memoStore) setNamespace(ns string, memos []*setMemo) (reorder bool) {
	old := s.blocks[ns]
	if old != nil {
		names := make(map[string]bool, len(memos))
		for _, m := range memos {
			names[m.set.Name] = true
		}
		for _, m := range old.memos {
			if !names[m.set.Name] {
				delete(s.memos, ns+"/"+m.set.Name)
				delete(s.progress, ns+"/"+m.set.Name)
			}
		}
	}
	var timed []*setMemo
	for _, m := range memos {
		if m.timed() {
			timed = append(timed, m)
		}
	}
	if len(timed) > 0 {
		s.timed[ns] = timed
	} else {
		delete(s.timed, ns)
	}
	if len(memos) == 0 {
		delete(s.blocks, ns)
		return old != nil
	}
	s.updateBlock(memos)
	return old == nil
}

// sortNamespaces brings the namespace order up to date with the blocks.
func (s *memoStore) sortNamespaces() {
	s.order = s.order[:0]
	for ns := range s.blocks {
		s.order = append(s.order, ns)
	}
	slices.Sort(s.order)
}

// timeChanged tells whether a memo of ns would give other samples at now than when it
// was made, its inputs unchanged.
func (s *memoStore) timeChanged(ns string, now time.Time, th derive.Thresholds) bool {
	for _, m := range s.timed[ns] {
		if !m.validAt(m.progress, now, th) {
			return true
		}
	}
	return false
}

// setMemo is one StatefulSet's last derivation and what it read.
type setMemo struct {
	set  *derive.StatefulSet
	pods []*derive.Pod // sorted by name
	pvcs []*derive.PVC // sorted by name
	vols []*derive.PV  // sorted by name
	deps derive.Deps
	// The rollout progress the derivation returned, and its time-dependent results.
	progress            *derive.Progress
	inProgress, stalled bool
	terminating         []terminatingPod
	// The earliest recent container termination, the first to leave the window.
	earliestTerm   time.Time
	hasRecentTerms bool
	samples        []constSample // read-only: the blocks and the registry get pointers into it
	// statefulset_container_restarts_total is emitted fresh each time, from the base
	// label set kept here (that of samples) and the value of this collection.
	basePairs *[]*dto.LabelPair
	restarts  float64
}

type terminatingPod struct {
	pod   *derive.Pod
	stuck bool
}

// newSetMemo remembers a derivation made from in, which read deps, at now.
func newSetMemo(in derive.Inputs, deps derive.Deps, h *derive.Health, progress *derive.Progress, now time.Time, th derive.Thresholds, b *sampleBuilder) *setMemo {
	m := &setMemo{
		set: in.Set, pods: in.Pods, pvcs: in.PVCs, vols: in.ReleasedVolumes, deps: deps,
		progress: progress, inProgress: h.Rollout.InProgress, stalled: h.Rollout.Stalled,
	}
	m.samples, m.basePairs = workloadSamples(h, b)
	if m.basePairs == nil { // every derivation has base-only samples; in case one has not
		var none labelPairs
		m.basePairs = &[]*dto.LabelPair{none.pair(labelNames["namespace"], boundedLabel(in.Set.Namespace)),
			none.pair(labelNames["statefulset"], boundedLabel(in.Set.Name))}
	}
	m.earliestTerm, m.hasRecentTerms = derive.EarliestTermination(h.RecentTerminations)
	for _, p := range in.Pods {
		if p.Terminating() {
			m.terminating = append(m.terminating, terminatingPod{pod: p, stuck: derive.PodStuck(p, now, th.TerminatingStuckAfter)})
		}
	}
	return m
}

// valid tells whether deriving in again at now would give the memo's samples.
func (m *setMemo) valid(in derive.Inputs, v *derive.View, progress *derive.Progress, now time.Time, th derive.Thresholds) bool {
	if m.set != in.Set || !slices.Equal(m.pods, in.Pods) || !slices.Equal(m.pvcs, in.PVCs) ||
		!slices.Equal(m.vols, in.ReleasedVolumes) || progress != m.progress {
		return false
	}
	return m.validAt(progress, now, th) && m.deps.Unchanged(v)
}

// validAt tells whether the memo's time-dependent answers still hold at now.
func (m *setMemo) validAt(progress *derive.Progress, now time.Time, th derive.Thresholds) bool {
	// inProgress implies a progress.
	if m.inProgress && (progress == nil || progress.Stalled(now, th.RolloutStallAfter) != m.stalled) {
		return false
	}
	// Terminations only leave the window as time passes; none enters without a pod change.
	if m.hasRecentTerms && !derive.TerminationRecent(m.earliestTerm, now, th.RecentTerminationWindow) {
		return false
	}
	for _, t := range m.terminating {
		if derive.PodStuck(t.pod, now, th.TerminatingStuckAfter) != t.stuck {
			return false
		}
	}
	return true
}

// timed tells whether the memo has answers that time can change (see validAt).
func (m *setMemo) timed() bool {
	return m.inProgress || m.hasRecentTerms || len(m.terminating) > 0
}

// workloadSamples makes the samples of every workload family with b, and returns them
// with the pairs of their base labels (see sampleBuilder.finish). The samples share
// their label pairs (see constSample).
func workloadSamples(h *derive.Health, b *sampleBuilder) ([]constSample, *[]*dto.LabelPair) {
	o := sampleOut{base: []string{boundedLabel(h.Namespace), boundedLabel(h.Name)}, into: b}
	collectFamilies(workloadFamilies, h, &o)
	return b.finish()
}

// Samples in exposition order. The registry sorts the samples of every family by their
// label values, which costs a comparison-heavy O(n log n) on every scrape, unless they
// come sorted (its sort then only checks). Every workload family's first label is
// namespace, so a family is sorted when each namespace's samples are; the samples of a
// namespace are sorted once and kept while none of its StatefulSets changed.

// nsBlock is the samples of one namespace's StatefulSets, family by family, each family
// sorted by label values, and the memos they came from; and what the pre-encoded
// exposition keeps of them (expo.go). The samples are pointers into the memos' arrays.
type nsBlock struct {
	memos   []*setMemo
	samples []*constSample
	expoText
}

// familyIndex numbers the workload families, in exposition order.
var familyIndex = func() map[*prometheus.Desc]int {
	m := make(map[*prometheus.Desc]int, len(workloadFamilies))
	for i, f := range workloadFamilies {
		m[f.desc] = i
	}
	return m
}()

// updateBlock brings the block of memos, which are one namespace's StatefulSets in name
// order, up to date: made again only when a memo changed, and its restart counter
// generation brought up to date with the memos' restart totals.
func (s *memoStore) updateBlock(memos []*setMemo) {
	ns := memos[0].set.Namespace
	old := s.blocks[ns]
	b := old
	if b == nil || !slices.Equal(b.memos, memos) {
		b = &nsBlock{memos: slices.Clone(memos)}
		families := make([][]*constSample, len(workloadFamilies))
		n := 0
		for _, m := range memos {
			for i := range m.samples {
				f := familyIndex[m.samples[i].shape.desc]
				families[f] = append(families[f], &m.samples[i])
			}
			n += len(m.samples)
		}
		b.samples = make([]*constSample, 0, n)
		for i, f := range families {
			slices.SortStableFunc(f, compareSamples)
			start := len(b.samples)
			b.samples = append(b.samples, f...)
			families[i] = b.samples[start:len(b.samples):len(b.samples)]
		}
		var prev *expoText
		if old != nil {
			prev = &old.expoText
		}
		b.setFamilies(families, prev, &s.textGen)
		s.blocks[ns] = b
	}
	b.setRestarts(memos, &s.textGen)
}

// emitNamespace sends the samples of a namespace block, then its restart counters.
func emitNamespace(ch chan<- prometheus.Metric, b *nsBlock) {
	for _, m := range b.samples {
		ch <- m
	}
	o := sampleOut{emit: func(m prometheus.Metric) { ch <- m }}
	for _, m := range b.memos {
		o.basePairs = m.basePairs
		collectFamilies(restartsFamilies, m.restarts, &o)
	}
}

// compareSamples orders two samples of one family as the registry does: by their label
// values, labels in name order.
func compareSamples(a, b *constSample) int {
	pa, pb := *a.labels, *b.labels
	for i := range min(len(pa), len(pb)) {
		if c := strings.Compare(pa[i].GetValue(), pb[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

// sweepPairs forgets the shared label pairs no memo uses.
func (s *memoStore) sweepPairs() {
	kept := make(labelPairs, s.pairs.kept)
	for _, m := range s.memos {
		for i := range m.samples {
			for _, p := range *m.samples[i].labels {
				if key := [2]string{p.GetName(), p.GetValue()}; s.pairs.pairs[key] == p {
					kept[key] = p
				}
			}
		}
	}
	s.pairs.pairs, s.pairs.kept = kept, len(kept)
}
