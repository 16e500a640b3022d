package collector

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
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
	d := newDirtyTracker(questionsOf)
	if m := d.take(); !m.all {
		t.Fatal("a new tracker does not mark everything")
	}
	if m := d.take(); m.all || m.namespaces != nil || m.questions != nil {
		t.Fatalf("take after take: %+v", m)
	}
	d.mark(dirtyNamespace, cache.DeletedFinalStateUnknown{Key: "a/web-0"})
	d.mark(dirtyNone, cache.DeletedFinalStateUnknown{Key: "b/lease"})
	if m := d.take(); m.all || len(m.namespaces) != 1 || !m.namespaces["a"] {
		t.Fatalf("after a tombstone of namespace a: %+v", m)
	}
	d.mark(dirtyNamespace, struct{}{}) // no namespace to be found: everything
	if m := d.take(); !m.all {
		t.Fatal("an object without a namespace did not mark everything")
	}
	d.mark(dirtyQuestions, cache.DeletedFinalStateUnknown{Key: "node-a"}) // the last state unknown
	if m := d.take(); !m.all {
		t.Fatal("a tombstone without its object did not mark everything")
	}
}

// A change of a cluster-scoped kind marks the questions it may answer differently, and
// the namespace a volume's claim reference names.
func TestDirtyTrackerMarksQuestions(t *testing.T) {
	d := newDirtyTracker(questionsOf)
	d.take()
	node := derive.NodeFrom(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	pv := derive.PVFrom(&corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec:       corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "db", Name: "data-web-0"}},
		Status:     corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased}, // its claim is read (claimsOf)
	}, nil)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "io2"}}
	volume := "pv-2"
	va := &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-1"},
		Spec: storagev1.VolumeAttachmentSpec{Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &volume}}}
	d.mark(dirtyQuestions, node, cache.DeletedFinalStateUnknown{Key: "pv-1", Obj: pv}, va, class)
	m := d.take()
	want := map[string]map[string]bool{
		resNodes: {"node-a": true}, lookupUsableNodes: nil, lookupCordonedCandidates: nil,
		resPVs: {"pv-1": true}, resVolumeAttachments: {"pv-2": true}, resStorageClasses: {"io2": true},
	}
	if m.all || !reflect.DeepEqual(m.questions, want) || !reflect.DeepEqual(m.namespaces, map[string]bool{"db": true}) {
		t.Fatalf("marks %+v, want questions %v and namespace db", m, want)
	}

	// A class annotated as the default may change the default class, which only claims
	// without a class ask.
	d.mark(dirtyQuestions, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gp3",
		Annotations: map[string]string{derive.AnnDefaultStorageClass: "true"}}})
	want = map[string]map[string]bool{resStorageClasses: {"gp3": true}, derive.DefaultClassLookup: nil}
	if m := d.take(); m.all || !reflect.DeepEqual(m.questions, want) || m.namespaces != nil {
		t.Fatalf("a default class's change marked %+v, want questions %v", m, want)
	}

	for i := range maxDirtyQuestions + 1 {
		d.mark(dirtyQuestions, derive.PVFrom(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pv-%d", i)}}, nil))
	}
	if m := d.take(); !m.all || m.questions != nil {
		t.Fatalf("beyond %d questions: all=%v, %d lookups marked", maxDirtyQuestions, m.all, len(m.questions))
	}
}
