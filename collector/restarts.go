package collector

import (
	"sync"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// restartTracker keeps statefulset_container_restarts_total: per StatefulSet the sum of
// restartCount increases of its pods. It keeps nothing per pod: the informer hands it
// the cached pod with each new one, and a pod recreated under the same name (a new
// UID, restartCount 0) does not make the counter drop.
type restartTracker struct {
	mu     sync.Mutex
	totals map[string]float64 // StatefulSet key namespace/name → restarts
}

func newRestartTracker() *restartTracker {
	return &restartTracker{totals: map[string]float64{}}
}

// observe records the restarts of pod p that old, the cached pod it replaces (nil when
// there was none), did not have.
func (t *restartTracker) observe(old, p *derive.Pod) {
	set := derive.OwnerStatefulSetKey(p)
	if set == "" {
		return
	}
	count := p.RestartCount()
	seen := old != nil && old.UIDKey() == p.UIDKey()
	delta := count
	if seen {
		// restartCount never decreases for one pod UID; if it appears to, the kubelet
		// lost its state and the new count is all new restarts.
		delta = count - old.RestartCount()
		if delta < 0 {
			delta = count
		}
	}
	if delta > 0 || !seen {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.totals[set] += float64(delta)
	}
}

// forgetSet drops the counter of a deleted StatefulSet.
func (t *restartTracker) forgetSet(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.totals, key)
}

// total returns the counter of a StatefulSet (0 when none of its pods restarted).
func (t *restartTracker) total(key string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals[key]
}
