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
	memos   map[string]*setMemo        // by StatefulSet namespace/name
	pending map[*setMemo][]constSample // the samples of memos not yet in a block
	blocks  map[string]*nsBlock        // by namespace
	order   []string                   // the namespaces of blocks, sorted
	timed   map[string][]*setMemo      // the memos time can change, by namespace (dirty.go)
	deps    derive.Deps                // what the derivation under way reads
	textGen uint64                     // the last generation given to a block's text (expo.go)
	chunks  map[string]*expoChunk      // gzip chunks by first namespace (expo.go)
	build   sampleBuilder              // scratch of the derivation under way
	pairs   pairTable                  // the label pairs memos share
	// optionalKinds is which optional kinds the last collection's view read (collect.go).
	optionalKinds uint8
	noMemo        bool // derive every StatefulSet on every collection (tests)
	valids        int  // calls of setMemo.valid (tests)
}

func newMemoStore() memoStore {
	return memoStore{memos: map[string]*setMemo{}, blocks: map[string]*nsBlock{},
		timed: map[string][]*setMemo{}}
}

// memo returns the memo of the StatefulSet key with inputs in, deriving it again when
// the one kept would not give the same samples at now.
func (s *memoStore) memo(key string, in derive.Inputs, view *derive.View, now time.Time, th derive.Thresholds) *setMemo {
	m := s.memos[key]
	var prev *derive.Progress
	if m != nil {
		prev = m.progress
		if !s.noMemo {
			s.valids++
		}
	}
	if s.noMemo || m == nil || !m.valid(in, view, prev, now, th) {
		view.RecordInto(&s.deps)
		h, next := derive.Derive(in, view, prev, now, th)
		view.RecordInto(nil)
		s.build.shared = &s.pairs
		var samples []constSample
		m, samples = newSetMemo(in, s.deps.Compacted(view), h, next, now, th, &s.build)
		s.memos[key] = m
		if s.pending == nil {
			s.pending = map[*setMemo][]constSample{}
		}
		s.pending[m] = samples
		s.sweepPairs()
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
	// The rollout progress the derivation returned (the previous one of the next
	// derivation), and the derivation's time-dependent results: nil when it has none,
	// as most have (kept out of the memo, they keep it a size class smaller).
	progress *derive.Progress
	timedBy  *timedResults
	// The label sets of the samples, which are in the namespace block (or pending,
	// see memoStore): sets[0] is that of the base labels, from which
	// statefulset_container_restarts_total is emitted fresh each time, with restarts,
	// the value of this collection.
	sets     [][]*dto.LabelPair
	restarts float64
}

// timedResults are the answers of a derivation that time can change (see validAt).
type timedResults struct {
	inProgress, stalled bool
	terminating         []terminatingPod
	// The earliest recent container termination, the first to leave the window.
	earliestTerm   time.Time
	hasRecentTerms bool
}

type terminatingPod struct {
	pod   *derive.Pod
	stuck bool
}

// newSetMemo remembers a derivation made from in, which read deps, at now.
// It returns the memo and its samples.
func newSetMemo(in derive.Inputs, deps derive.Deps, h *derive.Health, progress *derive.Progress, now time.Time, th derive.Thresholds, b *sampleBuilder) (*setMemo, []constSample) {
	m := &setMemo{
		set: in.Set, pods: in.Pods, pvcs: in.PVCs, vols: in.ReleasedVolumes, deps: deps,
		progress: progress,
	}
	var samples []constSample
	samples, m.sets = workloadSamples(h, b)
	t := timedResults{inProgress: h.Rollout.InProgress, stalled: h.Rollout.Stalled}
	t.earliestTerm, t.hasRecentTerms = derive.EarliestTermination(h.RecentTerminations)
	for _, p := range in.Pods {
		if p.Terminating() {
			t.terminating = append(t.terminating, terminatingPod{pod: p, stuck: derive.PodStuck(p, now, th.TerminatingStuckAfter)})
		}
	}
	if t.inProgress || t.hasRecentTerms || len(t.terminating) > 0 {
		m.timedBy = &t
	}
	return m, samples
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
	t := m.timedBy
	if t == nil {
		return true
	}
	// inProgress implies a progress.
	if t.inProgress && (progress == nil || progress.Stalled(now, th.RolloutStallAfter) != t.stalled) {
		return false
	}
	// Terminations only leave the window as time passes; none enters without a pod change.
	if t.hasRecentTerms && !derive.TerminationRecent(t.earliestTerm, now, th.RecentTerminationWindow) {
		return false
	}
	for _, t := range t.terminating {
		if derive.PodStuck(t.pod, now, th.TerminatingStuckAfter) != t.stuck {
			return false
		}
	}
	return true
}

// timed tells whether the memo has answers that time can change (see validAt).
func (m *setMemo) timed() bool {
	return m.timedBy != nil
}

// workloadSamples makes the samples of every workload family with b, and returns them
// with their label sets (see sampleBuilder.finish), the first that of the base labels.
func workloadSamples(h *derive.Health, b *sampleBuilder) ([]constSample, [][]*dto.LabelPair) {
	o := sampleOut{base: []string{boundedLabel(h.Namespace), boundedLabel(h.Name)}, into: b}
	b.labelSet(restartsFamilies[0].shape, o.base, len(o.base))
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
// exposition keeps of them (expo.go). The block holds the only copy of its memos'
// samples: read-only, the registry gets pointers into it.
type nsBlock struct {
	memos   []*setMemo
	samples []constSample
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
// generation brought up to date with the memos' restart totals. The samples of the
// memos made since come from the memos, the others' from the block it replaces.
func (s *memoStore) updateBlock(memos []*setMemo) {
	ns := memos[0].set.Namespace
	old := s.blocks[ns]
	b := old
	if b == nil || !slices.Equal(b.memos, memos) {
		b = &nsBlock{memos: slices.Clone(memos)}
		families := make([][]constSample, len(workloadFamilies))
		placed := map[*[]*dto.LabelPair]bool{} // the label sets of the memos in old
		for _, m := range memos {
			if samples, ok := s.pending[m]; ok {
				for _, sample := range samples {
					f := familyIndex[sample.shape.desc]
					families[f] = append(families[f], sample)
				}
				delete(s.pending, m)
				continue
			}
			for i := range m.sets {
				placed[&m.sets[i]] = true
			}
		}
		if len(s.pending) == 0 {
			s.pending = nil // not to keep the room of the largest namespace's
		}
		if old != nil && len(placed) > 0 {
			for f, fam := range old.fams {
				for _, sample := range fam {
					if placed[sample.labels] {
						families[f] = append(families[f], sample)
					}
				}
			}
		}
		n := 0
		for _, f := range families {
			n += len(f)
		}
		b.samples = make([]constSample, 0, n)
		for i, f := range families {
			slices.SortStableFunc(f, compareSamples)
			start := len(b.samples)
			b.samples = append(b.samples, f...)
			families[i] = b.samples[start:len(b.samples):len(b.samples)]
		}
		var prev *expoText
		sameNames := false
		if old != nil {
			prev = &old.expoText
			sameNames = slices.EqualFunc(old.memos, memos, func(a, b *setMemo) bool { return a.set.Name == b.set.Name })
		}
		b.setFamilies(families, prev, sameNames, &s.textGen)
		s.blocks[ns] = b
	}
	b.setRestarts(memos, &s.textGen)
}

// emitNamespace sends the samples of a namespace block, then its restart counters.
func emitNamespace(ch chan<- prometheus.Metric, b *nsBlock) {
	for i := range b.samples {
		ch <- &b.samples[i]
	}
	o := sampleOut{emit: func(m prometheus.Metric) { ch <- m }}
	for _, m := range b.memos {
		o.basePairs = &m.sets[0]
		collectFamilies(restartsFamilies, m.restarts, &o)
	}
}

// compareSamples orders two samples of one family as the registry does: by their label
// values, labels in name order.
func compareSamples(a, b constSample) int {
	pa, pb := *a.labels, *b.labels
	for i := range min(len(pa), len(pb)) {
		if c := strings.Compare(pa[i].GetValue(), pb[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

// sweepPairs forgets the shared label pairs no memo uses, once the table has grown
// enough since the last sweep that this costs O(1) per pair added.
func (s *memoStore) sweepPairs() {
	if !s.pairs.grown() {
		return
	}
	kept := make(labelPairs, s.pairs.kept)
	for _, m := range s.memos {
		for _, set := range m.sets {
			for _, p := range set {
				if key := [2]string{p.GetName(), p.GetValue()}; s.pairs.pairs[key] == p {
					kept[key] = p
				}
			}
		}
	}
	s.pairs.pairs, s.pairs.kept = kept, len(kept)
}
