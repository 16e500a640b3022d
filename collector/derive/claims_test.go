package derive_test

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func setWithTemplate(name, template string, created time.Time) *derive.StatefulSet {
	return derive.StatefulSetFrom(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: template}}}},
	})
}

func mountingPod(set *derive.StatefulSet, ordinal string, claimName string) *derive.Pod {
	return derive.PodFrom(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: set.Name + "-" + ordinal, UID: types.UID("uid-pod-" + set.Name)},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}}}})
}

// TestClaimOwnerCollision: StatefulSet a with template x-b and StatefulSet b-a with
// template x both produce x-b-a-0. The claim goes to the StatefulSet whose pod mounts
// it, else to the one its owner references name, else to the one created first, else
// to the first name, whatever order the StatefulSets come in.
func TestClaimOwnerCollision(t *testing.T) {
	a := setWithTemplate("a", "x-b", t0.Add(time.Hour))
	ba := setWithTemplate("b-a", "x", t0)
	const name = "x-b-a-0"
	if !derive.ClaimOfSet(a, name) || !derive.ClaimOfSet(ba, name) {
		t.Fatalf("%s must be a claim name of both StatefulSets", name)
	}
	plain := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	withRefs := func(refs ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
		c := plain.DeepCopy()
		c.OwnerReferences = refs
		return c
	}
	podA, podBA := mountingPod(a, "0", name), mountingPod(ba, "0", name)
	for _, tc := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pods  map[string][]*derive.Pod
		sets  [2]*derive.StatefulSet // when not a and b-a as made above
		want  string
	}{
		{name: "a's pod mounts it", claim: plain, pods: map[string][]*derive.Pod{"a": {podA}}, want: "a"},
		{name: "b-a's pod mounts it", claim: plain, pods: map[string][]*derive.Pod{"b-a": {podBA}}, want: "b-a"},
		{name: "a pod of a that mounts another claim does not count", claim: plain,
			pods: map[string][]*derive.Pod{"a": {mountingPod(a, "0", "other")}}, want: "b-a"},
		{name: "both mount it, owner reference to StatefulSet a", claim: withRefs(metav1.OwnerReference{Kind: "StatefulSet", Name: "a", UID: a.UID}),
			pods: map[string][]*derive.Pod{"a": {podA}, "b-a": {podBA}}, want: "a"},
		{name: "owner reference to a pod of a (whenScaled: Delete)", claim: withRefs(metav1.OwnerReference{Kind: "Pod", Name: podA.GetName(), UID: podA.GetUID()}),
			pods: map[string][]*derive.Pod{"a": {podA}, "b-a": {podBA}}, want: "a"},
		{name: "a stale owner reference (another UID) does not count", claim: withRefs(metav1.OwnerReference{Kind: "StatefulSet", Name: "a", UID: "old"}),
			pods: map[string][]*derive.Pod{"a": {podA}, "b-a": {podBA}}, want: "b-a"},
		{name: "mounting beats the owner reference", claim: withRefs(metav1.OwnerReference{Kind: "StatefulSet", Name: "a", UID: a.UID}),
			pods: map[string][]*derive.Pod{"b-a": {podBA}}, want: "b-a"},
		{name: "nothing tells: the older StatefulSet", claim: plain, want: "b-a"},
		{name: "the claim is gone: the older StatefulSet", want: "b-a"},
		{name: "created in the same second: the first name", claim: plain,
			sets: [2]*derive.StatefulSet{setWithTemplate("a", "x-b", t0), setWithTemplate("b-a", "x", t0)}, want: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sets := []*derive.StatefulSet{a, ba}
			if tc.sets[0] != nil {
				sets = tc.sets[:]
			}
			podsOf := func(s *derive.StatefulSet) []*derive.Pod { return tc.pods[s.Name] }
			for _, order := range [][]*derive.StatefulSet{sets, {sets[1], sets[0]}} {
				var claim *derive.PVC
				if tc.claim != nil {
					claim = derive.PVCFrom(tc.claim)
				}
				if got := derive.ClaimOwner(name, claim, order, podsOf); got == nil || got.Name != tc.want {
					t.Errorf("owner %v, want %s", got, tc.want)
				}
			}
		})
	}
	if got := derive.ClaimOwner(name, derive.PVCFrom(plain), nil, nil); got != nil {
		t.Errorf("owner without StatefulSets: %v", got)
	}
}

func pv(name string, phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy, claimNS, claimName, claimUID string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: policy,
			ClaimRef: &corev1.ObjectReference{Namespace: claimNS, Name: claimName, UID: types.UID(claimUID)}},
		Status: corev1.PersistentVolumeStatus{Phase: phase}}
}

// TestClaimProblems: each reason from the object state Kubernetes leaves, for claims of
// ordinals in the replica range only; healthy look-alikes stay out.
func TestClaimProblems(t *testing.T) {
	set := derive.StatefulSetFrom(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](6), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}})
	withUID := func(c *corev1.PersistentVolumeClaim, uid string) *corev1.PersistentVolumeClaim {
		c.UID = types.UID(uid)
		return c
	}
	lost := claim("data-db-0", corev1.ClaimLost, "pv-gone")
	infeasible := claim("data-db-1", corev1.ClaimBound, "pv-1")
	infeasible.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
		corev1.ResourceStorage: corev1.PersistentVolumeClaimNodeResizeInfeasible}
	failedResize := claim("data-db-2", corev1.ClaimBound, "pv-2")
	failedResize.Status.Conditions = []corev1.PersistentVolumeClaimCondition{
		{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue},
		{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue}}
	resizing := claim("data-db-3", corev1.ClaimBound, "pv-3") // in progress, no error
	resizing.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
		corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInProgress}
	resizing.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimNodeResizeError, Status: corev1.ConditionFalse}}
	in := derive.Inputs{Set: set,
		PVCs: derivetest.PVCs(lost, infeasible, failedResize, resizing,
			withUID(claim("data-db-4", corev1.ClaimBound, "pv-new-4"), "new-4"),
			withUID(claim("data-db-5", corev1.ClaimBound, "pv-5"), "uid-5"),
			claim("data-db-7", corev1.ClaimLost, ""), // retained after a scale-down: a cost only
		),
		ReleasedVolumes: derivetest.PVs(
			pv("pv-old-4", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, "ns", "data-db-4", "old-4"),     // the earlier data-db-4
			pv("pv-failed-4", corev1.VolumeFailed, corev1.PersistentVolumeReclaimRecycle, "ns", "data-db-4", "older-4"), // an even earlier one, Failed
			pv("pv-deleting", corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete, "ns", "data-db-4", "x"),      // on its way out
			pv("pv-5", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, "ns", "data-db-5", "uid-5"),         // the claim's own: not caught up yet
			pv("pv-gone-3", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, "ns", "data-db-3", "old-3"),    // no current claim: still data aside
			pv("pv-missing-1", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, "ns", "data-db-1", "old"),
			pv("pv-kept", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain, "ns", "data-db-9", "old-9"), // ordinal out of range
			pv("pv-other-ns", corev1.VolumeFailed, corev1.PersistentVolumeReclaimRetain, "other", "data-db-0", "y"),
			pv("pv-other-set", corev1.VolumeFailed, corev1.PersistentVolumeReclaimRetain, "ns", "data-web-0", "z"),
			&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-no-ref"}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeFailed}},
		),
	}
	h, _ := derive.Derive(in, derive.NewView(nil, func() string { return "gp3" }), nil, t0, derive.Thresholds{})
	want := []derive.ClaimProblem{
		{PVC: "data-db-0", PV: "pv-gone", Reason: derive.ProblemClaimLost},
		{PVC: "data-db-1", PV: "pv-1", Reason: derive.ProblemResizeInfeasible},
		{PVC: "data-db-1", PV: "pv-missing-1", Reason: derive.ProblemVolumeReleased},
		{PVC: "data-db-2", PV: "pv-2", Reason: derive.ProblemResizeFailed},
		{PVC: "data-db-3", PV: "pv-gone-3", Reason: derive.ProblemVolumeReleased},
		{PVC: "data-db-4", PV: "pv-failed-4", Reason: derive.ProblemVolumeFailed},
		{PVC: "data-db-4", PV: "pv-old-4", Reason: derive.ProblemVolumeReleased},
	}
	if !slices.Equal(h.ClaimProblems, want) {
		t.Errorf("problems\n%+v\nwant\n%+v", h.ClaimProblems, want)
	}
	for _, p := range h.ClaimProblems {
		if !slices.Contains(derive.ClaimProblems, p.Reason) {
			t.Errorf("reason %q is not in the closed set", p.Reason)
		}
	}
	// A healthy StatefulSet has none, not an empty sample set of zeros.
	healthy := derive.Inputs{Set: set, PVCs: derivetest.PVCs(claim("data-db-0", corev1.ClaimBound, "pv-0"))}
	if h, _ := derive.Derive(healthy, derive.NewView(nil, func() string { return "gp3" }), nil, t0, derive.Thresholds{}); len(h.ClaimProblems) != 0 {
		t.Errorf("healthy: %+v", h.ClaimProblems)
	}
}
