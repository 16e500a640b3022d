package collector

import (
	"sync"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// restartTracker keeps statefulset_container_restarts_total: per StatefulSet the sum of
// restartCount increases of its pods, remembered per pod UID so that a pod deleted and
// recreated with restartCount 0 does not make the counter drop.
type restartTracker struct {
	mu     sync.Mutex
	pods   map[derive.UID]podRestarts
	totals map[string]float64 // StatefulSet key namespace/name → restarts
}

type podRestarts struct {
	set   string
	count int64
}

func newRestartTracker() *restartTracker {
	return &restartTracker{pods: map[derive.UID]podRestarts{}, totals: map[string]float64{}}
}

// observe records the pod's current restart count.
func (t *restartTracker) observe(p *derive.Pod) {
	set := derive.OwnerStatefulSetKey(p)
	if set == "" {
		return
	}
	count := p.RestartCount()
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, seen := t.pods[p.UIDKey()]
	delta := count
	if seen {
		// restartCount never decreases for one pod UID; if it appears to, the kubelet
		// lost its state and the new count is all new restarts.
		delta = count - prev.count
		if delta < 0 {
			delta = count
		}
	}
	t.pods[p.UIDKey()] = podRestarts{set: set, count: count}
	if delta > 0 || !seen {
		t.totals[set] += float64(delta)
	}
}

// forgetPod drops a deleted pod; its restarts stay in the total.
func (t *restartTracker) forgetPod(uid derive.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pods, uid)
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
