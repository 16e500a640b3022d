package ebs

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// The driver against the fake clientset, playing the parts of the control plane that
// the simulated cluster's tests leave to the real one: the claim the scheduler picked a
// node for, and the VolumeAttachments the attach-detach controller creates.

func TestProvisionPinsTheVolumeToTheNodesZone(t *testing.T) {
	client := fake.NewClientset(
		node("n-a", "eu-west-1a"), node("n-plain", ""), gp3(""),
		claim("data-db-0", "n-a"), claim("data-db-1", "n-plain"))
	run(t, client)

	pv := waitPV(t, client, "data-db-0")
	if got := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]; got.Key != ZoneLabel || got.Values[0] != "eu-west-1a" {
		t.Errorf("node affinity %+v, want %s In [eu-west-1a]", got, ZoneLabel)
	}
	if pv.Spec.ClaimRef.Name != "data-db-0" || pv.Spec.CSI.Driver != DriverName || !strings.HasPrefix(pv.Spec.CSI.VolumeHandle, "vol-") {
		t.Errorf("volume %+v does not look like the EBS driver's", pv.Spec)
	}
	// A node without the CSI node plugin's label gets no volume, and an event says why.
	waitFor(t, "a ProvisioningFailed event for data-db-1", func(ctx context.Context) bool {
		events, _ := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		for _, e := range events.Items {
			if e.InvolvedObject.Name == "data-db-1" && e.Reason == "ProvisioningFailed" && strings.Contains(e.Message, "no topology key") {
				return true
			}
		}
		return false
	})
	if pvs, _ := client.CoreV1().PersistentVolumes().List(t.Context(), metav1.ListOptions{}); len(pvs.Items) != 1 {
		t.Errorf("%d volumes, want 1", len(pvs.Items))
	}
}

func TestProvisionErrorOfTheClass(t *testing.T) {
	client := fake.NewClientset(node("n-a", "eu-west-1a"), gp3("InsufficientVolumeCapacity"), claim("data-db-0", "n-a"))
	run(t, client)
	waitFor(t, "a ProvisioningFailed event with the class's error", func(ctx context.Context) bool {
		events, _ := client.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		return len(events.Items) > 0 && strings.Contains(events.Items[0].Message, "InsufficientVolumeCapacity")
	})
}

func TestAttachDetachAndVolumeInUse(t *testing.T) {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: DriverName, VolumeHandle: "vol-1"}}}}
	client := fake.NewClientset(node("n-a", "eu-west-1a"), node("n-b", "eu-west-1a"), pv, attachment("va-a", "pv-1", "n-a"))
	run(t, client)
	waitAttachment(t, client, "va-a", func(va *storagev1.VolumeAttachment) bool { return va.Status.Attached })

	// The pod moved to another node while the volume is still attached to the first.
	if _, err := client.StorageV1().VolumeAttachments().Create(t.Context(), attachment("va-b", "pv-1", "n-b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	va := waitAttachment(t, client, "va-b", func(va *storagev1.VolumeAttachment) bool { return va.Status.AttachError != nil })
	if !strings.Contains(va.Status.AttachError.Message, "VolumeInUse") || va.Status.Attached {
		t.Errorf("second attachment status %+v, want VolumeInUse", va.Status)
	}
	// Detaching from the first node lets the second attach.
	if err := client.StorageV1().VolumeAttachments().Delete(t.Context(), "va-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAttachment(t, client, "va-b", func(va *storagev1.VolumeAttachment) bool { return va.Status.Attached && va.Status.AttachError == nil })
}

func TestAttachErrorInjectedOnTheNode(t *testing.T) {
	n := node("n-a", "eu-west-1a")
	n.Annotations = map[string]string{AnnAttachError: "UnauthorizedOperation"}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}}
	client := fake.NewClientset(n, pv, attachment("va-a", "pv-1", "n-a"))
	run(t, client)
	waitAttachment(t, client, "va-a", func(va *storagev1.VolumeAttachment) bool {
		return va.Status.AttachError != nil && va.Status.AttachError.Message == "UnauthorizedOperation"
	})
	// Clearing the fault attaches the volume.
	n.Annotations = nil
	if _, err := client.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAttachment(t, client, "va-a", func(va *storagev1.VolumeAttachment) bool { return va.Status.Attached })
}

func TestCSINodeOnlyWhereTheNodePluginRuns(t *testing.T) {
	client := fake.NewClientset(node("n-a", "eu-west-1a"), node("n-plain", ""))
	run(t, client)
	waitFor(t, "the CSINode of n-a", func(ctx context.Context) bool {
		_, err := client.StorageV1().CSINodes().Get(ctx, "n-a", metav1.GetOptions{})
		return err == nil
	})
	if _, err := client.StorageV1().CSIDrivers().Get(t.Context(), DriverName, metav1.GetOptions{}); err != nil {
		t.Errorf("no CSIDriver: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // give a wrong CSINode for n-plain the time to appear
	if _, err := client.StorageV1().CSINodes().Get(t.Context(), "n-plain", metav1.GetOptions{}); err == nil {
		t.Error("a CSINode for a node without the node plugin")
	}
}

func run(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := New(client, t.Logf).Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func node(name, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if zone != "" {
		n.Labels[ZoneLabel] = zone
	}
	return n
}

func gp3(provisionError string) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: DriverName,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	if provisionError != "" {
		sc.Annotations = map[string]string{AnnProvisionError: provisionError}
	}
	return sc
}

// claim is a Pending claim whose pod the scheduler placed on node.
func claim(name, node string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Annotations: map[string]string{annSelectedNode: node, annStorageProvisoner: DriverName}},
		Spec:   corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gp3")},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

func attachment(name, pv, node string) *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: DriverName, NodeName: node, Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}}
}

func waitPV(t *testing.T, client kubernetes.Interface, claim string) *corev1.PersistentVolume {
	t.Helper()
	var found *corev1.PersistentVolume
	waitFor(t, "a volume for "+claim, func(ctx context.Context) bool {
		pvs, _ := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		for i := range pvs.Items {
			if pvs.Items[i].Spec.ClaimRef != nil && pvs.Items[i].Spec.ClaimRef.Name == claim {
				found = &pvs.Items[i]
				return true
			}
		}
		return false
	})
	return found
}

func waitAttachment(t *testing.T, client kubernetes.Interface, name string, ok func(*storagev1.VolumeAttachment) bool) *storagev1.VolumeAttachment {
	t.Helper()
	var va *storagev1.VolumeAttachment
	waitFor(t, "attachment "+name, func(ctx context.Context) bool {
		var err error
		va, err = client.StorageV1().VolumeAttachments().Get(ctx, name, metav1.GetOptions{})
		return err == nil && ok(va)
	})
	return va
}

func waitFor(t *testing.T, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true,
		func(ctx context.Context) (bool, error) { return cond(ctx), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
