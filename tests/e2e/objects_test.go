package e2e

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// The objects below complete internal/scenario for this test: a PVC stuck provisioning
// (the scenarios only have a WaitForFirstConsumer claim, which StatefulSetPVCPending
// leaves out on purpose), PodDisruptionBudgets for the StatefulSets that must stay quiet,
// and the repairs.

// pvcPendingName is the namespace and StatefulSet of the provisioning-stuck scenario.
const pvcPendingName = "pvc-pending"

// createNamespace creates ns unless it exists.
func createNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// createPDB gives the StatefulSet of a scenario (pods labelled app=<name>) a
// PodDisruptionBudget, so that the only HA posture risk it could show, no_pdb, does not
// apply and the StatefulSet has nothing at all to report.
func createPDB(ctx context.Context, client kubernetes.Interface, ns string) error {
	if err := createNamespace(ctx, client, ns); err != nil {
		return err
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": ns}},
		},
	}
	_, err := client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{})
	return err
}

// applyPVCPending creates a 2-replica StatefulSet scaling up: pod 0 runs Ready on its
// bound volume, the claim of pod 1 is Pending although the scheduler picked a node for it
// (the provisioner fails, e.g. an EBS quota), so pod 1 stays unscheduled.
func applyPVCPending(ctx context.Context, client kubernetes.Interface) error {
	ns := pvcPendingName
	if err := createNamespace(ctx, client, ns); err != nil {
		return err
	}
	labels := map[string]string{"app": ns}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(int32(2)),
			ServiceName: ns,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "main", Image: "registry.example/app:1",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(5432)}}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim("data", "")},
		},
	}
	created, err := client.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	created.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: created.Generation,
		Replicas:           2, ReadyReplicas: 1, AvailableReplicas: 1, CurrentReplicas: 2, UpdatedReplicas: 2,
		CurrentRevision: ns + "-rev1", UpdateRevision: ns + "-rev1",
	}
	if _, err := client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if err := bindClaim(ctx, client, ns, "data-"+ns+"-0", scenario.ZoneA, true); err != nil {
		return err
	}
	if _, err := scenario.CreatePod(ctx, client, ns, ns, 0, scenario.Pod{Node: scenario.NodeA, Ready: true}); err != nil {
		return err
	}
	pending := claim("data-"+ns+"-1", ns)
	pending.Annotations = map[string]string{"volume.kubernetes.io/selected-node": scenario.NodeB}
	c, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &pending, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	c.Status.Phase = corev1.ClaimPending
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		return err
	}
	_, err = scenario.CreatePod(ctx, client, ns, ns, 1, scenario.Pod{Unschedulable: true})
	return err
}

func claim(name, ns string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(scenario.WaitForConsumer),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
	}
}

// bindClaim does what the provisioner and the PV controller do: it creates a PV pinned to
// zone for claim name and binds the two. With create, the claim is created bound;
// otherwise the existing Pending claim is bound.
func bindClaim(ctx context.Context, client kubernetes.Interface, ns, name, zone string, create bool) error {
	pvName := "pv-" + ns + "-" + name
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: scenario.Provisioner, VolumeHandle: "vol-" + pvName,
			}},
			ClaimRef:         &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name},
			StorageClassName: scenario.WaitForConsumer,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: scenario.ZoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}}},
		},
	}
	pv, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("pv %s: %w", pvName, err)
	}
	pv.Status.Phase = corev1.VolumeBound
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pv %s status: %w", pvName, err)
	}
	claims := client.CoreV1().PersistentVolumeClaims(ns)
	var c *corev1.PersistentVolumeClaim
	if create {
		c0 := claim(name, ns)
		c0.Spec.VolumeName = pvName
		if c, err = claims.Create(ctx, &c0, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("pvc %s: %w", name, err)
		}
	} else {
		// The API server lets spec.volumeName be set once on a claim that has none.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			existing, err := claims.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			existing.Spec.VolumeName = pvName
			c, err = claims.Update(ctx, existing, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("pvc %s volumeName: %w", name, err)
		}
	}
	c.Status.Phase = corev1.ClaimBound
	c.Status.AccessModes = c.Spec.AccessModes
	c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}
	if _, err := claims.UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pvc %s status: %w", name, err)
	}
	return nil
}

// markPodReady writes the status the kubelet reports once the pod's container runs and
// passes its readiness probe, keeping its restart count.
func markPodReady(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		for i := range pod.Status.ContainerStatuses {
			cs := &pod.Status.ContainerStatuses[i]
			cs.Ready = true
			cs.Started = ptr.To(true)
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
		_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
}

// setReady writes the StatefulSet status its controller reports once every replica is
// Ready.
func setReady(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := scenario.SetStatefulSetStatus(ctx, client, ns, ns, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = s.Replicas, s.Replicas
	})
	return err
}

// recreatePodReady replaces a pod as the StatefulSet controller does after the pod was
// deleted, and the new pod comes up Ready on node.
func recreatePodReady(ctx context.Context, client kubernetes.Interface, ns string, ordinal int, node string) error {
	name := fmt.Sprintf("%s-%d", ns, ordinal)
	if err := scenario.DeletePodNow(ctx, client, ns, name); err != nil {
		return err
	}
	_, err := scenario.CreatePod(ctx, client, ns, ns, ordinal, scenario.Pod{Node: node, Ready: true})
	return err
}

// removeFinalizers drops the finalizer that stands in for the kubelet that never confirms
// a deletion on an unreachable node.
func removeFinalizers(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	_, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	return err
}
