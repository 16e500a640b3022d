package collector

import (
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// bindBuckets are the upper bounds of statefulset_pvc_bind_duration_seconds.
var bindBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 900, 3600}

// bindDurations observes Pending→Bound transitions of PVCs for
// statefulset_pvc_bind_duration_seconds, one histogram per StatefulSet. Only PVCs first
// seen Pending are observed: for a PVC already Bound when the exporter starts, the bind
// time is unknown.
type bindDurations struct {
	mu         sync.Mutex
	pending    map[derive.UID]bool
	histograms map[string]*bindHistogram // StatefulSet namespace/name
}

type bindHistogram struct {
	count   uint64
	sum     float64
	buckets []uint64 // cumulative, by bindBuckets
}

// A nil *bindDurations is a tracker switched off (--pvc.bind-duration-histogram unset):
// it observes nothing and yields no histogram.

func newBindDurations() *bindDurations {
	return &bindDurations{pending: map[derive.UID]bool{}, histograms: map[string]*bindHistogram{}}
}

// observe returns the bind duration when this update is the PVC's first Bound sighting
// after a Pending one.
func (t *bindDurations) observe(c *derive.PVC, now time.Time) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch c.Phase() {
	case corev1.ClaimPending:
		t.pending[c.UIDKey()] = true
	case corev1.ClaimBound:
		if t.pending[c.UIDKey()] {
			delete(t.pending, c.UIDKey())
			return max(now.Sub(c.Created()), 0), true
		}
	default:
		delete(t.pending, c.UIDKey())
	}
	return 0, false
}

// record adds a bind duration to the histogram of the StatefulSet setKey.
func (t *bindDurations) record(setKey string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.histograms[setKey]
	if h == nil {
		h = &bindHistogram{buckets: make([]uint64, len(bindBuckets))}
		t.histograms[setKey] = h
	}
	v := d.Seconds()
	h.count++
	h.sum += v
	for i, bound := range bindBuckets {
		if v <= bound {
			h.buckets[i]++
		}
	}
}

func (t *bindDurations) forget(uid derive.UID) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, uid)
}

// forgetSet drops the histogram of a deleted StatefulSet.
func (t *bindDurations) forgetSet(setKey string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.histograms, setKey)
}

// eachHistogram calls fn with every StatefulSet's histogram, in key order, while the
// tracker is locked.
func (t *bindDurations) eachHistogram(fn func(namespace, name string, h *bindHistogram)) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.histograms))
	for k := range t.histograms {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		namespace, name, _ := strings.Cut(k, "/")
		fn(namespace, name, t.histograms[k])
	}
}
