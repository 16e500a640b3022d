package collector

import (
	"testing"

	"k8s.io/client-go/tools/cache"
)

// Every watched kind but the Leases, which no derivation reads, has a dirty scope:
// without one, a scrape would never revisit what its changes touch.
func TestDirtyScopesCoverWatchedKinds(t *testing.T) {
	for _, name := range allResources {
		if _, ok := dirtyScopes[name]; ok == (name == resLeases) {
			t.Errorf("%s: dirty scope present %v", name, ok)
		}
	}
}

func TestDirtyTrackerTakeClears(t *testing.T) {
	d := newDirtyTracker()
	if all, _ := d.take(); !all {
		t.Fatal("a new tracker does not mark everything")
	}
	if all, ns := d.take(); all || ns != nil {
		t.Fatalf("take after take: all=%v namespaces=%v", all, ns)
	}
	d.mark(dirtyNamespace, cache.DeletedFinalStateUnknown{Key: "a/web-0"})
	d.mark(dirtyNone, cache.DeletedFinalStateUnknown{Key: "b/lease"})
	if all, ns := d.take(); all || len(ns) != 1 || !ns["a"] {
		t.Fatalf("after a tombstone of namespace a: all=%v namespaces=%v", all, ns)
	}
	d.mark(dirtyNamespace, struct{}{}) // no namespace to be found: everything
	if all, _ := d.take(); !all {
		t.Fatal("an object without a namespace did not mark everything")
	}
	d.mark(dirtyAll, cache.DeletedFinalStateUnknown{Key: "node-a"})
	if all, _ := d.take(); !all {
		t.Fatal("a cluster-scoped change did not mark everything")
	}
}
