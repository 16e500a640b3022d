package derive

import (
	"slices"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// View answers the cross-object questions of a derivation: a node by name, a claim by
// namespace/name, the VolumeAttachments of a volume, and so on. A nil lookup means the
// kind is not watched, and the metrics that need it are not exported.
//
// A View can record every answer it gives (RecordInto), so that a later collection can
// tell whether deriving again would read anything different (Deps.Unchanged). Every
// lookup is made with NewLookup or NewListLookup, which register it with its view: a
// lookup cannot exist without being recorded.
type View struct {
	ZoneKeys []string

	// DefaultClass answers DefaultClassKey with the name of the default storage class,
	// "" when there is none. Only claims without a class ask it, so a change of the
	// default revisits their StatefulSets alone.
	DefaultClass *Lookup[string]
	Node         *Lookup[*Node]
	// UsableNode is keyed by UsableNodeKey (see NewUsableNodeLookup).
	UsableNode *Lookup[bool]
	// CordonedCandidate is keyed by CordonedCandidateKey (see NewCordonedCandidateLookup).
	CordonedCandidate *Lookup[bool]
	// PVC is keyed by namespace/name.
	PVC          *Lookup[*PVC]
	PV           *Lookup[*PV]
	StorageClass *Lookup[StorageClass]
	// Attachments is keyed by PersistentVolume name.
	Attachments *Lookup[[]*storagev1.VolumeAttachment]
	// PDBs is keyed by namespace.
	PDBs *Lookup[[]*policyv1.PodDisruptionBudget]
	// Services is keyed by namespace/name.
	Services *Lookup[*Service]

	lookups []recorder // by registration order
	names   []string   // the lookups' names, by registration order
	deps    *Deps      // where answers are noted; nil when not recording
	frozen  *globals   // computed on first use, once every lookup is registered
}

// DefaultClassLookup is the name of a view's DefaultClass lookup, and DefaultClassKey
// its one question.
const (
	DefaultClassLookup = "default storage class"
	DefaultClassKey    = ""
)

// NewView returns a view whose only lookup is DefaultClass, which defaultClass answers
// when first asked (nil: there is no default class).
func NewView(zoneKeys []string, defaultClass func() string) *View {
	v := &View{ZoneKeys: zoneKeys}
	var name string
	asked := false
	v.DefaultClass = NewLookup(v, DefaultClassLookup, func(string) string {
		if !asked && defaultClass != nil {
			name = defaultClass()
		}
		asked = true
		return name
	})
	return v
}

// RecordInto makes v note every answer it gives in deps, from now on, after resetting
// deps; nil stops recording.
func (v *View) RecordInto(deps *Deps) {
	v.deps = deps
	if deps == nil {
		return
	}
	deps.globals = v.globals()
	for len(deps.lists) < len(v.lookups) {
		deps.lists = append(deps.lists, nil)
	}
	deps.lists = deps.lists[:len(v.lookups)]
	for i, l := range v.lookups {
		deps.lists[i] = l.reset(deps.lists[i])
	}
}

// globals are the values of a view that a derivation reads without a lookup.
type globals struct {
	zoneKeys, lookups string
}

func (v *View) globals() globals {
	if v.frozen != nil {
		return *v.frozen
	}
	v.frozen = &globals{
		zoneKeys: strings.Join(v.ZoneKeys, "\x00"),
		lookups:  strings.Join(v.names, "\x00"),
	}
	return *v.frozen
}

// Lookup answers one kind of question of a derivation, keyed by a string.
type Lookup[V any] struct {
	view  *View
	index int
	get   func(key string) V
	same  func(a, b V) bool
	empty func(V) bool // nil, or an empty list: kept as the question alone
}

// NewLookup registers with v a lookup answering with get, named name. Answers are the
// same when they are equal: informer caches replace an object on every change, so an
// unchanged pointer is an unchanged object.
func NewLookup[V comparable](v *View, name string, get func(key string) V) *Lookup[V] {
	var zero V
	return register(v, name, get, func(a, b V) bool { return a == b }, func(a V) bool { return a == zero })
}

// NewListLookup registers with v a lookup answering lists of objects, which are the
// same when they hold the same pointers in any order. get must return a new slice on
// every call: answers are kept.
func NewListLookup[T any](v *View, name string, get func(key string) []*T) *Lookup[[]*T] {
	return register(v, name, get, samePointers[T], func(a []*T) bool { return len(a) == 0 })
}

func register[V any](v *View, name string, get func(string) V, same func(a, b V) bool, empty func(V) bool) *Lookup[V] {
	l := &Lookup[V]{view: v, index: len(v.lookups), get: get, same: same, empty: empty}
	v.lookups = append(v.lookups, l)
	v.names = append(v.names, name)
	return l
}

// Get answers the question key, noting the answer when the view records.
func (l *Lookup[V]) Get(key string) V {
	val := l.get(key)
	if d := l.view.deps; d != nil {
		list := d.lists[l.index].(*[]answer[V])
		*list = append(*list, answer[V]{key, val})
	}
	return val
}

type answer[V any] struct {
	key string
	val V
}

// recorder is what a view needs of its lookups, whatever their answer type.
type recorder interface {
	// reset returns an empty answer list for this lookup, reusing list when it can.
	reset(list any) any
	// compacted returns a copy of the answers in list without repeated questions, as a
	// *kept[V], nil when there are none.
	compacted(list any) any
	// unchanged tells whether the lookup gives every answer in answers again.
	unchanged(answers any) bool
	// asked tells whether answers hold a question whose key satisfies match.
	asked(answers any, match func(key string) bool) bool
	// eachKey calls fn with every question of answers until fn returns false, and
	// tells whether it never did.
	eachKey(answers any, fn func(key string) bool) bool
	// emptyQuestions returns the questions of answers when every one was answered nil
	// or an empty list, and nil otherwise.
	emptyQuestions(answers any) []string
	// answersEmpty tells whether the lookup answers key with nil or an empty list.
	answersEmpty(key string) bool
}

func (l *Lookup[V]) reset(list any) any {
	if p, ok := list.(*[]answer[V]); ok {
		*p = (*p)[:0]
		return p
	}
	return &[]answer[V]{}
}

// kept are the answers of one lookup to one derivation: the questions answered nil or
// an empty list (most of them, often) without their answers.
type kept[V any] struct {
	answers []answer[V]
	empty   []string
}

func (l *Lookup[V]) compacted(list any) any {
	answers := slices.Clone(*list.(*[]answer[V]))
	if len(answers) == 0 {
		return nil
	}
	slices.SortStableFunc(answers, func(a, b answer[V]) int { return strings.Compare(a.key, b.key) })
	// Answers that differ for the same question (the cache changed during the
	// derivation) are all kept, so the memo never matches.
	answers = slices.CompactFunc(answers, func(a, b answer[V]) bool { return a.key == b.key && l.same(a.val, b.val) })
	// Sized exactly: appending would keep up to twice the room, for as long as the memo.
	empties := 0
	for _, a := range answers {
		if l.empty(a.val) {
			empties++
		}
	}
	out := &kept[V]{}
	if empties > 0 {
		out.empty = make([]string, 0, empties)
	}
	if empties < len(answers) {
		out.answers = make([]answer[V], 0, len(answers)-empties)
	}
	for _, a := range answers {
		if l.empty(a.val) {
			out.empty = append(out.empty, a.key)
		} else {
			out.answers = append(out.answers, a)
		}
	}
	return out
}

func (l *Lookup[V]) unchanged(answers any) bool {
	k := answers.(*kept[V])
	for _, a := range k.answers {
		if !l.same(l.get(a.key), a.val) {
			return false
		}
	}
	for _, key := range k.empty {
		if !l.empty(l.get(key)) {
			return false
		}
	}
	return true
}

func (l *Lookup[V]) asked(answers any, match func(key string) bool) bool {
	k := answers.(*kept[V])
	for _, a := range k.answers {
		if match(a.key) {
			return true
		}
	}
	return slices.ContainsFunc(k.empty, match)
}

func (l *Lookup[V]) eachKey(answers any, fn func(key string) bool) bool {
	k := answers.(*kept[V])
	for _, a := range k.answers {
		if !fn(a.key) {
			return false
		}
	}
	for _, key := range k.empty {
		if !fn(key) {
			return false
		}
	}
	return true
}

func (l *Lookup[V]) emptyQuestions(answers any) []string {
	if k := answers.(*kept[V]); len(k.answers) == 0 {
		return k.empty
	}
	return nil
}

func (l *Lookup[V]) answersEmpty(key string) bool { return l.empty(l.get(key)) }

// Deps is every answer a view gave to one derivation, and the view's globals then.
type Deps struct {
	globals globals
	lists   []any // per lookup, *[]answer[V]: the answers being recorded
	// per lookup, the kept answers (*kept[V]), sameQuestions, or nil (see Compacted)
	answers []any
	keys    []string // scratch of Compacted
}

// sameQuestions stands for the answers of a lookup that was asked the questions of the
// lookup of that index, no other, and answered each with nil or an empty list: the
// attachments of the volumes a derivation looked up, mostly. It keeps no copy of the
// questions.
type sameQuestions int

// Compacted returns what was recorded, sized to fit and without repeated questions (a
// derivation looks up a pod's node twice), for keeping.
func (d *Deps) Compacted(v *View) Deps {
	out := Deps{globals: d.globals, answers: make([]any, len(v.lookups))}
	empty := true
	for i, l := range v.lookups {
		if out.answers[i] = l.compacted(d.lists[i]); out.answers[i] != nil {
			empty = false
		}
	}
	if empty {
		out.answers = nil
	}
	for i, answers := range out.answers {
		if answers == nil {
			continue
		}
		questions := v.lookups[i].emptyQuestions(answers)
		if questions == nil {
			continue
		}
		for j, earlier := range out.answers[:i] {
			if _, same := earlier.(sameQuestions); earlier == nil || same {
				continue
			}
			d.keys = d.keys[:0]
			v.lookups[j].eachKey(earlier, func(key string) bool { d.keys = append(d.keys, key); return true })
			slices.Sort(d.keys) // answered and empty questions, each sorted
			if slices.Equal(d.keys, questions) {
				out.answers[i] = sameQuestions(j)
				break
			}
		}
	}
	return out
}

// Unchanged tells whether v has the recorded globals and gives every recorded answer
// again.
func (d *Deps) Unchanged(v *View) bool {
	if d.globals != v.globals() {
		return false
	}
	for i, answers := range d.answers {
		switch a := answers.(type) {
		case nil:
		case sameQuestions:
			if !v.lookups[a].eachKey(d.answers[a], v.lookups[i].answersEmpty) {
				return false
			}
		default:
			if !v.lookups[i].unchanged(a) {
				return false
			}
		}
	}
	return true
}

// Asked returns a test of whether the derivation recorded in a Deps asked the lookup of
// v named name a question whose key satisfies match: only then can a change of what
// that lookup reads change the derivation. The test is true for Deps recorded with other
// lookups than v's, whose questions cannot be told apart. The lookup is found once, for
// all the memos a collection tests.
func (v *View) Asked(name string, match func(key string) bool) func(d *Deps) bool {
	lookups, index := v.globals().lookups, slices.Index(v.names, name)
	return func(d *Deps) bool {
		if d.globals.lookups != lookups {
			return true
		}
		i := index
		if i < 0 || i >= len(d.answers) || d.answers[i] == nil {
			return false
		}
		if j, ok := d.answers[i].(sameQuestions); ok {
			i = int(j)
		}
		return v.lookups[i].asked(d.answers[i], match)
	}
}

// samePointers tells whether a and b hold the same pointers, in any order.
func samePointers[T any](a, b []*T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if !slices.Contains(b, a[i]) {
			return false
		}
	}
	// Equal lengths and a ⊆ b; the lists come from sets of distinct objects.
	return true
}
