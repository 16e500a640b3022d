package scenario

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Each function below builds one scenario of All.

func healthy(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 3}, nil)
	if err != nil {
		return err
	}
	for i, node := range []string{NodeA, NodeB, NodeA} {
		if _, err := b.pod(ctx, set, i, podState{node: node, ready: true}); err != nil {
			return err
		}
	}
	return nil
}

func crashLoop(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1}, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 0, 0
	})
	if err != nil {
		return err
	}
	_, err = b.pod(ctx, set, 0, podState{node: NodeA, waiting: "CrashLoopBackOff", restarts: 5, lastTerminated: "OOMKilled"})
	return err
}

func unschedulable(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1}, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 0, 0
	})
	if err != nil {
		return err
	}
	_, err = b.pod(ctx, set, 0, podState{unscheduled: true})
	return err
}

func pvcWaitForConsumer(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1, claimTemplates: []string{"data"}, storageClass: WaitForConsumer},
		func(s *appsv1.StatefulSetStatus) { s.ReadyReplicas, s.AvailableReplicas = 0, 0 })
	if err != nil {
		return err
	}
	claim := claimTemplate("data-"+set.Name+"-0", WaitForConsumer)
	claim.Namespace = b.ns
	created, err := b.client.CoreV1().PersistentVolumeClaims(b.ns).Create(ctx, &claim, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("pvc: %w", err)
	}
	created.Status.Phase = corev1.ClaimPending
	if _, err := b.client.CoreV1().PersistentVolumeClaims(b.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pvc status: %w", err)
	}
	_, err = b.pod(ctx, set, 0, podState{unscheduled: true})
	return err
}

func zoneMismatch(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1, claimTemplates: []string{"data"}, storageClass: WaitForConsumer},
		func(s *appsv1.StatefulSetStatus) { s.ReadyReplicas, s.AvailableReplicas = 0, 0 })
	if err != nil {
		return err
	}
	if _, err := b.boundClaim(ctx, "data", set.Name+"-0", ZoneA); err != nil {
		return err
	}
	_, err = b.pod(ctx, set, 0, podState{node: NodeB, waiting: "ContainerCreating"})
	return err
}

func zoneWithoutNodes(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1, claimTemplates: []string{"data"}, storageClass: WaitForConsumer},
		func(s *appsv1.StatefulSetStatus) { s.ReadyReplicas, s.AvailableReplicas = 0, 0 })
	if err != nil {
		return err
	}
	if _, err := b.boundClaim(ctx, "data", set.Name+"-0", ZoneC); err != nil {
		return err
	}
	_, err = b.pod(ctx, set, 0, podState{unscheduled: true})
	return err
}

func attachError(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 1, claimTemplates: []string{"data"}, storageClass: WaitForConsumer},
		func(s *appsv1.StatefulSetStatus) { s.ReadyReplicas, s.AvailableReplicas = 0, 0 })
	if err != nil {
		return err
	}
	pv, err := b.boundClaim(ctx, "data", set.Name+"-0", ZoneA)
	if err != nil {
		return err
	}
	if _, err := b.pod(ctx, set, 0, podState{node: NodeA, waiting: "ContainerCreating"}); err != nil {
		return err
	}
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-" + pv.Name},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: Provisioner, NodeName: NodeA,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pv.Name)},
		},
	}
	created, err := b.client.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("volumeattachment: %w", err)
	}
	created.Status.AttachError = &storagev1.VolumeError{
		Time: metav1.Now(), Message: "rpc error: code = Internal desc = volume is already attached to another instance",
	}
	if _, err := b.client.StorageV1().VolumeAttachments().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("volumeattachment status: %w", err)
	}
	return nil
}

func rolloutStalled(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 3}, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 2, 2
		s.CurrentReplicas, s.UpdatedReplicas = 2, 1
		s.UpdateRevision = b.ns + "-rev2"
	})
	if err != nil {
		return err
	}
	for i := range 2 {
		if _, err := b.pod(ctx, set, i, podState{node: []string{NodeA, NodeB}[i], ready: true}); err != nil {
			return err
		}
	}
	_, err = b.pod(ctx, set, 2, podState{node: NodeA, revision: b.ns + "-rev2", waiting: "CrashLoopBackOff", restarts: 3})
	return err
}

func partitionDone(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 4, partition: ptr.To(int32(2))}, func(s *appsv1.StatefulSetStatus) {
		s.CurrentReplicas, s.UpdatedReplicas = 2, 2
		s.UpdateRevision = b.ns + "-rev2"
	})
	if err != nil {
		return err
	}
	for i := range 4 {
		st := podState{node: []string{NodeA, NodeB}[i%2], ready: true}
		if i >= 2 {
			st.revision = b.ns + "-rev2"
		}
		if _, err := b.pod(ctx, set, i, st); err != nil {
			return err
		}
	}
	return nil
}

func onDelete(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 3, onDelete: true}, func(s *appsv1.StatefulSetStatus) {
		s.CurrentReplicas, s.UpdatedReplicas = 2, 1
		s.UpdateRevision = b.ns + "-rev2"
	})
	if err != nil {
		return err
	}
	for i := range 3 {
		st := podState{node: []string{NodeA, NodeB, NodeA}[i], ready: true}
		if i == 2 {
			st.revision = b.ns + "-rev2"
		}
		if _, err := b.pod(ctx, set, i, st); err != nil {
			return err
		}
	}
	return nil
}

func scaledToZero(ctx context.Context, b *builder) error {
	_, err := b.statefulSet(ctx, setSpec{replicas: 0}, nil)
	return err
}

// stuckTerminating puts a pod on the unreachable node and deletes it: a finalizer
// stands in for the kubelet that never confirms the deletion.
func stuckTerminating(ctx context.Context, b *builder) error {
	set, err := b.statefulSet(ctx, setSpec{replicas: 2}, func(s *appsv1.StatefulSetStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 1, 1
	})
	if err != nil {
		return err
	}
	if _, err := b.pod(ctx, set, 0, podState{node: NodeA, ready: true}); err != nil {
		return err
	}
	pod, err := b.pod(ctx, set, 1, podState{node: NodeUnreachable, ready: true, finalizer: true})
	if err != nil {
		return err
	}
	return b.client.CoreV1().Pods(b.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))})
}
