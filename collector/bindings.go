package collector

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// bindTracker observes Pending→Bound transitions of PVCs for
// statefulset_pvc_bind_duration_seconds. Only PVCs first seen Pending are observed: for a
// PVC already Bound when the exporter starts, the bind time is unknown.
type bindTracker struct {
	mu      sync.Mutex
	pending map[types.UID]bool
}

func newBindTracker() *bindTracker {
	return &bindTracker{pending: map[types.UID]bool{}}
}

// observe returns the bind duration when this update is the PVC's first Bound sighting
// after a Pending one.
func (t *bindTracker) observe(c *corev1.PersistentVolumeClaim, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch c.Status.Phase {
	case corev1.ClaimPending:
		t.pending[c.UID] = true
	case corev1.ClaimBound:
		if t.pending[c.UID] {
			delete(t.pending, c.UID)
			return max(now.Sub(c.CreationTimestamp.Time), 0), true
		}
	default:
		delete(t.pending, c.UID)
	}
	return 0, false
}

func (t *bindTracker) forget(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, uid)
}
