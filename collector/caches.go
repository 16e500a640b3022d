package collector

import (
	"slices"
	"strings"

	"k8s.io/client-go/tools/cache"
)

// Typed reads of informer caches, which hold the objects the transforms returned.

// listOf returns every object of store.
func listOf[T any](store cache.Store) []T {
	objs := store.List()
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(T))
	}
	return out
}

// getter returns a function that gets the object of a key from store, the zero T when
// there is none.
func getter[T any](store cache.Store) func(key string) T {
	return func(key string) T {
		obj, ok, _ := store.GetByKey(key)
		if !ok {
			var zero T
			return zero
		}
		return obj.(T)
	}
}

// indexed returns a function that lists the objects of one value of an index, in a new
// slice on every call.
func indexed[T any](indexer cache.Indexer, index string) func(value string) []*T {
	return func(value string) []*T {
		objs, _ := indexer.ByIndex(index, value)
		out := make([]*T, 0, len(objs))
		for _, o := range objs {
			out = append(out, o.(*T))
		}
		return out
	}
}

// sortByName sorts objects by name, the order the memo compares inputs in.
func sortByName[T interface{ GetName() string }](objs []T) {
	slices.SortFunc(objs, func(a, b T) int { return strings.Compare(a.GetName(), b.GetName()) })
}
