package simcluster_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
)

// TestStatefulSetOnSimulatedEKS runs a StatefulSet with gp3 claims through the real
// controllers: the StatefulSet controller creates pods and claims, the scheduler picks
// nodes, the simulated driver provisions zonal volumes, the PersistentVolume controller
// binds them, the attach-detach controller asks for attachments that the driver
// answers, and kwok runs the pods. Then a node dies.
func TestStatefulSetOnSimulatedEKS(t *testing.T) {
	c, err := simcluster.Start(t.Context(), simcluster.Options{Logf: t.Logf})
	localkubetest.SkipOrFatal(t, "starting the simulated cluster", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", c.Logs())
		}
		c.Stop()
	})
	ctx := t.Context()
	const ns = "sim"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](2),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "db", Image: "postgres:17",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
				},
			}},
		},
	}
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// OrderedReady: db-0 must be Ready before db-1 is made. Each step takes the
	// controllers a second or two.
	poll(t, 90*time.Second, "both replicas Ready", func(ctx context.Context) (bool, error) {
		s, err := c.Client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 2, nil
	})
	for _, name := range []string{"data-db-0", "data-db-1"} {
		pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			t.Errorf("%s is %s, want Bound", name, pvc.Status.Phase)
		}
		pv, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, "db-"+name[len(name)-1:], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node, err := c.Client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zone := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
		if zone != node.Labels[ebs.ZoneLabel] {
			t.Errorf("%s is in %s, its pod on %s in %s", pv.Name, zone, node.Name, node.Labels[ebs.ZoneLabel])
		}
	}
	poll(t, 60*time.Second, "both volumes attached", func(ctx context.Context) (bool, error) {
		vas, err := c.Client.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		attached := 0
		for _, va := range vas.Items {
			if va.Status.Attached {
				attached++
			}
		}
		return attached == 2, nil
	})

	// The node of db-0 dies: the node lifecycle controller marks it NotReady after the
	// grace period.
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoseNode(ctx, pod.Spec.NodeName); err != nil {
		t.Fatal(err)
	}
	// The restarted kwok takes over every other node at once, not after their Leases
	// expire (NodeLeaseDurationSeconds), which would freeze their pods meanwhile.
	restarted := time.Now()
	poll(t, 5*time.Second, "the new kwok holding the other nodes' Leases", func(ctx context.Context) (bool, error) {
		leases, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		holders := map[string]string{}
		renewed := 0
		for _, l := range leases.Items {
			holders[l.Name] = ptr.Deref(l.Spec.HolderIdentity, "")
			if l.Spec.RenewTime != nil && l.Spec.RenewTime.After(restarted.Add(-time.Second)) {
				renewed++
			}
		}
		old := holders[pod.Spec.NodeName]
		for name, h := range holders {
			if name != pod.Spec.NodeName && (h == "" || h == old) {
				return false, nil
			}
		}
		return len(holders) == len(c.Nodes) && renewed >= len(c.Nodes)-1, nil
	})
	if err := c.WaitForNode(ctx, pod.Spec.NodeName, corev1.ConditionUnknown, localkube.NodeMonitorGracePeriod+30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Every other node keeps its heartbeat through kwok's restart.
	for _, n := range c.Nodes {
		if n.Name != pod.Spec.NodeName {
			if err := c.WaitForNode(ctx, n.Name, corev1.ConditionTrue, time.Second); err != nil {
				t.Error(err)
			}
		}
	}
}

func poll(t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}
