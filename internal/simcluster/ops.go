package simcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
)

// Operations on nodes for tests: what an operator does to a node (cordon it, taint
// it), and the one report of a kubelet that kwok does not make.

// Cordon marks the node unschedulable, as `kubectl cordon` does; with unschedulable
// false it uncordons it.
func (c *Cluster) Cordon(ctx context.Context, name string, unschedulable bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, unschedulable)
	if _, err := c.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordoning node %s: %w", name, err)
	}
	return nil
}

// Taint adds taint to the node, replacing a taint of the same key and effect, as
// `kubectl taint` does.
func (c *Cluster) Taint(ctx context.Context, name string, taint corev1.Taint) error {
	err := retryConflicts(ctx, func() error {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == taint.Key && t.Effect == taint.Effect
		})
		node.Spec.Taints = append(node.Spec.Taints, taint)
		_, err = c.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("tainting node %s: %w", name, err)
	}
	return nil
}

// ReportVolumesInUse plays the part of kubelet's volume manager that kwok does not
// simulate: it lists in the node's status.volumesInUse every volume that the
// attach-detach controller reports attached to the node (status.volumesAttached), as a
// kubelet does once it has mounted them. It returns the volumes listed.
//
// Without this report the attach-detach controller takes every volume as unmounted and
// detaches it from an unreachable node as soon as its pod is gone. With it, the
// controller waits for the node's kubelet to unmount, which a lost node never does: it
// detaches only after its 6-minute unmount timeout, or at once when the node carries
// the node.kubernetes.io/out-of-service taint. Call it on a node lost with LoseNode,
// standing for the kubelet's last report before its instance died; kwok does not touch
// a lost node's status.
func (c *Cluster) ReportVolumesInUse(ctx context.Context, name string) ([]corev1.UniqueVolumeName, error) {
	var inUse []corev1.UniqueVolumeName
	err := retryConflicts(ctx, func() error {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		inUse = inUse[:0]
		for _, v := range node.Status.VolumesAttached {
			inUse = append(inUse, v.Name)
		}
		node.Status.VolumesInUse = inUse
		_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reporting the volumes in use on node %s: %w", name, err)
	}
	return inUse, nil
}

// RestartExited starts again each named component (localkube.ControllerManagerName,
// localkube.SchedulerName, or "kwok") whose process has exited, as kubelet restarts the
// container of a static pod, and returns the names it started. kube-controller-manager
// and kube-scheduler exit when they lose their Lease, for instance when the API server
// is away for longer than their renew deadline.
func (c *Cluster) RestartExited(names ...string) ([]string, error) {
	var started []string
	for _, name := range names {
		err := c.startComponent(name)
		switch {
		case err == nil:
			started = append(started, name)
		case errors.Is(err, localkube.ErrRunning):
		default:
			return started, err
		}
	}
	return started, nil
}

// startComponent starts a component; kwok under kwokMu, so as not to race setKubelet.
func (c *Cluster) startComponent(name string) error {
	if name == kwokName {
		c.kwokMu.Lock()
		defer c.kwokMu.Unlock()
	}
	return c.StartComponent(name)
}
