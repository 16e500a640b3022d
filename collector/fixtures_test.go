package collector

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Builders for the test objects. Each takes options that mutate the object.

func newStatefulSet(ns, name string, replicas int32, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Generation: 1,
			CreationTimestamp: metav1.NewTime(testNow.Add(-time.Hour))},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "main", ReadinessProbe: &corev1.Probe{},
				}}},
			},
		},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: name + "-rev1", UpdateRevision: name + "-rev1",
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withClaimTemplates(names ...string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		for _, n := range names {
			s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
	}
}

func withStatus(ready, updated, current int32, currentRev, updateRev string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Status.ReadyReplicas, s.Status.AvailableReplicas = ready, ready
		s.Status.UpdatedReplicas, s.Status.CurrentReplicas = updated, current
		s.Status.CurrentRevision, s.Status.UpdateRevision = currentRev, updateRev
	}
}

func withPartition(p int32) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(p)}
	}
}

func withOnDelete(s *appsv1.StatefulSet) {
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
}

func newPod(set *appsv1.StatefulSet, ordinal int, opts ...func(*corev1.Pod)) *corev1.Pod {
	name := set.Name + "-" + strconv.Itoa(ordinal)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: set.Namespace, Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(testNow.Add(-30 * time.Minute)),
			Labels:            map[string]string{appsv1.ControllerRevisionHashLabelKey: set.Status.UpdateRevision},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID, Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(testNow.Add(-20 * time.Minute))},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: true}},
		},
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Name + "-" + name},
		}})
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(node string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = node } }

func withRevision(rev string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Labels[appsv1.ControllerRevisionHashLabelKey] = rev }
}

func notReady(p *corev1.Pod) {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = false
	}
}

func waiting(reason string, restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		notReady(p)
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: "free text"}
		p.Status.ContainerStatuses[0].RestartCount = restarts
	}
}

func restarts(n int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = n }
}

func unscheduled(p *corev1.Pod) {
	p.Spec.NodeName = ""
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = nil
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
}

func deletedAgo(d time.Duration, grace int64) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.DeletionTimestamp = ptr.To(metav1.NewTime(testNow.Add(-d)))
		p.DeletionGracePeriodSeconds = ptr.To(grace)
		p.Finalizers = []string{"test/keep"}
	}
}

func newNode(name, zoneKey, zone string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if zoneKey != "" {
		n.Labels[zoneKey] = zone
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeReadyStatus(s corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Status.Conditions[0].Status = s }
}

func unreachableTaint(n *corev1.Node) {
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	n.Status.Conditions[0].Status = corev1.ConditionUnknown
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func newPVC(set *appsv1.StatefulSet, template string, ordinal int, phase corev1.PersistentVolumeClaimPhase, opts ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	name := template + "-" + set.Name + "-" + strconv.Itoa(ordinal)
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: set.Namespace, Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(testNow.Add(-20 * time.Minute))},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gp3"),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	if phase == corev1.ClaimBound {
		c.Spec.VolumeName = "pv-" + name
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func storageClassName(name *string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = name }
}

func annotated(key, value string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[key] = value
	}
}

func newStorageClass(name string, mode storagev1.VolumeBindingMode, provisioner string, isDefault bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: ptr.To(mode)}
	if isDefault {
		sc.Annotations = map[string]string{derive.AnnDefaultStorageClass: "true"}
	}
	return sc
}

// newZonalPV returns the PV bound to pvc, pinned by node affinity on key to zones.
func newZonalPV(pvc *corev1.PersistentVolumeClaim, key string, zones ...string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvc.Spec.VolumeName},
		Spec: corev1.PersistentVolumeSpec{
			ClaimRef: &corev1.ObjectReference{Namespace: pvc.Namespace, Name: pvc.Name},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
	if key != "" {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: zones}},
		}}}}
	}
	return pv
}

// attachedTo marks an attachment as attached.
func attachedTo(va *storagev1.VolumeAttachment) *storagev1.VolumeAttachment {
	va.Status.Attached = true
	return va
}

func newAttachment(name, pvName, node string, attachErr, detachErr bool) *storagev1.VolumeAttachment {
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "ebs.csi.aws.com", NodeName: node,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)}},
	}
	if attachErr {
		va.Status.AttachError = &storagev1.VolumeError{Message: "rpc error: volume is attached elsewhere"}
	}
	if detachErr {
		va.Status.DetachError = &storagev1.VolumeError{Message: "timed out"}
	}
	return va
}

func newPDB(ns, name string, selector *metav1.LabelSelector) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: policyv1.PodDisruptionBudgetSpec{Selector: selector}}
}

// newService returns a Service; clusterIP "None" makes it headless.
func newService(ns, name, clusterIP string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: clusterIP}}
}

// governing returns the headless governing Service of set.
func governing(set *appsv1.StatefulSet) *corev1.Service {
	return newService(set.Namespace, set.Spec.ServiceName, corev1.ClusterIPNone)
}

func newLease(name, holder string, transitions int32) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To(int32(15)),
			LeaseTransitions:     ptr.To(transitions),
			RenewTime:            ptr.To(metav1.NewMicroTime(testNow.Add(-2 * time.Second))),
			AcquireTime:          ptr.To(metav1.NewMicroTime(testNow.Add(-10 * time.Minute))),
		},
	}
}

// createdAgo sets the pod's creation and Ready transition to d before testNow.
func createdAgo(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(testNow.Add(-d))
		for i, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(testNow.Add(-d))
			}
		}
	}
}

// newNamedPVC returns a PVC with an arbitrary name, for naming edge cases.
func newNamedPVC(ns, name string, phase corev1.PersistentVolumeClaimPhase, opts ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(testNow.Add(-20 * time.Minute))},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gp3"),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	if phase == corev1.ClaimBound {
		c.Spec.VolumeName = "pv-" + name
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// pvcCreatedAgo sets the PVC's creation time to d before testNow.
func pvcCreatedAgo(d time.Duration) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.CreationTimestamp = metav1.NewTime(testNow.Add(-d)) }
}

// scCreatedAgo sets the StorageClass's creation time to d before testNow.
func scCreatedAgo(sc *storagev1.StorageClass, d time.Duration) *storagev1.StorageClass {
	sc.CreationTimestamp = metav1.NewTime(testNow.Add(-d))
	return sc
}

// withPodGrace sets the pod template's termination grace period.
func withPodGrace(g *int64) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.TerminationGracePeriodSeconds = g }
}

// withLabels sets the StatefulSet's labels.
func withLabels(kv ...string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Labels[kv[i]] = kv[i+1]
		}
	}
}
