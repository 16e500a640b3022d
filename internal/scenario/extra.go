package scenario

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// This file holds what tests need beyond the fixed failure states of All: scenarios that
// ApplyAll leaves out because a test drives them further, and helpers that change pods
// the way the kubelet or a user would.

// Extra returns scenarios that ApplyAll does not create. Each is meant to be changed by
// a test after it is applied (see CreatePod, SetPodRestarts and DeletePodNow).
func Extra() []Scenario {
	return []Scenario{
		{Name: "restarts", Description: "one Ready pod that restarted 5 times, to be deleted and recreated", apply: restarts},
		{Name: "pvc-bind", Description: "PVC Pending with WaitForFirstConsumer, to be provisioned and bound (SelectNode, BindClaim)", apply: pvcWaitForConsumer},
		{Name: "terminating-grace", Description: "pod deleted with a 4s grace period on an unreachable node, held by a finalizer", apply: terminatingWithGrace},
	}
}

// ByName returns the scenario of All or Extra called name.
func ByName(name string) (Scenario, bool) {
	for _, s := range append(All(), Extra()...) {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func restarts(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1}, nil)
	if err != nil {
		return err
	}
	_, err = b.pod(ctx, set, 0, podState{node: NodeA, ready: true, restarts: 5})
	return err
}

// TerminatingGrace is the grace period of the pod the terminating-grace scenario deletes.
const TerminatingGrace = 4 * time.Second

func terminatingWithGrace(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1}, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 0, 0
	})
	if err != nil {
		return err
	}
	pod, err := b.pod(ctx, set, 0, podState{node: NodeUnreachable, ready: true, finalizer: true})
	if err != nil {
		return err
	}
	return b.client.CoreV1().Pods(b.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(TerminatingGrace / time.Second)),
	})
}

// SelectNode annotates a Pending PVC with the node the scheduler chose for its pod, which
// tells the provisioner of a WaitForFirstConsumer class to create the volume.
func SelectNode(ctx context.Context, client kubernetes.Interface, namespace, claimName, node string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pvc, err := client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claimName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pvc.Annotations == nil {
			pvc.Annotations = map[string]string{}
		}
		pvc.Annotations["volume.kubernetes.io/selected-node"] = node
		_, err = client.CoreV1().PersistentVolumeClaims(namespace).Update(ctx, pvc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("pvc %s/%s selected node: %w", namespace, claimName, err)
	}
	return nil
}

// BindClaim does what the provisioner and the PV controller do for a Pending PVC: it
// creates a PV pinned to zone for the claim, sets the claim's volumeName and marks it
// Bound. It returns the PV.
func BindClaim(ctx context.Context, client kubernetes.Interface, namespace, claimName, zone string) (*corev1.PersistentVolume, error) {
	b := &builder{client: client, ns: namespace}
	pv, err := b.pinnedVolume(ctx, claimName, zone)
	if err != nil {
		return nil, err
	}
	claims := client.CoreV1().PersistentVolumeClaims(namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pvc, err := claims.Get(ctx, claimName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pvc.Spec.VolumeName == "" {
			pvc.Spec.VolumeName = pv.Name // settable once, as the PV controller does
			if pvc, err = claims.Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		pvc.Status.Phase = corev1.ClaimBound
		_, err = claims.UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("binding pvc %s/%s: %w", namespace, claimName, err)
	}
	return pv, nil
}

// Pod is the state the scheduler and the kubelet would have reported for one pod of a
// StatefulSet, for CreatePod.
type Pod struct {
	// Node is where the pod runs; empty leaves it unscheduled (Pending).
	Node string
	// Revision is its controller-revision-hash; empty means <statefulset>-rev1.
	Revision string
	// Ready sets the Ready condition and the container's readiness.
	Ready bool
	// Waiting is the container's waiting reason, e.g. CrashLoopBackOff; empty means running.
	Waiting string
	// Restarts is the container's restartCount.
	Restarts int32
	// Unschedulable sets PodScheduled=False with reason Unschedulable (implies no node).
	Unschedulable bool
	// Finalizer keeps the pod in Terminating once it is deleted.
	Finalizer bool
}

// CreatePod creates pod <setName>-<ordinal> of the StatefulSet setName in namespace, owned
// by it, and writes its status from p.
func CreatePod(ctx context.Context, client kubernetes.Interface, namespace, setName string, ordinal int, p Pod) (*corev1.Pod, error) {
	set, err := client.AppsV1().StatefulSets(namespace).Get(ctx, setName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("statefulset %s/%s: %w", namespace, setName, err)
	}
	b := &builder{client: client, ns: namespace}
	return b.pod(ctx, set, ordinal, podState{
		node: p.Node, revision: p.Revision, ready: p.Ready, waiting: p.Waiting, restarts: p.Restarts,
		unscheduled: p.Unschedulable, finalizer: p.Finalizer,
	})
}

// SetPodRestarts sets the restartCount of every container of a pod, as the kubelet does
// when a container restarts, keeping the rest of the status.
func SetPodRestarts(ctx context.Context, client kubernetes.Interface, namespace, podName string, restarts int32) (*corev1.Pod, error) {
	var updated *corev1.Pod
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := client.CoreV1().Pods(namespace).Get(ctx, podName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(pod.Status.ContainerStatuses) == 0 {
			return fmt.Errorf("pod %s/%s has no container status", namespace, podName)
		}
		for i := range pod.Status.ContainerStatuses {
			pod.Status.ContainerStatuses[i].RestartCount = restarts
		}
		updated, err = client.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s restarts: %w", namespace, podName, err)
	}
	return updated, nil
}

// DeletePodNow deletes a pod without grace period, as a force delete does, and waits
// until the API server no longer has it. It fails for a pod held by a finalizer.
func DeletePodNow(ctx context.Context, client kubernetes.Interface, namespace, podName string) error {
	pods := client.CoreV1().Pods(namespace)
	if err := pods.Delete(ctx, podName, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		return fmt.Errorf("deleting pod %s/%s: %w", namespace, podName, err)
	}
	for {
		_, err := pods.Get(ctx, podName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", namespace, podName, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s still exists: %w", namespace, podName, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
