package collector

import (
	"sync"

	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Dirty tracking. A collection revisits only the namespaces in which an object the
// derivations read was added, changed or deleted since the previous collection; the
// other namespaces' blocks are reused as they are. Namespaces are the unit: a claim's
// owner can be any StatefulSet of its namespace, and every namespaced lookup of a
// derivation stays in its StatefulSet's namespace.
//
// Cluster-scoped kinds are read through the view's lookups, whose questions every memo
// records (derive.Deps). A change of a node, a volume, a VolumeAttachment or a storage
// class marks the questions whose answers it may change (questionsOf in informers.go): a
// node's own name, say, and every question about usable nodes. The collection then
// revisits the namespaces whose memos asked one of them, and not the others, whose
// derivations cannot have read it. A change of a class annotated as the default may
// change the default class, which only claims without a class ask. Anything not
// understood marks every namespace.
//
// Two inputs come without events: time, for which the memos whose answers depend on it
// are kept aside (memoStore.timed) and checked on every collection; and an optional kind
// switched off or on by RBAC, which makes the next collection revisit everything
// (refreshWorkloads).
//
// Event handlers run after the informer updated its cache, and a collection clears the
// marks before it reads the caches, so a change is never lost: at worst a collection
// that already sees it is followed by one that revisits its namespace for nothing.

// Dirty scopes: what a change of a watched kind marks (dirtyScopes in informers.go).
const (
	dirtyNone      = iota // read by no derivation
	dirtyNamespace        // namespaced: its namespace
	dirtyQuestions        // cluster-scoped, read through the view: the questions of questionsOf
)

// maxDirtyQuestions bounds the questions kept between two collections; beyond it every
// namespace is marked, which a collection that would check them all costs about as much.
const maxDirtyQuestions = 4096

// dirtyTracker is what changed since the last collection took the marks.
type dirtyTracker struct {
	// questionsOf passes to ask the view questions whose answers a change of obj may
	// change, by lookup name and key (anyKey: all of the lookup's), and to namespace a
	// namespace whose derivations it may change outside the view. It is false when obj
	// is not of a kind of scope dirtyQuestions.
	questionsOf func(obj any, ask func(lookup, key string), namespace func(string)) bool

	mu        sync.Mutex
	marks     dirtyMarks
	questions int // the keys in marks.questions
}

// dirtyMarks are the changes one collection takes.
type dirtyMarks struct {
	all        bool
	namespaces map[string]bool // nil when none is marked
	// questions are by lookup name the keys whose answers may have changed; a nil set
	// means every key of that lookup.
	questions map[string]map[string]bool
}

// newDirtyTracker starts with everything marked: the first collection sees it all.
func newDirtyTracker(questionsOf func(obj any, ask func(lookup, key string), namespace func(string)) bool) *dirtyTracker {
	return &dirtyTracker{questionsOf: questionsOf, marks: dirtyMarks{all: true}}
}

// mark records a change of objs, the objects (or tombstones) before and after it, of a
// kind of scope.
func (d *dirtyTracker) mark(scope int, objs ...any) {
	if scope == dirtyNone {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, obj := range objs {
		if d.marks.all {
			return
		}
		switch scope {
		case dirtyNamespace:
			if ns, ok := namespaceOf(obj); ok {
				d.markNamespace(ns)
				continue
			}
		case dirtyQuestions:
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if d.questionsOf(obj, d.markQuestion, d.markNamespace) {
				continue
			}
		}
		d.markAll()
	}
}

// markAll marks every namespace, which makes the other marks moot.
func (d *dirtyTracker) markAll() {
	d.marks = dirtyMarks{all: true}
	d.questions = 0
}

func (d *dirtyTracker) markNamespace(ns string) {
	if d.marks.all {
		return
	}
	if d.marks.namespaces == nil {
		d.marks.namespaces = map[string]bool{}
	}
	d.marks.namespaces[ns] = true
}

// markQuestion marks the question key of lookup, or every one of its questions when key
// is anyKey.
func (d *dirtyTracker) markQuestion(lookup, key string) {
	if d.marks.all {
		return
	}
	if d.marks.questions == nil {
		d.marks.questions = map[string]map[string]bool{}
	}
	keys, seen := d.marks.questions[lookup]
	switch {
	case seen && keys == nil: // every key already
	case key == anyKey:
		d.questions -= len(keys)
		d.marks.questions[lookup] = nil
	case !keys[key]:
		if keys == nil {
			keys = map[string]bool{}
			d.marks.questions[lookup] = keys
		}
		keys[key] = true
		if d.questions++; d.questions > maxDirtyQuestions {
			d.markAll()
		}
	}
}

// anyKey stands for every question of a lookup.
const anyKey = "\x00any"

// take returns the marks and clears them.
func (d *dirtyTracker) take() dirtyMarks {
	d.mu.Lock()
	defer d.mu.Unlock()
	marks := d.marks
	d.marks = dirtyMarks{}
	d.questions = 0
	return marks
}

// askedBy returns a test of whether the derivation that recorded deps asked a marked
// question, made once for the memos of a collection.
func (m *dirtyMarks) askedBy(view *derive.View) func(deps *derive.Deps) bool {
	tests := make([]func(*derive.Deps) bool, 0, len(m.questions))
	for lookup, keys := range m.questions {
		tests = append(tests, view.Asked(lookup, func(key string) bool { return keys == nil || keys[key] }))
	}
	return func(deps *derive.Deps) bool {
		for _, asked := range tests {
			if asked(deps) {
				return true
			}
		}
		return false
	}
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
