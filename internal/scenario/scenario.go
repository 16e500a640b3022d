// Package scenario creates StatefulSets in the failure states the exporter explains,
// as objects on a bare Kubernetes API server (no controllers, no kubelets), for the
// integration tests' golden files and the reliability tests. Each scenario writes the
// status a controller or kubelet would have written, through the status subresource:
// a golden file needs the same bytes on every run, which the timing, placement and
// names chosen by real controllers never give, and the reliability tests need a world
// that stands still while they break the API server under the exporter.
//
// The same situations made by the real controllers, scheduler, kwok kubelets and EBS
// simulation are in internal/simscenario and tests/simulated: they prove that these
// hand-written statuses are the ones Kubernetes writes.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Scenario is one StatefulSet failure state, created in its own namespace.
type Scenario struct {
	// Name is also the namespace and the StatefulSet's name.
	Name string
	// Description says what is broken, for the demo's output.
	Description string
	apply       func(ctx context.Context, b *builder) error
}

// Apply creates the scenario's objects.
func (s Scenario) Apply(ctx context.Context, client kubernetes.Interface) error {
	b := &builder{client: client, ns: s.Name}
	if err := b.namespace(ctx); err != nil {
		return err
	}
	if err := s.apply(ctx, b); err != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return nil
}

// Zones and nodes shared by the scenarios. ZoneKey is the label EKS nodes carry.
const (
	ZoneKey = "topology.kubernetes.io/zone"
	ZoneA   = "eu-west-1a"
	ZoneB   = "eu-west-1b"
	ZoneC   = "eu-west-1c"

	NodeA           = "node-a"    // Ready, zone A
	NodeB           = "node-b"    // Ready, zone B
	NodeCNotReady   = "node-c"    // NotReady, zone C: the only node of zone C
	NodeUnreachable = "node-lost" // unreachable (taint, Ready Unknown), zone A
	WaitForConsumer = "gp3-wffc"  // StorageClass with WaitForFirstConsumer binding
	Provisioner     = "ebs.csi.aws.com"
)

// All returns every scenario, in a stable order.
func All() []Scenario {
	return []Scenario{
		{Name: "healthy", Description: "3 ready replicas spread over two zones (nothing to report)", apply: healthy},
		{Name: "crashloop", Description: "pod crash-looping (CrashLoopBackOff, 5 restarts, last OOMKilled)", apply: crashLoop},
		{Name: "unschedulable", Description: "pod Pending, no node fits it", apply: unschedulable},
		{Name: "pvc-wffc", Description: "PVC Pending with WaitForFirstConsumer, its pod unscheduled", apply: pvcWaitForConsumer},
		{Name: "zone-mismatch", Description: "volume pinned to zone A, pod running on a node in zone B", apply: zoneMismatch},
		{Name: "zone-no-nodes", Description: "pod Pending: its volume's zone C has no Ready node", apply: zoneWithoutNodes},
		{Name: "attach-error", Description: "VolumeAttachment of the pod's volume reports an attach error", apply: attachError},
		{Name: "rollout-stalled", Description: "RollingUpdate stuck behind an updated pod in CrashLoopBackOff", apply: rolloutStalled},
		{Name: "partition-done", Description: "partitioned rollout (partition 2 of 4) that is complete", apply: partitionDone},
		{Name: "ondelete", Description: "OnDelete strategy with a stale currentRevision (no stall)", apply: onDelete},
		{Name: "scaled-to-zero", Description: "scaled to 0 replicas (nothing to report)", apply: scaledToZero},
		{Name: "terminating", Description: "pod stuck Terminating on an unreachable node", apply: stuckTerminating},
	}
}

// ApplyAll creates the shared nodes, storage class and control-plane lease, then every
// scenario.
func ApplyAll(ctx context.Context, client kubernetes.Interface) error {
	if err := ApplyCluster(ctx, client); err != nil {
		return err
	}
	for _, s := range All() {
		if err := s.Apply(ctx, client); err != nil {
			return err
		}
	}
	return nil
}

// ApplyCluster creates the nodes, the WaitForFirstConsumer storage class and the
// kube-scheduler Lease the scenarios rely on.
func ApplyCluster(ctx context.Context, client kubernetes.Interface) error {
	nodes := []struct {
		name, zone string
		status     corev1.ConditionStatus
		taint      bool
	}{
		{NodeA, ZoneA, corev1.ConditionTrue, false},
		{NodeB, ZoneB, corev1.ConditionTrue, false},
		{NodeCNotReady, ZoneC, corev1.ConditionFalse, false},
		{NodeUnreachable, ZoneA, corev1.ConditionUnknown, true},
	}
	for _, n := range nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{ZoneKey: n.zone}}}
		if n.taint {
			node.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
		}
		created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("node %s: %w", n.name, err)
		}
		created.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: n.status, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
		updated, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("node %s status: %w", n.name, err)
		}
		// The API server's TaintNodesByCondition admission taints every new node
		// not-ready:NoSchedule; the node lifecycle controller, which this cluster does not
		// run, lifts it once the node is Ready. Do the same, or no pod could be scheduled
		// on a Ready node.
		notReady := func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady }
		if n.status == corev1.ConditionTrue && slices.ContainsFunc(updated.Spec.Taints, notReady) {
			updated.Spec.Taints = slices.DeleteFunc(updated.Spec.Taints, notReady)
			if _, err := client.CoreV1().Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("node %s taints: %w", n.name, err)
			}
		}
	}
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: WaitForConsumer},
		Provisioner:       Provisioner,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("storage class: %w", err)
	}
	return nil
}

// SetLeaseHolder creates or updates the kube-system Lease name with a new holder, as a
// leader election would, incrementing leaseTransitions when the holder changes.
func SetLeaseHolder(ctx context.Context, client kubernetes.Interface, name, holder string) error {
	leases := client.CoordinationV1().Leases("kube-system")
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(15)),
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To(int32(0)),
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != holder {
		l.Spec.AcquireTime = &now
		l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	}
	l.Spec.HolderIdentity = ptr.To(holder)
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// builder creates the objects of one scenario in its namespace.
type builder struct {
	client kubernetes.Interface
	ns     string
}

func (b *builder) namespace(ctx context.Context) error {
	_, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", b.ns, err)
	}
	return nil
}

// setSpec describes a StatefulSet to create.
type setSpec struct {
	replicas       int32
	claimTemplates []string
	storageClass   string
	onDelete       bool
	partition      *int32
}

// statefulSet creates the StatefulSet named like the namespace, with its headless
// governing Service, and writes status as the controller would have: every count set to
// ready, revisions both rev1 unless changed by status.
func (b *builder) statefulSet(ctx context.Context, spec setSpec, status func(*appsv1.StatefulSetStatus)) (*appsv1.StatefulSet, error) {
	labels := map[string]string{"app": b.ns}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: b.ns},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels},
	}
	if _, err := b.client.CoreV1().Services(b.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: b.ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(spec.replicas),
			ServiceName: b.ns,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec(),
			},
		},
	}
	if spec.onDelete {
		set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	} else if spec.partition != nil {
		set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
			Type:          appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: spec.partition},
		}
	}
	for _, t := range spec.claimTemplates {
		set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates, claimTemplate(t, spec.storageClass))
	}
	created, err := b.client.AppsV1().StatefulSets(b.ns).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	created.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: created.Generation,
		Replicas:           spec.replicas, ReadyReplicas: spec.replicas, AvailableReplicas: spec.replicas,
		CurrentReplicas: spec.replicas, UpdatedReplicas: spec.replicas,
		CurrentRevision: b.ns + "-rev1", UpdateRevision: b.ns + "-rev1",
	}
	if status != nil {
		status(&created.Status)
	}
	// Written by hand: golden files need byte-stable status (see the package comment).
	updated, err := b.client.AppsV1().StatefulSets(b.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("statefulset status: %w", err)
	}
	return updated, nil
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "main", Image: "registry.example/app:1",
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(5432)}}},
		}},
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func claimTemplate(name, class string) corev1.PersistentVolumeClaim {
	c := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
	}
	if class != "" {
		c.Spec.StorageClassName = ptr.To(class)
	}
	return c
}

// podState is what the kubelet and scheduler would have written for one pod.
type podState struct {
	node     string // "" leaves it unscheduled
	revision string // default <ns>-rev1
	ready    bool
	waiting  string // container waiting reason
	restarts int32
	// lastTerminated is the reason of the container's last termination, which finished
	// when the pod is created; empty: it never terminated.
	lastTerminated string
	unscheduled    bool // PodScheduled=False, reason Unschedulable
	finalizer      bool // keeps the pod while it is being deleted
}

// pod creates pod ordinal of set with state.
func (b *builder) pod(ctx context.Context, set *appsv1.StatefulSet, ordinal int, st podState) (*corev1.Pod, error) {
	name := set.Name + "-" + strconv.Itoa(ordinal)
	revision := st.revision
	if revision == "" {
		revision = set.Name + "-rev1"
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: b.ns, Name: name,
			Labels: map[string]string{"app": set.Name, appsv1.ControllerRevisionHashLabelKey: revision,
				appsv1.StatefulSetPodNameLabel: name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))},
		},
		Spec: podSpec(),
	}
	if st.finalizer {
		pod.Finalizers = []string{"statefulset-exporter.test/hold"}
	}
	pod.Spec.NodeName = st.node
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	for _, t := range set.Spec.VolumeClaimTemplates {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Name + "-" + name},
		}})
	}
	created, err := b.client.CoreV1().Pods(b.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	return b.podStatus(ctx, created, st)
}

// podStatus writes the pod's status from st.
func (b *builder) podStatus(ctx context.Context, pod *corev1.Pod, st podState) (*corev1.Pod, error) {
	now := metav1.Now()
	s := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now}
	switch {
	case st.unscheduled || st.node == "":
		s.Phase = corev1.PodPending
		s.StartTime = nil
		cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, LastTransitionTime: now}
		if st.unscheduled {
			cond.Reason = corev1.PodReasonUnschedulable
			cond.Message = "0/4 nodes are available"
		}
		s.Conditions = []corev1.PodCondition{cond}
	default:
		ready := corev1.ConditionFalse
		if st.ready {
			ready = corev1.ConditionTrue
		}
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		}
		cs := corev1.ContainerStatus{Name: "main", Image: "registry.example/app:1", Ready: st.ready, RestartCount: st.restarts}
		if st.waiting != "" {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: st.waiting, Message: "back-off restarting failed container"}
		} else {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		}
		if st.lastTerminated != "" {
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: st.lastTerminated, ExitCode: 137,
				StartedAt: now, FinishedAt: now}
		}
		s.ContainerStatuses = []corev1.ContainerStatus{cs}
	}
	pod.Status = s
	updated, err := b.client.CoreV1().Pods(b.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("pod %s status: %w", pod.Name, err)
	}
	return updated, nil
}

// boundClaim creates the PVC <template>-<pod> bound to a PV pinned to zone.
func (b *builder) boundClaim(ctx context.Context, template, podName, zone string) (*corev1.PersistentVolume, error) {
	claimName := template + "-" + podName
	pv, err := b.pinnedVolume(ctx, claimName, zone)
	if err != nil {
		return nil, err
	}
	claim := claimTemplate(claimName, WaitForConsumer)
	claim.Namespace = b.ns
	claim.Spec.VolumeName = pv.Name
	created, err := b.client.CoreV1().PersistentVolumeClaims(b.ns).Create(ctx, &claim, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("pvc %s: %w", claimName, err)
	}
	created.Status.Phase = corev1.ClaimBound
	if _, err := b.client.CoreV1().PersistentVolumeClaims(b.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("pvc %s status: %w", claimName, err)
	}
	return pv, nil
}

// pinnedVolume creates the Bound PV pv-<namespace>-<claimName>, pinned to zone and
// reserved for the claim.
func (b *builder) pinnedVolume(ctx context.Context, claimName, zone string) (*corev1.PersistentVolume, error) {
	pvName := "pv-" + b.ns + "-" + claimName
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: Provisioner, VolumeHandle: "vol-" + pvName,
			}},
			ClaimRef:         &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: b.ns, Name: claimName},
			StorageClassName: WaitForConsumer,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: ZoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}}},
		},
	}
	pv, err := b.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("pv %s: %w", pvName, err)
	}
	pv.Status.Phase = corev1.VolumeBound
	if pv, err = b.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("pv %s status: %w", pvName, err)
	}
	return pv, nil
}
