package collector

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

// leaseTracker counts holder changes of control-plane Leases.
type leaseTracker struct {
	mu     sync.Mutex
	leases map[string]*leaseState // namespace/name
}

type leaseState struct {
	holder           string // full identity, "" when released
	lastHolder       string // last non-empty identity
	leaseTransitions *int32
	transitions      float64
	observedChangeAt time.Time
}

func newLeaseTracker() *leaseTracker {
	return &leaseTracker{leases: map[string]*leaseState{}}
}

// observe records a Lease as seen in an add or update event. The first sighting counts
// no transition.
func (t *leaseTracker) observe(l *coordinationv1.Lease, now time.Time) {
	key := l.Namespace + "/" + l.Name
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, seen := t.leases[key]
	if !seen {
		t.leases[key] = &leaseState{holder: holder, lastHolder: holder, leaseTransitions: copyInt32(l.Spec.LeaseTransitions)}
		return
	}
	changes := 0.0
	// A release ("") followed by a new holder is one change, not two.
	if holder != "" && holder != s.lastHolder {
		changes = 1
		s.lastHolder = holder
	}
	if old, cur := s.leaseTransitions, l.Spec.LeaseTransitions; old != nil && cur != nil && *cur > *old {
		changes = max(changes, float64(*cur-*old))
	}
	if changes > 0 {
		s.transitions += changes
		s.observedChangeAt = now
	}
	s.holder = holder
	s.leaseTransitions = copyInt32(l.Spec.LeaseTransitions)
}

func (t *leaseTracker) forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.leases, namespace+"/"+name)
}

// state returns the transitions counted and when the exporter saw the last change.
func (t *leaseTracker) state(namespace, name string) (transitions float64, changedAt time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.leases[namespace+"/"+name]
	if !ok {
		return 0, time.Time{}, false
	}
	return s.transitions, s.observedChangeAt, true
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
