package collector

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive/derivetest"
)

var (
	tCreated  = metav1.NewTime(testNow.Add(-time.Hour))
	tFinished = metav1.NewTime(testNow.Add(-10 * time.Minute))
	tDeleted  = metav1.NewTime(testNow.Add(-time.Minute))
)

// fullMeta is object metadata with every commonly set field populated.
func fullMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: "uid-x", ResourceVersion: "42", Generation: 7,
		CreationTimestamp: tCreated,
		GenerateName:      name + "-",
		Labels:            map[string]string{"app": "web", "tier": "db"},
		Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{huge}"},
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "owner", UID: "o"}},
		Finalizers:        []string{"example.com/f"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}},
	}
}

// slim is the metadata every transform keeps.
func slim(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: "uid-x", ResourceVersion: "42", Generation: 7, CreationTimestamp: tCreated}
}

func fullContainer(name string, probe bool) corev1.Container {
	c := corev1.Container{
		Name: name, Image: "registry.example.com/app:1.2.3", Command: []string{"/app"}, Args: []string{"--flag"},
		Env:          []corev1.EnvVar{{Name: "SECRET", Value: "hunter2"}},
		Ports:        []corev1.ContainerPort{{ContainerPort: 5432}},
		Resources:    corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			Exec: &corev1.ExecAction{Command: []string{"true"}}}},
	}
	if probe {
		c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 5, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	}
	return c
}

func fullPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		NodeName:                      "node-a",
		TerminationGracePeriodSeconds: ptr.To[int64](45),
		ServiceAccountName:            "sa",
		NodeSelector:                  map[string]string{"disk": "ssd"},
		Tolerations:                   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		InitContainers:                []corev1.Container{fullContainer("init", false)},
		Containers:                    []corev1.Container{fullContainer("main", true), fullContainer("sidecar", false)},
		Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0", ReadOnly: true}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}

func fullContainerStatus(name string, waitingReason string) corev1.ContainerStatus {
	s := corev1.ContainerStatus{
		Name: name, Ready: waitingReason == "", RestartCount: 4, Image: "img", ImageID: "sha256:abc", ContainerID: "containerd://x",
		Started:              ptr.To(true),
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", Message: "oom", StartedAt: tCreated, FinishedAt: tFinished}},
	}
	if waitingReason != "" {
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitingReason, Message: "back-off 5m0s restarting failed container"}
	} else {
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: tCreated}
	}
	return s
}

func diffTransform(t *testing.T, name string, fn cache.TransformFunc, in, want any) {
	t.Helper()
	got, err := fn(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c, ok := got.(interface{ Unchanged(old any) bool }); ok {
		// A compact object (derive.Pod...): the same as the transform of the object
		// holding only what is kept, resourceVersion included.
		slim, _ := fn(want)
		if !c.Unchanged(slim) || got.(metav1.Object).GetResourceVersion() != slim.(metav1.Object).GetResourceVersion() {
			t.Errorf("%s:\n got  %+v\n want %+v", name, got, slim)
		}
	} else if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", name, d)
	}
	// Objects of other types (e.g. deletion tombstones) pass through unchanged.
	tomb := cache.DeletedFinalStateUnknown{Key: "k", Obj: in}
	if got, err := fn(tomb); err != nil || !cmp.Equal(got, tomb) {
		t.Errorf("%s changed a tombstone: %v, %v", name, got, err)
	}
}

func TestTransformStatefulSet(t *testing.T) {
	in := &appsv1.StatefulSet{
		ObjectMeta: fullMeta("ns", "web"),
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To[int32](3),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			ServiceName:          "web-headless",
			PodManagementPolicy:  appsv1.ParallelPodManagement,
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1), MaxUnavailable: ptr.To(intstr.FromInt32(2))}},
			RevisionHistoryLimit: ptr.To[int32](10),
			MinReadySeconds:      9,
			Ordinals:             &appsv1.StatefulSetOrdinals{Start: 3},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
				Spec:       fullPodSpec(),
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"x": "y"}},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gp3"),
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
			}, {ObjectMeta: metav1.ObjectMeta{Name: "wal"}}},
		},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: 6, Replicas: 3, ReadyReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 2,
			CurrentRevision: "web-1", UpdateRevision: "web-2", CollisionCount: ptr.To[int32](1),
			Conditions: []appsv1.StatefulSetCondition{{Type: "Foo", Status: corev1.ConditionTrue, Message: "text"}},
		},
	}
	// Neither the selector nor minReadySeconds is read.
	want := &derive.StatefulSet{
		ObjectMeta: slim("ns", "web"),
		Spec: derive.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         "web-headless",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      in.Spec.UpdateStrategy,
			Ordinals:            &appsv1.StatefulSetOrdinals{Start: 3},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
			VolumeClaimTemplates:          []string{"data", "wal"},
			PodLabels:                     map[string]string{"app": "web"},
			TerminationGracePeriodSeconds: ptr.To[int64](45),
			ReadinessProbes:               []bool{true, false},
		},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: 6, Replicas: 3, ReadyReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 2,
			CurrentRevision: "web-1", UpdateRevision: "web-2", CollisionCount: ptr.To[int32](1),
		},
	}
	diffTransform(t, "transformStatefulSet", transformStatefulSet, in, want)
}

func TestTransformPod(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: fullMeta("ns", "web-0"),
		Spec:       fullPodSpec(),
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, Message: "msg", Reason: "r", HostIP: "10.0.0.1", PodIP: "10.1.0.1",
			StartTime: &tCreated, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Reason: "s", Message: "scheduled text", LastTransitionTime: tCreated, LastProbeTime: tCreated},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.ContainersReady, Status: corev1.ConditionFalse},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "text", LastTransitionTime: tDeleted},
			},
			InitContainerStatuses: []corev1.ContainerStatus{fullContainerStatus("init", "")},
			ContainerStatuses:     []corev1.ContainerStatus{fullContainerStatus("main", "CrashLoopBackOff"), fullContainerStatus("sidecar", "")},
		},
	}
	in.Labels[appsv1.ControllerRevisionHashLabelKey] = "web-2"
	in.Labels[appsv1.StatefulSetPodNameLabel] = "web-0"
	in.DeletionTimestamp = &tDeleted
	in.DeletionGracePeriodSeconds = ptr.To[int64](30)
	in.OwnerReferences = append(in.OwnerReferences, metav1.OwnerReference{
		APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "sts", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)})
	slimStatus := func(name string, ready bool, waiting string) corev1.ContainerStatus {
		s := corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: 4, Started: ptr.To(true),
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: tFinished}}}
		if waiting != "" {
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
		} else {
			s.State.Running = &corev1.ContainerStateRunning{}
		}
		return s
	}
	wantMeta := slim("ns", "web-0")
	wantMeta.Labels = map[string]string{appsv1.ControllerRevisionHashLabelKey: "web-2"}
	wantMeta.DeletionTimestamp = &tDeleted
	wantMeta.DeletionGracePeriodSeconds = ptr.To[int64](30)
	wantMeta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "sts", Controller: ptr.To(true)}}
	want := &corev1.Pod{
		ObjectMeta: wantMeta,
		Spec: corev1.PodSpec{
			NodeName:                      "node-a",
			TerminationGracePeriodSeconds: ptr.To[int64](45),
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, Reason: "r",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Reason: "s", LastTransitionTime: tCreated},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: tDeleted},
			},
			InitContainerStatuses: []corev1.ContainerStatus{slimStatus("init", true, "")},
			ContainerStatuses:     []corev1.ContainerStatus{slimStatus("main", false, "CrashLoopBackOff"), slimStatus("sidecar", true, "")},
		},
	}
	diffTransform(t, "transformPod", transformPod, in, want)

	// An unschedulable pod keeps the category of the scheduler's message, and its
	// scheduling gates by name.
	// A sidecar init container keeps its name and restart policy.
	pending := &corev1.Pod{ObjectMeta: fullMeta("ns", "web-1"), Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/quota"}},
		InitContainers: []corev1.Container{fullContainer("init", false), {Name: "proxy", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod."}}}}
	diffTransform(t, "transformPod (unschedulable)", transformPod, pending, &corev1.Pod{ObjectMeta: slim("ns", "web-1"),
		Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/quota"}},
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "InsufficientMemory,InsufficientResources"}}}})

	// A pod without a node keeps what decides where it can go: nodeSelector, required node
	// affinity and tolerations (not the preferred terms nor pod affinity).
	required := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "nodegroup", Operator: corev1.NodeSelectorOpIn, Values: []string{"db"}}}}}}
	unplaced := &corev1.Pod{ObjectMeta: fullMeta("ns", "web-3"), Spec: fullPodSpec()}
	unplaced.Spec.NodeName = ""
	unplaced.Spec.Affinity = &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required,
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1}}},
		PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "k"}}},
	}
	diffTransform(t, "transformPod (no node)", transformPod, unplaced, &corev1.Pod{ObjectMeta: slim("ns", "web-3"), Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](45),
		NodeSelector:                  map[string]string{"disk": "ssd"},
		Affinity:                      &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}},
		Tolerations:                   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}},
	}})

	// An exited container keeps only how it ended.
	exited := &corev1.Pod{ObjectMeta: fullMeta("ns", "web-2"), Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "main", RestartCount: 1, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "log tail", StartedAt: tCreated}}}}}}
	diffTransform(t, "transformPod (exited)", transformPod, exited, &corev1.Pod{ObjectMeta: slim("ns", "web-2"), Status: corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "main", RestartCount: 1, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error"}}}}}})

	// A pod without a controller keeps no owner reference and no statuses.
	bare := &corev1.Pod{ObjectMeta: fullMeta("ns", "lonely")}
	diffTransform(t, "transformPod (bare)", transformPod, bare, &corev1.Pod{ObjectMeta: slim("ns", "lonely")})
}

func TestTransformPVC(t *testing.T) {
	in := &corev1.PersistentVolumeClaim{
		ObjectMeta: fullMeta("ns", "data-web-0"),
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("gp3"), VolumeName: "pv-1",
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			Conditions: []corev1.PersistentVolumeClaimCondition{
				{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue},
				{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: "m", LastProbeTime: metav1.Now()},
			},
			AllocatedResourceStatuses: map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}},
	}
	in.OwnerReferences = append(in.OwnerReferences,
		metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "s"},
		metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "p"},
		metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Backup", Name: "b", UID: "b"})
	in.Annotations[derive.AnnSelectedNode] = "node-a"
	in.Annotations[derive.AnnStorageProvisioner] = "ebs.csi.aws.com"
	in.Annotations[derive.AnnBetaStorageProvisioner] = "ebs.csi.aws.com"
	in.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
	wantMeta := slim("ns", "data-web-0")
	wantMeta.Annotations = map[string]string{derive.AnnSelectedNode: "node-a", derive.AnnStorageProvisioner: "ebs.csi.aws.com", derive.AnnBetaStorageProvisioner: "ebs.csi.aws.com"}
	wantMeta.OwnerReferences = []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "s"},
		{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "p"}}
	want := &corev1.PersistentVolumeClaim{
		ObjectMeta: wantMeta,
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gp3"), VolumeName: "pv-1",
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Conditions:                []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue}},
			AllocatedResourceStatuses: map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}},
	}
	diffTransform(t, "transformPVC", transformPVC, in, want)
}

func TestTransformPVAndNode(t *testing.T) {
	zt := zoneTransforms{zoneKeys: DefaultZoneLabels}
	pv := &corev1.PersistentVolume{
		ObjectMeta: fullMeta("", "pv-1"),
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "ns", Name: "data-web-0", UID: "c", ResourceVersion: "9"},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              "gp3",
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{in(ebsZoneKey, "a"), in("kubernetes.io/hostname", "n1")}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{in("kubernetes.io/arch", "arm64")},
					MatchFields: []corev1.NodeSelectorRequirement{in("metadata.name", "n2")}},
			}}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound, Message: "m"},
	}
	pv.Labels[zoneKey] = "a"
	pv.Labels[legacyZoneKey] = "a__b"
	wantPVMeta := slim("", "pv-1")
	wantPVMeta.Labels = map[string]string{zoneKey: "a", legacyZoneKey: "a__b"}
	wantPV := &corev1.PersistentVolume{
		ObjectMeta: wantPVMeta,
		Spec: corev1.PersistentVolumeSpec{
			ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: "data-web-0", UID: "c"},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			// Whole: which nodes a volume can be used on depends on every expression.
			NodeAffinity: pv.Spec.NodeAffinity,
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
	diffTransform(t, "transformPV", zt.transformPV, pv, wantPV)
	// The slim PV keeps its zones: the second term frees it, so it falls back to labels.
	got, _ := zt.transformPV(pv)
	if z, zSlim := derive.VolumeZones(derivetest.CompactPV(pv), DefaultZoneLabels), derive.VolumeZones(got.(*derive.PV), DefaultZoneLabels); !cmp.Equal(z, zSlim) {
		t.Errorf("volumeZones before %v, after the transform %v", z, zSlim)
	}

	node := &corev1.Node{
		ObjectMeta: fullMeta("", "node-a"),
		Spec: corev1.NodeSpec{Unschedulable: true, ProviderID: "aws:///i-1", PodCIDR: "10.0.0.0/24", Taints: []corev1.Taint{
			{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &tCreated},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule, Value: "v"},
			{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule},
			{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule},
		}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting", LastHeartbeatTime: tCreated},
			},
			Images:   []corev1.ContainerImage{{Names: []string{"big"}, SizeBytes: 1 << 30}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.0"},
		},
	}
	node.Labels[ebsZoneKey] = "a"
	wantNodeMeta := slim("", "node-a")
	// Every label: node affinity and nodeSelector may name any.
	wantNodeMeta.Labels = map[string]string{ebsZoneKey: "a", "app": "web", "tier": "db"}
	wantNode := &corev1.Node{
		ObjectMeta: wantNodeMeta,
		// The taints the scheduler's TaintToleration filter honours, without their time.
		Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{
			{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule, Value: "v"},
			{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}},
	}
	diffTransform(t, "transformNode", zt.transformNode, node, wantNode)
}

func TestTransformStorageClassAttachmentPDBLease(t *testing.T) {
	sc := &storagev1.StorageClass{
		ObjectMeta: fullMeta("", "gp3"), Provisioner: "ebs.csi.aws.com",
		Parameters:           map[string]string{"type": "gp3"},
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimRetain),
		AllowVolumeExpansion: ptr.To(true),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowedTopologies:    []corev1.TopologySelectorTerm{{}},
	}
	sc.Annotations[derive.AnnDefaultStorageClass] = "true"
	sc.Annotations[derive.AnnBetaDefaultStorageClass] = "false"
	wantSCMeta := slim("", "gp3")
	wantSCMeta.Annotations = map[string]string{derive.AnnDefaultStorageClass: "true", derive.AnnBetaDefaultStorageClass: "false"}
	diffTransform(t, "transformStorageClass", transformStorageClass, sc, &storagev1.StorageClass{
		ObjectMeta: wantSCMeta, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)})

	va := &storagev1.VolumeAttachment{
		ObjectMeta: fullMeta("", "csi-123"),
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "ebs.csi.aws.com", NodeName: "node-a",
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-1")}},
		Status: storagev1.VolumeAttachmentStatus{Attached: true, AttachmentMetadata: map[string]string{"devicePath": "/dev/xvdba"},
			AttachError: &storagev1.VolumeError{Time: tCreated, Message: "rpc error: code = Internal desc = Could not attach volume vol-1 to node i-1"},
			DetachError: &storagev1.VolumeError{Time: tDeleted, Message: "timed out waiting for external-attacher"}},
	}
	diffTransform(t, "transformVolumeAttachment", transformVolumeAttachment, va, &storagev1.VolumeAttachment{
		ObjectMeta: slim("", "csi-123"),
		Spec:       storagev1.VolumeAttachmentSpec{NodeName: "node-a", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-1")}},
		Status: storagev1.VolumeAttachmentStatus{Attached: true,
			AttachError: &storagev1.VolumeError{Time: tCreated}, DetachError: &storagev1.VolumeError{Time: tDeleted}},
	})

	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: fullMeta("ns", "web"),
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 3, DesiredHealthy: 2, DisruptionsAllowed: 1},
	}
	diffTransform(t, "transformPDB", transformPDB, pdb, &policyv1.PodDisruptionBudget{
		ObjectMeta: slim("ns", "web"),
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	})

	svc := &corev1.Service{
		ObjectMeta: fullMeta("ns", "web"),
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "db", Port: 5432}},
			PublishNotReadyAddresses: true},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{Hostname: "lb"}}}},
	}
	diffTransform(t, "transformService", transformService, svc, &corev1.Service{
		ObjectMeta: slim("ns", "web"),
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone},
	})

	spec := coordinationv1.LeaseSpec{
		HolderIdentity: ptr.To("a_" + testUUID), LeaseDurationSeconds: ptr.To[int32](15), LeaseTransitions: ptr.To[int32](3),
		AcquireTime: ptr.To(metav1.NewMicroTime(testNow)), RenewTime: ptr.To(metav1.NewMicroTime(testNow)),
	}
	diffTransform(t, "transformLease", transformLease, &coordinationv1.Lease{ObjectMeta: fullMeta("kube-system", "kube-scheduler"), Spec: spec},
		&coordinationv1.Lease{ObjectMeta: slim("kube-system", "kube-scheduler"), Spec: spec})
}
