package localkube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
)

// TestControllers runs the real kube-controller-manager and kube-scheduler: the
// StatefulSet controller creates a pod, the scheduler records that no node fits it, and
// a killed controller manager's Lease moves to its restarted successor.
func TestControllers(t *testing.T) {
	cluster, err := localkube.Start(t.Context(), localkube.Options{Logf: t.Logf, Controllers: true})
	localkubetest.SkipOrFatal(t, "starting the control plane with controllers", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", cluster.Logs())
		}
		cluster.Stop()
	})
	client := newClient(t, cluster.AdminConfig())
	ctx := t.Context()

	const ns = "controllers"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, newStatefulSet("web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Bounded by the StatefulSet controller's and the scheduler's first sync: seconds.
	poll(t, 30*time.Second, "the scheduler to find no node for web-0", func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				// With no node at all the scheduler says so rather than counting nodes.
				return strings.Contains(c.Message, "no nodes available"), nil
			}
		}
		return false, nil
	})

	before := leaseHolder(t, client, localkube.ControllerManagerName)
	if err := cluster.StopComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	if err := cluster.StartComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	// The old holder's Lease expires after the lease duration (8s); the new instance
	// takes it at its next retry.
	poll(t, 60*time.Second, "the restarted controller manager to take the lease", func(ctx context.Context) (bool, error) {
		h := leaseHolder(t, client, localkube.ControllerManagerName)
		return h != "" && h != before, nil
	})
	if err := client.AppsV1().StatefulSets(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The garbage collector of the new leader deletes the orphaned pod.
	poll(t, 60*time.Second, "the garbage collector to delete web-0", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		return err != nil, nil
	})
}

func leaseHolder(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func poll(t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}
