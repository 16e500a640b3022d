package derive

import (
	"encoding/hex"
	"hash/fnv"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unique"
	"weak"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The compact objects (Pod, PVC, PV, and the few of Node and Service) are what the
// informer caches keep of the pods, claims and volumes, one of each per pod on a large
// cluster, and of the nodes and Services: only what the derivations
// read, with what many objects share (namespaces, node names, a StatefulSet's pod
// template, states and conditions) interned. They are built by their From constructors,
// which the informer transforms call, and never modified: an update makes a new object,
// so an unchanged pointer is an unchanged object (see View).

// objectMeta is the identity of a compact object. It implements metav1.Object for the
// informer, which keys objects by namespace/name and tells updates from resyncs by
// resourceVersion; the setters of the fields it does not keep do nothing.
type objectMeta struct {
	name            string
	namespace       unique.Handle[string]
	resourceVersion version
}

func metaOf(in *metav1.ObjectMeta) objectMeta {
	return objectMeta{name: in.Name, namespace: intern(in.Namespace), resourceVersion: versionOf(in.ResourceVersion)}
}

var _ metav1.Object = (*objectMeta)(nil)

func (m *objectMeta) meta() *objectMeta { return m }

// unchanged tells whether old is an object of p's type equal to p but for its
// resourceVersion.
func unchanged[T any, PT interface {
	*T
	meta() *objectMeta
}](p PT, old any) bool {
	o, ok := old.(PT)
	if !ok {
		return false
	}
	c := *o
	PT(&c).meta().resourceVersion = p.meta().resourceVersion
	return reflect.DeepEqual(&c, (*T)(p))
}

func (m *objectMeta) GetName() string                    { return m.name }
func (m *objectMeta) SetName(name string)                { m.name = name }
func (m *objectMeta) GetNamespace() string               { return value(m.namespace) }
func (m *objectMeta) SetNamespace(ns string)             { m.namespace = intern(ns) }
func (m *objectMeta) GetUID() types.UID                  { return "" } // see Pod and PVC
func (m *objectMeta) SetUID(types.UID)                   {}
func (m *objectMeta) GetResourceVersion() string         { return m.resourceVersion.String() }
func (m *objectMeta) SetResourceVersion(v string)        { m.resourceVersion = versionOf(v) }
func (m *objectMeta) GetGenerateName() string            { return "" }
func (m *objectMeta) SetGenerateName(string)             {}
func (m *objectMeta) GetGeneration() int64               { return 0 }
func (m *objectMeta) SetGeneration(int64)                {}
func (m *objectMeta) GetSelfLink() string                { return "" }
func (m *objectMeta) SetSelfLink(string)                 {}
func (m *objectMeta) GetCreationTimestamp() metav1.Time  { return metav1.Time{} }
func (m *objectMeta) SetCreationTimestamp(metav1.Time)   {}
func (m *objectMeta) GetDeletionTimestamp() *metav1.Time { return nil }
func (m *objectMeta) SetDeletionTimestamp(*metav1.Time)  {}
func (m *objectMeta) GetDeletionGracePeriodSeconds() *int64 {
	return nil
}
func (m *objectMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *objectMeta) GetLabels() map[string]string                  { return nil }
func (m *objectMeta) SetLabels(map[string]string)                   {}
func (m *objectMeta) GetAnnotations() map[string]string             { return nil }
func (m *objectMeta) SetAnnotations(map[string]string)              {}
func (m *objectMeta) GetFinalizers() []string                       { return nil }
func (m *objectMeta) SetFinalizers([]string)                        {}
func (m *objectMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *objectMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *objectMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *objectMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// UID is an object's UID in 16 bytes: a UUID, which the API server makes, as its bytes;
// any other string as its FNV-128a hash, which tells UIDs apart the same way. The zero
// UID is "". String gives back a UUID, hashed ones as the UUID of their hash, whose UID
// is the same.
type UID [16]byte

func UIDOf(s types.UID) UID {
	var u UID
	if s == "" {
		return u
	}
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		hexDigits := string(s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
		if n, err := hex.Decode(u[:], []byte(hexDigits)); err == nil && n == 16 && hex.EncodeToString(u[:]) == hexDigits {
			return u
		}
	}
	h := fnv.New128a()
	h.Write([]byte(s))
	copy(u[:], h.Sum(nil))
	return u
}

func (u UID) IsZero() bool { return u == UID{} }

func (u UID) String() types.UID {
	if u.IsZero() {
		return ""
	}
	s := hex.EncodeToString(u[:])
	return types.UID(s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:])
}

// version is a resourceVersion in 8 bytes. The API server's are decimal counters, kept
// as their value plus one (0 is ""); any other is kept as a hash with the top bit set,
// so that equal versions stay equal and different ones differ, all that informers
// compare, but GetResourceVersion does not give it back.
type version uint64

const hashedVersion version = 1 << 63

func versionOf(s string) version {
	if s == "" {
		return 0
	}
	if n, err := strconv.ParseUint(s, 10, 63); err == nil && n < uint64(hashedVersion-1) && strconv.FormatUint(n, 10) == s {
		return version(n + 1)
	}
	h := fnv.New64a()
	h.Write([]byte(s))
	return version(h.Sum64()) | hashedVersion
}

func (v version) String() string {
	switch {
	case v == 0:
		return ""
	case v&hashedVersion != 0:
		return "#" + strconv.FormatUint(uint64(v&^hashedVersion), 16)
	}
	return strconv.FormatUint(uint64(v-1), 10)
}

// stamp is a point in time in 8 bytes: Unix nanoseconds, 0 for none.
type stamp int64

// zeroStamp stands for the zero time, which has no Unix nanoseconds.
const zeroStamp stamp = -1 << 63

func stampOf(t *metav1.Time) stamp {
	switch {
	case t == nil:
		return 0
	case t.IsZero():
		return zeroStamp
	}
	return stamp(t.UnixNano())
}

func (s stamp) set() bool { return s != 0 }

// time returns the time, the zero time for none.
func (s stamp) time() time.Time {
	if s == 0 || s == zeroStamp {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

// intern returns the handle of a string many objects repeat; the zero handle for "".
func intern(s string) unique.Handle[string] {
	if s == "" {
		return unique.Handle[string]{}
	}
	return unique.Make(s)
}

// value returns the value of a handle, the zero value for the zero handle.
func value[T comparable](h unique.Handle[T]) T {
	if h == (unique.Handle[T]{}) {
		var zero T
		return zero
	}
	return h.Value()
}

// interner keeps one copy of equal values that are not comparable (they hold slices or
// maps), by a key that encodes them, for as long as some object points to it.
type interner[T any] struct {
	mu     sync.Mutex
	values map[string]weak.Pointer[T]
}

// intern returns the kept value of key, or keeps v as it. v must not be modified after.
func (in *interner[T]) intern(key string, v *T) *T {
	in.mu.Lock()
	defer in.mu.Unlock()
	if kept := in.values[key].Value(); kept != nil {
		return kept
	}
	if in.values == nil {
		in.values = map[string]weak.Pointer[T]{}
	}
	in.values[key] = weak.Make(v)
	runtime.AddCleanup(v, in.forget, key)
	return v
}

// forget drops the entry of key once its value is gone.
func (in *interner[T]) forget(key string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.values[key].Value() == nil {
		delete(in.values, key)
	}
}
