package collector

import (
	"fmt"
	"strings"

	"k8s.io/client-go/tools/cache"
)

// Several --namespaces: one informer per namespace.
//
// With one namespace, or all, a resource has one informer. With several namespaces each
// namespaced kind has one informer per namespace (as kube-state-metrics has one
// reflector per namespace), so that every list and watch is scoped to one namespace and
// a Role per namespace is enough: a cluster-wide watch filtered in the exporter would
// need cluster-wide RBAC and would cache every namespace's pods. The collector reads the
// informers of a resource through one merged view, namespaceCaches, with the indexer
// interface it reads a single informer through.

// resourceCache is what the collector reads a resource through: its only informer, or
// the merged view of its per-namespace informers.
type resourceCache interface {
	GetIndexer() cache.Indexer
	GetStore() cache.Store
	// HasSynced tells whether every informer has completed its first list.
	HasSynced() bool
}

// namespaceCaches merges the informers of one namespaced kind, one per namespace.
type namespaceCaches struct {
	informers []cache.SharedIndexInformer
	view      *mergedIndexer
}

func newNamespaceCaches(namespaces []string, informers []cache.SharedIndexInformer) *namespaceCaches {
	v := &mergedIndexer{byNamespace: make(map[string]cache.Indexer, len(informers))}
	for i, inf := range informers {
		v.indexers = append(v.indexers, inf.GetIndexer())
		v.byNamespace[namespaces[i]] = inf.GetIndexer()
	}
	return &namespaceCaches{informers: informers, view: v}
}

func (n *namespaceCaches) GetIndexer() cache.Indexer { return n.view }
func (n *namespaceCaches) GetStore() cache.Store     { return n.view }

func (n *namespaceCaches) HasSynced() bool {
	for _, inf := range n.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// mergedIndexer is a cache.Indexer over the indexers of several namespaces. Reads merge
// (an object lives in exactly one of them); writes go to the indexer of the object's
// namespace. Every key is namespace/name.
type mergedIndexer struct {
	indexers    []cache.Indexer
	byNamespace map[string]cache.Indexer
}

var _ cache.Indexer = (*mergedIndexer)(nil)

// of returns the indexer holding key's namespace, nil for a namespace not watched.
func (m *mergedIndexer) of(key string) cache.Indexer {
	ns, _, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	return m.byNamespace[ns]
}

func (m *mergedIndexer) ofObject(obj any) (cache.Indexer, error) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return nil, err
	}
	idx := m.of(key)
	if idx == nil {
		return nil, fmt.Errorf("%s: namespace not watched", key)
	}
	return idx, nil
}

func (m *mergedIndexer) Add(obj any) error {
	idx, err := m.ofObject(obj)
	if err != nil {
		return err
	}
	return idx.Add(obj)
}

func (m *mergedIndexer) Update(obj any) error {
	idx, err := m.ofObject(obj)
	if err != nil {
		return err
	}
	return idx.Update(obj)
}

func (m *mergedIndexer) Delete(obj any) error {
	idx, err := m.ofObject(obj)
	if err != nil {
		return err
	}
	return idx.Delete(obj)
}

func (m *mergedIndexer) List() []any {
	return merge(m.indexers, func(i cache.Indexer) []any { return i.List() })
}

func (m *mergedIndexer) ListKeys() []string {
	return merge(m.indexers, func(i cache.Indexer) []string { return i.ListKeys() })
}

func (m *mergedIndexer) Get(obj any) (any, bool, error) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return nil, false, err
	}
	return m.GetByKey(key)
}

func (m *mergedIndexer) GetByKey(key string) (any, bool, error) {
	if idx := m.of(key); idx != nil {
		return idx.GetByKey(key)
	}
	return nil, false, nil
}

// Replace replaces each namespace's contents with its objects in list.
func (m *mergedIndexer) Replace(list []any, rv string) error {
	parts := make(map[cache.Indexer][]any, len(m.indexers))
	for _, obj := range list {
		idx, err := m.ofObject(obj)
		if err != nil {
			return err
		}
		parts[idx] = append(parts[idx], obj)
	}
	for _, idx := range m.indexers {
		if err := idx.Replace(parts[idx], rv); err != nil {
			return err
		}
	}
	return nil
}

func (m *mergedIndexer) Resync() error {
	for _, idx := range m.indexers {
		if err := idx.Resync(); err != nil {
			return err
		}
	}
	return nil
}

// LastStoreSyncResourceVersion is empty: each namespace's informer has its own version.
func (m *mergedIndexer) LastStoreSyncResourceVersion() string { return "" }

// Bookmark is ignored: a bookmark belongs to one namespace's watch, which its informer
// applies to its own indexer.
func (m *mergedIndexer) Bookmark(string) {}

func (m *mergedIndexer) Index(indexName string, obj any) ([]any, error) {
	return mergeErr(m.indexers, func(i cache.Indexer) ([]any, error) { return i.Index(indexName, obj) })
}

func (m *mergedIndexer) IndexKeys(indexName, indexedValue string) ([]string, error) {
	return mergeErr(m.indexers, func(i cache.Indexer) ([]string, error) { return i.IndexKeys(indexName, indexedValue) })
}

func (m *mergedIndexer) ListIndexFuncValues(indexName string) []string {
	seen := map[string]bool{}
	var out []string
	for _, idx := range m.indexers {
		for _, v := range idx.ListIndexFuncValues(indexName) {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// ByIndex looks the value up in every namespace: the collector's index values start
// with a namespace, but an index function may compute anything.
func (m *mergedIndexer) ByIndex(indexName, indexedValue string) ([]any, error) {
	return mergeErr(m.indexers, func(i cache.Indexer) ([]any, error) { return i.ByIndex(indexName, indexedValue) })
}

func (m *mergedIndexer) GetIndexers() cache.Indexers { return m.indexers[0].GetIndexers() }

func (m *mergedIndexer) AddIndexers(newIndexers cache.Indexers) error {
	for _, idx := range m.indexers {
		if err := idx.AddIndexers(newIndexers); err != nil {
			return err
		}
	}
	return nil
}

// merge concatenates what get returns for each indexer. When at most one returns
// anything, its slice is returned as it is.
func merge[T any](indexers []cache.Indexer, get func(cache.Indexer) []T) []T {
	out, _ := mergeErr(indexers, func(i cache.Indexer) ([]T, error) { return get(i), nil })
	return out
}

func mergeErr[T any](indexers []cache.Indexer, get func(cache.Indexer) ([]T, error)) ([]T, error) {
	var out []T
	copied := false
	for _, idx := range indexers {
		part, err := get(idx)
		if err != nil {
			return nil, err
		}
		switch {
		case len(part) == 0:
		case out == nil:
			out = part
		case !copied:
			out = append(append(make([]T, 0, len(out)+len(part)), out...), part...)
			copied = true
		default:
			out = append(out, part...)
		}
	}
	return out, nil
}
