package derive_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

func claim(name string, phase corev1.PersistentVolumeClaimPhase, volume string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:   corev1.PersistentVolumeClaimSpec{VolumeName: volume, AccessModes: modes, StorageClassName: ptr.To("gp3")},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
}

// TestRetainedClaims: claims of ordinals outside [start, start+replicas) are counted as
// retained and never as Pending; the others are the StatefulSet's.
func TestRetainedClaims(t *testing.T) {
	set := derive.StatefulSetFrom(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Ordinals: &appsv1.StatefulSetOrdinals{Start: 1}}})
	in := derive.Inputs{Set: set, PVCs: derivetest.PVCs(
		claim("data-db-0", corev1.ClaimBound, "pv-0"),  // below start: retained
		claim("data-db-1", corev1.ClaimBound, "pv-1"),  // in range
		claim("data-db-2", corev1.ClaimPending, ""),    // in range, pending
		claim("data-db-3", corev1.ClaimPending, ""),    // above the range: retained, not pending
		claim("data-db-10", corev1.ClaimBound, "pv-3"), // retained
	)}
	h, _ := derive.Derive(in, derive.NewView(nil, func() string { return "gp3" }), nil, time.Now(), derive.Thresholds{})
	if h.RetainedPVCs != 3 {
		t.Errorf("retained %d, want 3", h.RetainedPVCs)
	}
	if len(h.PendingPVCs) != 1 || h.PendingPVCs[0].Name != "data-db-2" {
		t.Errorf("pending %+v, want data-db-2 only", h.PendingPVCs)
	}
	if h.PVCsByPhase[corev1.ClaimPending] != 2 || h.PVCsByPhase[corev1.ClaimBound] != 3 {
		t.Errorf("by phase %v: every claim counts", h.PVCsByPhase)
	}
	// Scaled to nothing known: no claim is retained.
	set.Spec.Replicas = nil
	if h, _ := derive.Derive(in, derive.NewView(nil, func() string { return "gp3" }), nil, time.Now(), derive.Thresholds{}); h.RetainedPVCs != 0 {
		t.Errorf("retained %d without replicas, want 0", h.RetainedPVCs)
	}
}

// TestAttachedElsewhere: a running pod whose ReadWriteOnce volume is attached to another
// node is reported (Multi-Attach); an attachment to its own node, a detached one, a
// ReadWriteMany volume and a terminating pod are not.
func TestAttachedElsewhere(t *testing.T) {
	set := derive.StatefulSetFrom(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](4)}})
	pod := func(name, node, claimName string, deleted bool) *derive.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{NodeName: node,
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}}}}
		if deleted {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		return derive.PodFrom(p)
	}
	va := func(pv, node string, attached bool) *storagev1.VolumeAttachment {
		return &storagev1.VolumeAttachment{Spec: storagev1.VolumeAttachmentSpec{NodeName: node, Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}},
			Status: storagev1.VolumeAttachmentStatus{Attached: attached}}
	}
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	in := derive.Inputs{Set: set,
		Pods: []*derive.Pod{pod("db-0", "new", "data-db-0", false), pod("db-1", "n1", "data-db-1", false), pod("db-2", "new", "data-db-2", false), pod("db-3", "new", "data-db-3", true)},
		PVCs: derivetest.PVCs(claim("data-db-0", corev1.ClaimBound, "pv-0", rwo), claim("data-db-1", corev1.ClaimBound, "pv-1", rwo),
			claim("data-db-2", corev1.ClaimBound, "pv-2", rwx), claim("data-db-3", corev1.ClaimBound, "pv-3", rwo))}
	vas := map[string][]*storagev1.VolumeAttachment{
		"pv-0": {va("pv-0", "lost", true), va("pv-0", "new", false)},
		"pv-1": {va("pv-1", "n1", true), va("pv-1", "old", false)},
		"pv-2": {va("pv-2", "other", true)},
		"pv-3": {va("pv-3", "lost", true)},
	}
	view := derive.NewView(nil, func() string { return "gp3" })
	view.Attachments = derive.NewListLookup(view, "attachments", func(pv string) []*storagev1.VolumeAttachment { return vas[pv] })
	h, _ := derive.Derive(in, view, nil, time.Now(), derive.Thresholds{})
	want := []derive.AttachedElsewhere{{Pod: "db-0", PVC: "data-db-0", Node: "new", AttachedNode: "lost"}}
	if len(h.AttachedElsewhere) != 1 || h.AttachedElsewhere[0] != want[0] {
		t.Errorf("attached elsewhere %+v, want %+v", h.AttachedElsewhere, want)
	}
}

// TestStorageClassOf: a class's answer is the same value while what derivations read of
// it is, so that a memo naming it stays valid when only its default annotation changes.
func TestStorageClassOf(t *testing.T) {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	gp3 := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &wffc}
	annotated := gp3.DeepCopy()
	annotated.Annotations = map[string]string{derive.AnnDefaultStorageClass: "true"}
	immediate := gp3.DeepCopy()
	immediate.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	other := gp3.DeepCopy()
	other.Provisioner = "efs.csi.aws.com"

	want := derive.StorageClass{Provisioner: "ebs.csi.aws.com", WaitForFirstConsumer: true}
	if got := derive.StorageClassOf(gp3); got != want || derive.StorageClassOf(annotated) != want {
		t.Errorf("StorageClassOf(gp3) = %+v, annotated %+v, want %+v for both", got, derive.StorageClassOf(annotated), want)
	}
	for _, changed := range []*storagev1.StorageClass{immediate, other, nil} {
		if derive.StorageClassOf(changed) == want {
			t.Errorf("StorageClassOf(%+v) is the same answer as gp3's", changed)
		}
	}
}
