package collector

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestClaimNameCollision: StatefulSet a with template x-b and StatefulSet b-a with
// template x both produce the claim x-b-a-0. It counts once, for the StatefulSet whose
// pod mounts it; when that changes, the next collection follows.
func TestClaimNameCollision(t *testing.T) {
	a := newStatefulSet("ns", "a", 1, withClaimTemplates("x-b"))
	ba := newStatefulSet("ns", "b-a", 1, withClaimTemplates("x"))
	ba.CreationTimestamp = metav1.NewTime(testNow.Add(-2 * time.Hour)) // the older: the rule's pick when nothing tells
	if newPod(a, 0).Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "x-b-a-0" || newPod(ba, 0).Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "x-b-a-0" {
		t.Fatal("the fixture's pods must both mount x-b-a-0")
	}
	claim := newNamedPVC("ns", "x-b-a-0", corev1.ClaimLost)
	env := newTestEnv(t, nil, a, ba, claim, newPod(a, 0))
	names := []string{"statefulset_pvcs", "statefulset_pvc_problem_info"}
	env.expect(`
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="",persistentvolumeclaim="x-b-a-0",reason="ClaimLost",statefulset="a"} 1
		statefulset_pvcs{namespace="ns",phase="Lost",statefulset="a"} 1`, names...)

	// a's pod goes, b-a's comes: the claim moves to b-a.
	ctx := context.Background()
	if err := env.client.CoreV1().Pods("ns").Delete(ctx, "a-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.CoreV1().Pods("ns").Create(ctx, newPod(ba, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(`
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="",persistentvolumeclaim="x-b-a-0",reason="ClaimLost",statefulset="b-a"} 1
		statefulset_pvcs{namespace="ns",phase="Lost",statefulset="b-a"} 1`, names...)

	// Both pods mount it: the owner reference decides.
	if _, err := env.client.CoreV1().Pods("ns").Create(ctx, newPod(a, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	owned := claim.DeepCopy()
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "a", UID: a.UID}}
	if _, err := env.client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, owned, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(`
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="",persistentvolumeclaim="x-b-a-0",reason="ClaimLost",statefulset="a"} 1`,
		"statefulset_pvc_problem_info")
}

// TestClaimProblemsExposed: a Released Retain volume of an earlier claim, a Failed
// volume and a Lost claim are exposed from the caches, found through the index of
// Released and Failed volumes by claim; a bound volume and a Released Delete volume are
// not; deleting the Released volume (its data recovered) ends its series.
func TestClaimProblemsExposed(t *testing.T) {
	db := newStatefulSet("ns", "db", 3, withClaimTemplates("data"))
	c0 := newPVC(db, "data", 0, corev1.ClaimBound)
	c1 := newPVC(db, "data", 1, corev1.ClaimBound)
	lost := newPVC(db, "data", 2, corev1.ClaimLost, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-deleted" })
	released := func(name, claimName string, uid types.UID, phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy,
				ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: claimName, UID: uid}},
			Status: corev1.PersistentVolumeStatus{Phase: phase}}
	}
	env := newTestEnv(t, nil, db, c0, c1, lost, newZonalPV(c0, ""), newZonalPV(c1, ""),
		released("pv-old-0", "data-db-0", "uid-earlier", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain),
		released("pv-old-1", "data-db-1", "uid-earlier", corev1.VolumeFailed, corev1.PersistentVolumeReclaimRecycle),
		released("pv-deleting", "data-db-1", "uid-earlier", corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete),
		released("pv-web", "data-web-0", "uid-earlier", corev1.VolumeFailed, corev1.PersistentVolumeReclaimRetain),
	)
	env.expect(`
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="pv-old-0",persistentvolumeclaim="data-db-0",reason="VolumeReleased",statefulset="db"} 1
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="pv-old-1",persistentvolumeclaim="data-db-1",reason="VolumeFailed",statefulset="db"} 1
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="pv-deleted",persistentvolumeclaim="data-db-2",reason="ClaimLost",statefulset="db"} 1`,
		"statefulset_pvc_problem_info")
	if err := env.client.CoreV1().PersistentVolumes().Delete(context.Background(), "pv-old-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(`
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="pv-old-1",persistentvolumeclaim="data-db-1",reason="VolumeFailed",statefulset="db"} 1
		statefulset_pvc_problem_info{namespace="ns",persistentvolume="pv-deleted",persistentvolumeclaim="data-db-2",reason="ClaimLost",statefulset="db"} 1`,
		"statefulset_pvc_problem_info")
}
