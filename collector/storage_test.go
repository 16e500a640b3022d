package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

const (
	ebs           = "ebs.csi.aws.com"
	noProvisioner = "kubernetes.io/no-provisioner"
)

func pendingLine(pvc, reason string, created time.Time) string {
	return fmt.Sprintf(`statefulset_pvc_pending_created_timestamp_seconds{namespace="ns",persistentvolumeclaim=%q,reason=%q,statefulset="db"} %s`,
		pvc, reason, ts(created))
}

func TestPVCPhasesAndPendingReasons(t *testing.T) {
	created := testNow.Add(-20 * time.Minute)
	db := newStatefulSet("ns", "db", 8, withClaimTemplates("data"))
	classes := []runtime.Object{
		newStorageClass("wffc", storagev1.VolumeBindingWaitForFirstConsumer, ebs, false),
		newStorageClass("immediate", storagev1.VolumeBindingImmediate, ebs, false),
		newStorageClass("local", storagev1.VolumeBindingWaitForFirstConsumer, noProvisioner, false),
		newStorageClass("local-immediate", storagev1.VolumeBindingImmediate, noProvisioner, false),
	}
	names := []string{"statefulset_pvcs", "statefulset_pvc_pending_created_timestamp_seconds"}

	cases := []struct {
		name string
		objs []runtime.Object
		want string
	}{
		{
			name: "no PVCs: every phase exported with zeros",
			objs: classes,
			want: ``,
		},
		{
			name: "one reason per PVC",
			objs: append(append([]runtime.Object(nil), classes...),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(ptr.To("wffc"))),
				newPVC(db, "data", 1, corev1.ClaimPending, storageClassName(ptr.To("wffc")), annotated(derive.AnnSelectedNode, "node-a")),
				newPVC(db, "data", 2, corev1.ClaimPending, storageClassName(ptr.To("immediate"))),
				newPVC(db, "data", 3, corev1.ClaimPending, storageClassName(ptr.To(""))),
				newPVC(db, "data", 4, corev1.ClaimPending, storageClassName(ptr.To("missing"))),
				newPVC(db, "data", 5, corev1.ClaimPending, storageClassName(ptr.To("local"))),
				newPVC(db, "data", 6, corev1.ClaimPending, storageClassName(ptr.To("local-immediate")), annotated(derive.AnnSelectedNode, "node-a")),
				newPVC(db, "data", 7, corev1.ClaimPending, storageClassName(nil)),
				newPVC(db, "data", 8, corev1.ClaimBound),
				newPVC(db, "data", 9, corev1.ClaimLost),
				newPVC(db, "data", 10, "")),
			want: lines(
				`statefulset_pvcs{namespace="ns",phase="Bound",statefulset="db"} 1`,
				`statefulset_pvcs{namespace="ns",phase="Lost",statefulset="db"} 1`,
				`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 8`,
				pendingLine("data-db-0", "WaitForFirstConsumer", created),
				pendingLine("data-db-1", "Provisioning", created),
				pendingLine("data-db-2", "Provisioning", created),
				pendingLine("data-db-3", "NoStorageClass", created),
				pendingLine("data-db-4", "StorageClassNotFound", created),
				pendingLine("data-db-5", "NoProvisioner", created),
				pendingLine("data-db-6", "NoProvisioner", created),
				pendingLine("data-db-7", "NoStorageClass", created)),
		},
		{
			name: "nil class takes the default class; explicit empty class does not",
			objs: []runtime.Object{
				newStorageClass("wffc", storagev1.VolumeBindingWaitForFirstConsumer, ebs, true),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(nil)),
				newPVC(db, "data", 1, corev1.ClaimPending, storageClassName(nil), annotated(derive.AnnSelectedNode, "node-a")),
				newPVC(db, "data", 2, corev1.ClaimPending, storageClassName(ptr.To(""))),
			},
			want: lines(
				`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 3`,
				pendingLine("data-db-0", "WaitForFirstConsumer", created),
				pendingLine("data-db-1", "Provisioning", created),
				pendingLine("data-db-2", "NoStorageClass", created)),
		},
		{
			name: "default class marked with the beta annotation",
			objs: []runtime.Object{
				func() *storagev1.StorageClass {
					sc := newStorageClass("static", storagev1.VolumeBindingImmediate, noProvisioner, false)
					sc.Annotations = map[string]string{derive.AnnBetaDefaultStorageClass: "true"}
					return sc
				}(),
				newStorageClass("not-default", storagev1.VolumeBindingImmediate, ebs, false),
				func() *storagev1.StorageClass {
					sc := newStorageClass("false-default", storagev1.VolumeBindingImmediate, ebs, false)
					sc.Annotations = map[string]string{derive.AnnDefaultStorageClass: "false"}
					return sc
				}(),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(nil)),
			},
			want: lines(
				`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 1`,
				pendingLine("data-db-0", "NoProvisioner", created)),
		},
		{
			// Like the DefaultStorageClass admission plugin: the newest default class,
			// the first name when two are equally new.
			name: "several default classes: the newest wins",
			objs: []runtime.Object{
				scCreatedAgo(newStorageClass("zz-old", storagev1.VolumeBindingImmediate, ebs, true), 48*time.Hour),
				scCreatedAgo(newStorageClass("aa-new", storagev1.VolumeBindingWaitForFirstConsumer, ebs, true), time.Hour),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(nil)),
			},
			want: lines(
				`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 1`,
				pendingLine("data-db-0", "WaitForFirstConsumer", created)),
		},
		{
			name: "several default classes created at once: the first name wins",
			objs: []runtime.Object{
				scCreatedAgo(newStorageClass("b-static", storagev1.VolumeBindingImmediate, noProvisioner, true), time.Hour),
				scCreatedAgo(newStorageClass("a-wffc", storagev1.VolumeBindingWaitForFirstConsumer, ebs, true), time.Hour),
				scCreatedAgo(newStorageClass("c-static", storagev1.VolumeBindingImmediate, noProvisioner, true), time.Hour),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(nil)),
			},
			want: lines(
				`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 1`,
				pendingLine("data-db-0", "WaitForFirstConsumer", created)),
		},
		{
			name: "a Pending PVC without a creation time has no timestamp sample",
			objs: []runtime.Object{
				newStorageClass("wffc", storagev1.VolumeBindingWaitForFirstConsumer, ebs, false),
				newPVC(db, "data", 0, corev1.ClaimPending, storageClassName(ptr.To("wffc")), func(c *corev1.PersistentVolumeClaim) {
					c.CreationTimestamp = metav1.Time{}
				}),
			},
			want: `
				statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 1`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil, append([]runtime.Object{db}, tc.objs...)...)
			env.expect(tc.want, names...)
		})
	}
}

// TestRetainedPendingClaimNotPending: a claim of an ordinal a scale-down removed stays
// Pending when its provisioning never finished (the pod went before the volume came).
// It is counted as retained and has no pending series, so StatefulSetPVCPending, which
// reads only that series, never fires for it.
func TestRetainedPendingClaimNotPending(t *testing.T) {
	db := newStatefulSet("ns", "db", 2, withClaimTemplates("data"))
	env := newTestEnv(t, nil, db, newStorageClass("gp3", storagev1.VolumeBindingWaitForFirstConsumer, ebs, false),
		newPVC(db, "data", 0, corev1.ClaimBound),
		newPVC(db, "data", 1, corev1.ClaimPending, storageClassName(ptr.To("gp3")), annotated(derive.AnnSelectedNode, "node-a")),
		// Scaled down from 4: ordinal 2's claim was being provisioned, ordinal 3's waited
		// for its pod.
		newPVC(db, "data", 2, corev1.ClaimPending, storageClassName(ptr.To("gp3")), annotated(derive.AnnSelectedNode, "node-b")),
		newPVC(db, "data", 3, corev1.ClaimPending, storageClassName(ptr.To("gp3"))))
	env.expect(lines(
		`statefulset_pvcs{namespace="ns",phase="Bound",statefulset="db"} 1`,
		`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 3`,
		`statefulset_pvcs_retained{namespace="ns",statefulset="db"} 2`,
		pendingLine("data-db-1", "Provisioning", testNow.Add(-20*time.Minute)),
	), "statefulset_pvcs", "statefulset_pvcs_retained", "statefulset_pvc_pending_created_timestamp_seconds")
}

func TestPVCNaming(t *testing.T) {
	db := newStatefulSet("ns", "db", 3, withClaimTemplates("data", "wal"))
	web := newStatefulSet("ns", "web", 1, withClaimTemplates("data"))
	noTemplates := newStatefulSet("ns", "plain", 1)
	bound := corev1.ClaimBound
	objs := []runtime.Object{db, web, noTemplates,
		newPVC(db, "data", 0, bound), newPVC(db, "data", 1, bound), newPVC(db, "wal", 0, bound),
		newNamedPVC("ns", "data-db-2147483647", bound), // the largest ordinal
		newPVC(web, "data", 0, bound),
		// None of these belong to db.
		newNamedPVC("ns", "data-db-x", bound),
		newNamedPVC("ns", "data-db-", bound),
		newNamedPVC("ns", "data-db-01", bound),
		newNamedPVC("ns", "data-db-+1", bound),
		newNamedPVC("ns", "data-db--1", bound),
		newNamedPVC("ns", "data-db-2147483648", bound),
		newNamedPVC("ns", "data-db", bound),
		newNamedPVC("ns", "logs-db-0", bound),
		newNamedPVC("ns", "data-db-0-1", bound),
		newNamedPVC("other", "data-db-0", bound),
		newNamedPVC("ns", "data-plain-0", bound),
	}
	env := newTestEnv(t, nil, objs...)
	env.expect(`
		statefulset_pvcs{namespace="ns",phase="Bound",statefulset="db"} 4
		statefulset_pvcs{namespace="ns",phase="Bound",statefulset="web"} 1
	`, "statefulset_pvcs")
}

func TestDuplicateClaimTemplates(t *testing.T) {
	// The API accepts two volume claim templates of the same name; the PVCs count once.
	set := newStatefulSet("ns", "db", 2, withClaimTemplates("data", "data"))
	env := newTestEnv(t, nil, set, newStorageClass("gp3", storagev1.VolumeBindingImmediate, ebs, false),
		newPVC(set, "data", 0, corev1.ClaimBound), newPVC(set, "data", 1, corev1.ClaimPending))
	env.expect(lines(
		`statefulset_pvcs{namespace="ns",phase="Bound",statefulset="db"} 1`,
		`statefulset_pvcs{namespace="ns",phase="Pending",statefulset="db"} 1`,
		pendingLine("data-db-1", "Provisioning", testNow.Add(-20*time.Minute)),
	), "statefulset_pvcs", "statefulset_pvc_pending_created_timestamp_seconds")
}

func bindLines(ns, set string, durations ...float64) string {
	buckets := []float64{1, 5, 15, 30, 60, 120, 300, 900, 3600}
	var out []string
	sum := 0.0
	for _, d := range durations {
		sum += d
	}
	for _, b := range buckets {
		n := 0
		for _, d := range durations {
			if d <= b {
				n++
			}
		}
		out = append(out, fmt.Sprintf(`statefulset_pvc_bind_duration_seconds_bucket{namespace=%q,statefulset=%q,le=%q} %d`, ns, set, fv(b), n))
	}
	out = append(out,
		fmt.Sprintf(`statefulset_pvc_bind_duration_seconds_bucket{namespace=%q,statefulset=%q,le="+Inf"} %d`, ns, set, len(durations)),
		fmt.Sprintf(`statefulset_pvc_bind_duration_seconds_sum{namespace=%q,statefulset=%q} %s`, ns, set, fv(sum)),
		fmt.Sprintf(`statefulset_pvc_bind_duration_seconds_count{namespace=%q,statefulset=%q} %d`, ns, set, len(durations)))
	return lines(out...)
}

func TestPVCBindDuration(t *testing.T) {
	ctx := context.Background()
	db := newStatefulSet("ns", "db", 2, withClaimTemplates("data"))
	kafka := newStatefulSet("ns", "kafka", 2, withClaimTemplates("data"))
	pending0 := newPVC(db, "data", 0, corev1.ClaimPending, pvcCreatedAgo(2*time.Second))
	pending1 := newPVC(db, "data", 1, corev1.ClaimPending, pvcCreatedAgo(time.Hour))
	alreadyBound := newPVC(kafka, "data", 0, corev1.ClaimBound)
	sentinel := newPVC(kafka, "data", 1, corev1.ClaimPending, pvcCreatedAgo(10*time.Minute))
	env := newTestEnv(t, everyFamilyConfig(), db, kafka, pending0, pending1, alreadyBound, sentinel,
		newStorageClass("gp3", storagev1.VolumeBindingImmediate, ebs, true))
	names := []string{"statefulset_pvc_bind_duration_seconds"}
	env.expect(``, names...)

	bind := func(c *corev1.PersistentVolumeClaim) {
		t.Helper()
		b := c.DeepCopy()
		b.Status.Phase = corev1.ClaimBound
		b.Spec.VolumeName = "pv-" + c.Name
		if _, err := env.client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env.clock.Advance(30 * time.Second)
	bind(pending0)
	env.expectEventually(bindLines("ns", "db", 32), names...)

	// A second PVC binds an hour and a half after its creation.
	env.clock.Advance(30 * time.Minute)
	bind(pending1)
	env.expectEventually(bindLines("ns", "db", 32, 90*60+30), names...)

	// Further updates of a Bound PVC and of a PVC first seen Bound observe nothing.
	// Binding kafka's Pending PVC afterwards proves those events were handled (one
	// informer delivers its events in order).
	bind(pending0)
	bind(alreadyBound)
	env.clock.Advance(time.Minute)
	bind(sentinel)
	env.expectEventually(lines(bindLines("ns", "db", 32, 90*60+30), bindLines("ns", "kafka", 31*60+30+10*60)), names...)

	// Deleting the StatefulSet drops its histogram.
	if err := env.client.AppsV1().StatefulSets("ns").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(bindLines("ns", "kafka", 31*60+30+10*60), names...)
}

func TestPVCBindDurationIsOptIn(t *testing.T) {
	// Without --pvc.bind-duration-histogram the family is neither described nor
	// exported, also after a claim binds: 12 series per StatefulSet no alert reads.
	db := newStatefulSet("ns", "db", 1, withClaimTemplates("data"))
	pending := newPVC(db, "data", 0, corev1.ClaimPending, pvcCreatedAgo(time.Minute))
	env := newTestEnv(t, nil, db, pending, newStorageClass("gp3", storagev1.VolumeBindingImmediate, ebs, true))
	bound := pending.DeepCopy()
	bound.Status.Phase, bound.Spec.VolumeName = corev1.ClaimBound, "pv-x"
	if _, err := env.client.CoreV1().PersistentVolumeClaims("ns").Update(context.Background(), bound, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(`statefulset_pvcs{namespace="ns",phase="Bound",statefulset="db"} 1`, "statefulset_pvcs")
	if mfs := gather(t, env.collector); mfs["statefulset_pvc_bind_duration_seconds"] != nil {
		t.Error("statefulset_pvc_bind_duration_seconds is exported without --pvc.bind-duration-histogram")
	}
	if described := describedNames(t, env.collector); described["statefulset_pvc_bind_duration_seconds"] {
		t.Error("statefulset_pvc_bind_duration_seconds is described without --pvc.bind-duration-histogram")
	}
}
