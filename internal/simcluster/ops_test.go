package simcluster

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNodeOperations(t *testing.T) {
	const name = "ip-10-0-1-10.eu-west-1.compute.internal"
	const volume = corev1.UniqueVolumeName("kubernetes.io/csi/ebs.csi.aws.com^vol-0123456789abcdef0")
	node := nodeObject(NodeSpec{Name: name, Zone: "eu-west-1a",
		Taints: []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}}}, "eu-west-1", nil)
	node.Status.VolumesAttached = []corev1.AttachedVolume{{Name: volume, DevicePath: "/dev/xvdba"}}
	c := &Cluster{Client: fake.NewClientset(node)}
	ctx := t.Context()
	get := func() *corev1.Node {
		t.Helper()
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := c.Cordon(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	if !get().Spec.Unschedulable {
		t.Error("cordoned node is schedulable")
	}
	if err := c.Cordon(ctx, name, false); err != nil {
		t.Fatal(err)
	}
	if get().Spec.Unschedulable {
		t.Error("uncordoned node is unschedulable")
	}

	outOfService := corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}
	for range 2 { // tainting twice keeps one taint
		if err := c.Taint(ctx, name, outOfService); err != nil {
			t.Fatal(err)
		}
	}
	want := []corev1.Taint{node.Spec.Taints[0], outOfService}
	if got := get().Spec.Taints; !slices.Equal(got, want) {
		t.Errorf("taints %v, want %v", got, want)
	}

	inUse, err := c.ReportVolumesInUse(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inUse, []corev1.UniqueVolumeName{volume}) {
		t.Errorf("reported %v, want %v", inUse, volume)
	}
	if got := get().Status.VolumesInUse; !slices.Equal(got, []corev1.UniqueVolumeName{volume}) {
		t.Errorf("status.volumesInUse %v, want %v", got, volume)
	}
}
