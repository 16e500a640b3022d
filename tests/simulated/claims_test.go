package simulated

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// Claims and volumes in states that need a human, as kube-controller-manager's
// PersistentVolume controller leaves them. Expansion problems (ResizeInfeasible,
// ResizeFailed) are not here: the simulation has no resizer.

// TestVolumeReleasedAfterClaimDeleted: the claim of a running replica is deleted with its
// pod, its volume set to Retain. The claim waits for the pod to go (pvc-protection), the
// StatefulSet controller recreates the pod and then the claim, which gets a new, empty
// volume; the PersistentVolume controller marks the old one Released. The exporter names
// the claim and the Released volume.
func TestVolumeReleasedAfterClaimDeleted(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "released"
	create(t, c.Client, ns, simscenario.Workload("db", 1, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)
	old := boundVolume(t, c.Client, ns, "data-db-0")
	setReclaimPolicy(t, c.Client, old, corev1.PersistentVolumeReclaimRetain)

	deleteClaimAndPod(t, c.Client, ns, "data-db-0", "db-0")
	waitVolumePhase(t, c.Client, old, corev1.VolumeReleased)
	waitRebound(t, c.Client, ns, "data-db-0", old)
	waitMetrics(t, x, settleTimeout, "the replica back on a new volume, the old one Released",
		fmt.Sprintf(`statefulset_pvc_problem_info{namespace="released",persistentvolume=%q,persistentvolumeclaim="data-db-0",reason="VolumeReleased",statefulset="db"} 1`, old),
		`statefulset_replicas_ready{`+s+`} 1`,
		`statefulset_pvcs{namespace="released",phase="Bound",statefulset="db"} 1`,
	)

	// The data recovered elsewhere, the old volume deleted: the series ends.
	if err := c.Client.CoreV1().PersistentVolumes().Delete(t.Context(), old, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAbsent(t, x, settleTimeout, `statefulset_pvc_problem_info{namespace="released"`)
}

// TestVolumeFailedRecycle: a bound CSI volume set to Recycle whose claim is deleted
// (with its pod). kube-controller-manager has no recycler for CSI volumes and marks the
// volume Failed ("No recycler plugin found for the volume!"); the StatefulSet's new claim
// gets another volume. The exporter names the Failed volume, and no Released one (the
// Released phase of a Recycle volume is the way to Failed).
func TestVolumeFailedRecycle(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "recycled"
	create(t, c.Client, ns, simscenario.Workload("db", 1, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)
	old := boundVolume(t, c.Client, ns, "data-db-0")
	setReclaimPolicy(t, c.Client, old, corev1.PersistentVolumeReclaimRecycle)

	deleteClaimAndPod(t, c.Client, ns, "data-db-0", "db-0")
	waitVolumePhase(t, c.Client, old, corev1.VolumeFailed)
	waitRebound(t, c.Client, ns, "data-db-0", old)
	pv, err := c.Client.CoreV1().PersistentVolumes().Get(t.Context(), old, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s: %s", old, pv.Status.Phase, pv.Status.Message)
	waitMetrics(t, x, settleTimeout, "the Failed volume of data-db-0",
		fmt.Sprintf(`statefulset_pvc_problem_info{namespace="recycled",persistentvolume=%q,persistentvolumeclaim="data-db-0",reason="VolumeFailed",statefulset="db"} 1`, old),
		`statefulset_replicas_ready{`+s+`} 1`,
	)
	checkAbsent(t, x, `statefulset_pvc_problem_info{namespace="recycled",persistentvolume=`+fmt.Sprintf("%q", old)+`,persistentvolumeclaim="data-db-0",reason="VolumeReleased"`)
}

// TestClaimLostWhenVolumeDeleted: the PersistentVolume of a bound claim is deleted and
// its finalizers removed by hand (pv-protection holds a Bound volume otherwise), the
// way a cleanup script or a botched restore does. The PersistentVolume controller marks
// the claim Lost; the exporter names it and the volume it had.
func TestClaimLostWhenVolumeDeleted(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "lostpv"
	create(t, c.Client, ns, simscenario.Workload("db", 1, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)
	pv := boundVolume(t, c.Client, ns, "data-db-0")
	if err := c.Client.CoreV1().PersistentVolumes().Delete(t.Context(), pv, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().PersistentVolumes().Patch(t.Context(), pv, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settleTimeout, "data-db-0 Lost", func(ctx context.Context) (bool, string) {
		pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-db-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pvc.Status.Phase == corev1.ClaimLost, string(pvc.Status.Phase)
	})
	waitMetrics(t, x, settleTimeout, "the Lost claim",
		fmt.Sprintf(`statefulset_pvc_problem_info{namespace="lostpv",persistentvolume=%q,persistentvolumeclaim="data-db-0",reason="ClaimLost",statefulset="db"} 1`, pv),
		`statefulset_pvcs{namespace="lostpv",phase="Lost",statefulset="db"} 1`,
	)
}

func setReclaimPolicy(t *testing.T, client kubernetes.Interface, pv string, policy corev1.PersistentVolumeReclaimPolicy) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"persistentVolumeReclaimPolicy":%q}}`, policy)
	if _, err := client.CoreV1().PersistentVolumes().Patch(t.Context(), pv, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("setting the reclaim policy of %s: %v", pv, err)
	}
}

// deleteClaimAndPod deletes a claim, which pvc-protection keeps until its pod is gone,
// then the pod, as `kubectl delete pvc --wait=false` and `kubectl delete pod` do.
func deleteClaimAndPod(t *testing.T, client kubernetes.Interface, ns, claim, pod string) {
	t.Helper()
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), claim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Pods(ns).Delete(t.Context(), pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitVolumePhase(t *testing.T, client kubernetes.Interface, pv string, phase corev1.PersistentVolumePhase) {
	t.Helper()
	waitFor(t, settleTimeout, pv+" "+string(phase), func(ctx context.Context) (bool, string) {
		v, err := client.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return v.Status.Phase == phase, fmt.Sprintf("%s %s", v.Status.Phase, v.Status.Message)
	})
}

// waitRebound waits until the claim, recreated by the StatefulSet controller, is bound
// to another volume than old.
func waitRebound(t *testing.T, client kubernetes.Interface, ns, claim, old string) {
	t.Helper()
	waitFor(t, settleTimeout, claim+" recreated and bound to a new volume", func(ctx context.Context) (bool, string) {
		pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != old, fmt.Sprintf("%s, volume %q", pvc.Status.Phase, pvc.Spec.VolumeName)
	})
}
