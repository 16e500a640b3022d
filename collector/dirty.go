package collector

import (
	"sync"

	"k8s.io/client-go/tools/cache"
)

// Dirty tracking. A collection revisits only the namespaces in which an object the
// derivations read was added, changed or deleted since the previous collection; the
// other namespaces' blocks are reused as they are. Namespaces are the unit: a claim's
// owner can be any StatefulSet of its namespace, and every namespaced lookup of a
// derivation stays in its StatefulSet's namespace. A change of a cluster-scoped kind
// the derivations read (a node, a volume...) marks every namespace: they are then
// revalidated memo by memo (memo.go). Two inputs come without events: time, for which
// the memos whose answers depend on it are kept aside (memoStore.timed) and checked on
// every collection; and an optional kind switched off or on by RBAC, which makes the
// next collection revisit everything (refreshWorkloads).
//
// Event handlers run after the informer updated its cache, and a collection clears the
// marks before it reads the caches, so a change is never lost: at worst a collection
// that already sees it is followed by one that revisits its namespace for nothing.

// Dirty scopes: what a change of a watched kind marks (dirtyScopes in informers.go).
const (
	dirtyNone      = iota // read by no derivation
	dirtyNamespace        // namespaced: its namespace
	dirtyAll              // cluster-scoped: every namespace
)

// dirtyTracker is the namespaces marked since the last collection took them.
type dirtyTracker struct {
	mu         sync.Mutex
	all        bool
	namespaces map[string]bool
}

// newDirtyTracker starts with everything marked: the first collection sees it all.
func newDirtyTracker() *dirtyTracker {
	return &dirtyTracker{all: true, namespaces: map[string]bool{}}
}

// mark records a change of obj, an object (or tombstone) of a kind of scope.
func (d *dirtyTracker) mark(scope int, obj any) {
	if scope == dirtyNone {
		return
	}
	ns, ok := namespaceOf(obj)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case scope == dirtyAll || !ok:
		d.all = true
	case !d.all:
		d.namespaces[ns] = true
	}
}

// take returns the marks and clears them. namespaces is nil when none is marked.
func (d *dirtyTracker) take() (all bool, namespaces map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	all = d.all
	d.all = false
	if len(d.namespaces) > 0 {
		namespaces = d.namespaces
		d.namespaces = map[string]bool{}
	}
	return all, namespaces
}

// namespaceOf returns the namespace of a cached object or of a deletion tombstone.
func namespaceOf(obj any) (string, bool) {
	switch o := obj.(type) {
	case interface{ GetNamespace() string }:
		return o.GetNamespace(), true
	case cache.DeletedFinalStateUnknown:
		if ns, _, err := cache.SplitMetaNamespaceKey(o.Key); err == nil {
			return ns, true
		}
	}
	return "", false
}
