package simulated

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// TestUntoleratedTaint: the only node the pods may go to carries a NoSchedule taint
// they do not tolerate. The scheduler leaves them Pending and Unschedulable, and their
// WaitForFirstConsumer claim waits with them.
func TestUntoleratedTaint(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "taint"
	node := dedicatedNode(t, c, ns, "ip-10-0-2-97.eu-west-1.compute.internal", "eu-west-1b")
	sts := simscenario.Workload("db", 1, nil, nil)
	// Pinned to the node as simscenario.Dedicate pins, but without the toleration.
	sts.Spec.Template.Spec.NodeSelector = map[string]string{simcluster.LabelHostname: node}
	create(t, c.Client, ns, sts)

	// The scheduler tries the pod within a second of its creation.
	msg := waitUnschedulable(t, c.Client, ns, "db-0", settleTimeout)
	t.Logf("PodScheduled of db-0: %s", msg)
	if !strings.Contains(msg, "untolerated taint") {
		t.Errorf("the scheduler does not name the taint: %q", msg)
	}
	s := sel(ns, "db")
	// The exporter sees the condition at its next collection.
	waitMetrics(t, x, settleTimeout, "the pod unschedulable, its claim waiting",
		`statefulset_pods_unschedulable{`+s+`} 1`,
		`statefulset_pods{namespace="taint",phase="Pending",statefulset="db"} 1`,
		`statefulset_replicas_ready{`+s+`} 0`,
		`statefulset_ready_ratio{`+s+`} 0`,
		`statefulset_pvcs{namespace="taint",phase="Pending",statefulset="db"} 1`,
		`statefulset_pvc_pending_created_timestamp_seconds{namespace="taint",persistentvolumeclaim="data-db-0",reason="WaitForFirstConsumer",statefulset="db"}`,
		// Why, from the scheduler's message: UntoleratedTaint, also when the message first
		// counts nodes that tests running alongside have cordoned (the scheduler counts a
		// node under the first filter it fails, the cordon first): they would not take
		// the pod anyway.
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="taint",pod="db-0",reason="UntoleratedTaint",statefulset="db"} 1`,
	)
}

// TestZoneDrained: a replica's volume lives in a zone where no node it may use is left:
// its node is drained (cordoned, its pod evicted) and the StatefulSet controller's new
// pod cannot follow its volume anywhere. Two StatefulSets are drained the same way:
// "zoned" in a zone whose only node is the drained one; "pinned" in a zone that keeps
// other Ready nodes, which its pod may not use (its nodeSelector). The exporter reports
// both volumes without a usable node, as the scheduler finds none.
func TestZoneDrained(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "drained"
	// eu-west-1 has three zones; eu-west-1d stands for a zone that only this test's node
	// covers, so that draining the zone disturbs no other test.
	alone := dedicatedNode(t, c, ns, "ip-10-0-4-96.eu-west-1.compute.internal", "eu-west-1d")
	crowded := dedicatedNode(t, c, ns, "ip-10-0-1-96.eu-west-1.compute.internal", "eu-west-1a")
	zoned := simscenario.Workload("zoned", 1, nil, nil)
	simscenario.Dedicate(zoned, ns, alone)
	create(t, c.Client, ns, zoned)
	pinned := simscenario.Workload("pinned", 1, nil, nil)
	simscenario.Dedicate(pinned, ns, crowded)
	createIn(t, c.Client, ns, pinned)
	// Each replica is up within seconds of its creation.
	waitMetrics(t, x, settleTimeout, "both replicas Ready",
		`statefulset_replicas_ready{`+sel(ns, "zoned")+`} 1`, `statefulset_replicas_ready{`+sel(ns, "pinned")+`} 1`)

	// kubectl drain: cordon, then evict through the Eviction API.
	for node, pod := range map[string]string{alone: "zoned-0", crowded: "pinned-0"} {
		if err := c.Cordon(t.Context(), node, true); err != nil {
			t.Fatal(err)
		}
		evict(t, c.Client, ns, pod)
	}
	// The pods stop within their 1s grace period; the controller and the scheduler act
	// within seconds.
	for _, pod := range []string{"zoned-0", "pinned-0"} {
		t.Logf("PodScheduled of the new %s: %s", pod, waitUnschedulable(t, c.Client, ns, pod, settleTimeout))
	}
	// Seen at the exporter's next collections.
	waitMetrics(t, x, settleTimeout, "both pods unschedulable, their volumes without a usable node",
		`statefulset_pods_unschedulable{`+sel(ns, "zoned")+`} 1`,
		`statefulset_pods_unschedulable{`+sel(ns, "pinned")+`} 1`,
		`statefulset_replicas_ready{`+sel(ns, "zoned")+`} 0`,
		`statefulset_pvcs{namespace="drained",phase="Bound",statefulset="zoned"} 1`,
		`statefulset_pod_volume_no_usable_node_info{namespace="drained",persistentvolumeclaim="data-zoned-0",pod="zoned-0",statefulset="zoned",volume_zone="eu-west-1d"} 1`,
		// eu-west-1a keeps Ready nodes, but none that pinned-0's nodeSelector allows.
		`statefulset_pod_volume_no_usable_node_info{namespace="drained",persistentvolumeclaim="data-pinned-0",pod="pinned-0",statefulset="pinned",volume_zone="eu-west-1a"} 1`,
		// The scheduler's verdict: the nodes the pods select are cordoned (it counts the
		// other nodes under taints and selectors, which do not win).
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="drained",pod="zoned-0",reason="NodeUnschedulable",statefulset="zoned"} 1`,
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="drained",pod="pinned-0",reason="NodeUnschedulable",statefulset="pinned"} 1`,
	)
}

// TestLocalVolumeNodeReplaced: Kafka on instance-store volumes. Each broker's data is a
// static local PersistentVolume pinned to its instance by kubernetes.io/hostname. The
// instance is replaced (a spot interruption, an AMI upgrade): the old node is deleted
// and a new one, with another hostname, joins the zone. The broker's new pod can only
// go where its volume is, which no longer exists: the scheduler reports a volume node
// affinity conflict and the exporter reports the volume without a usable node. The
// look-alike "zk" has a local volume pinned to the zone, not the host: the new node is
// usable, its pod is rescheduled there, and nothing is reported.
func TestLocalVolumeNodeReplaced(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns, zone = "localpv", "eu-west-1b"
	old := dedicatedNode(t, c, ns, "ip-10-0-2-92.eu-west-1.compute.internal", zone)
	const replacement = "ip-10-0-2-91.eu-west-1.compute.internal"
	kafka := localWorkload("kafka", ns, old, replacement)
	zk := localWorkload("zk", ns, old, replacement)
	hostname := corev1.NodeSelectorRequirement{Key: simcluster.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{old}}
	inZone := corev1.NodeSelectorRequirement{Key: simcluster.LabelZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}
	for _, v := range []struct {
		claim string
		pin   corev1.NodeSelectorRequirement
	}{{"data-kafka-0", hostname}, {"data-zk-0", inZone}} {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + v.claim},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              "",
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: v.claim},
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/nvme0n1"}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{v.pin}}}}},
			},
		}
		if _, err := c.Client.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(t, c.Client, ns, kafka)
	createIn(t, c.Client, ns, zk)
	// Bound by the PersistentVolume controller and started on the only node they may use
	// within seconds.
	waitMetrics(t, x, settleTimeout, "both replicas Ready on the old node",
		`statefulset_replicas_ready{`+sel(ns, "kafka")+`} 1`, `statefulset_replicas_ready{`+sel(ns, "zk")+`} 1`,
		`statefulset_pvcs{namespace="localpv",phase="Bound",statefulset="kafka"} 1`,
		`statefulset_pvcs{namespace="localpv",phase="Bound",statefulset="zk"} 1`)

	// The instance is replaced: the new node joins, the old one is deleted with its pods
	// (force-deleted, as the pod garbage collector does for a node that is gone).
	if err := simscenario.DedicatedNode(t.Context(), c, ns, replacement, zone); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.CoreV1().Nodes().Delete(t.Context(), old, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"kafka-0", "zk-0"} {
		if err := c.Client.CoreV1().Pods(ns).Delete(t.Context(), pod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	// The controller and the scheduler act within seconds. The scheduler's first verdict
	// may see the new node still tainted not-ready (the node lifecycle controller lifts
	// the taint a moment after the node is Ready); it tries again when the taint goes.
	waitFor(t, settleTimeout, "the scheduler naming kafka-0's volume node affinity", func(ctx context.Context) (bool, string) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "kafka-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := podCondition(p, corev1.PodScheduled)
		if cond == nil {
			return false, fmt.Sprintf("no PodScheduled condition, node %q", p.Spec.NodeName)
		}
		return cond.Reason == corev1.PodReasonUnschedulable && strings.Contains(cond.Message, "didn't match PersistentVolume's node affinity"),
			fmt.Sprintf("PodScheduled %s %s: %s", cond.Status, cond.Reason, cond.Message)
	})
	// The exporter reports the scheduler's verdict and, on its own, the volume without a
	// usable node. The verdict is VolumeNodeAffinityConflict, also when the message first
	// counts nodes other tests have cordoned: they would not take the pod anyway.
	noUsableNode := `statefulset_pod_volume_no_usable_node_info{namespace="localpv",persistentvolumeclaim="data-kafka-0",pod="kafka-0",statefulset="kafka",volume_zone=""} 1`
	zkNoUsableNode := `statefulset_pod_volume_no_usable_node_info{namespace="localpv",persistentvolumeclaim="data-zk-0"`
	const verdict = "VolumeNodeAffinityConflict"
	waitFor(t, settleTimeout, "kafka-0's verdict and its volume without a usable node served", func(ctx context.Context) (bool, string) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "kafka-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := podCondition(p, corev1.PodScheduled)
		if cond == nil {
			return false, "no PodScheduled condition"
		}
		want := []string{noUsableNode,
			fmt.Sprintf(`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="localpv",pod="kafka-0",reason=%q,statefulset="kafka"} 1`, verdict)}
		body, err := x.Get(ctx, "/metrics")
		if err != nil {
			return false, err.Error()
		}
		if strings.Contains(body, zkNoUsableNode) {
			t.Errorf("zk-0's volume, which the replacement node can use, reported without a usable node")
		}
		missing := missingLines(body, want)
		return len(missing) == 0, fmt.Sprintf("scheduler: %s; missing: %s", cond.Message, strings.Join(missing, ", "))
	})
	// The look-alike: zk-0 follows its volume to the replacement node within seconds.
	waitFor(t, settleTimeout, "zk-0 Ready on the replacement node", func(ctx context.Context) (bool, string) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "zk-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := podCondition(p, corev1.PodReady)
		return p.DeletionTimestamp == nil && p.Spec.NodeName == replacement && ready != nil && ready.Status == corev1.ConditionTrue,
			fmt.Sprintf("node %q, Ready %v", p.Spec.NodeName, ready)
	})
	waitMetrics(t, x, settleTimeout, "zk's replica Ready again", `statefulset_replicas_ready{`+sel(ns, "zk")+`} 1`,
		`statefulset_pods{namespace="localpv",phase="Running",statefulset="zk"} 1`, noUsableNode)
	checkAbsent(t, x, zkNoUsableNode)
}

// TestNodesWithoutCSIDriver: the only node the pods may go to does not run the EBS CSI
// node plugin (no topology.ebs.csi.aws.com/zone, no CSINode entry for the driver). The
// scheduler does not filter such nodes (the CSIDriver does not set
// preventPodSchedulingIfMissing), picks the node for the WaitForFirstConsumer claim and
// waits in PreBind for a volume that the provisioner cannot create: it has no zone to
// create it in.
func TestNodesWithoutCSIDriver(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "nocsi"
	node := simcluster.NodeSpec{Name: "ip-10-0-3-95.eu-west-1.compute.internal", Zone: "eu-west-1c", WithoutCSI: true,
		Taints: []corev1.Taint{{Key: simscenario.DedicatedNodeTaint, Value: ns, Effect: corev1.TaintEffectNoSchedule}}}
	if err := c.AddNode(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	// kwok makes a node Ready within a few seconds.
	if err := c.WaitForNode(t.Context(), node.Name, corev1.ConditionTrue, settleTimeout); err != nil {
		t.Fatal(err)
	}
	sts := simscenario.Workload("db", 1, nil, nil)
	simscenario.Dedicate(sts, ns, node.Name)
	create(t, c.Client, ns, sts)

	// The scheduler selects the node for the claim within seconds, and the provisioner
	// fails at once (then retries with back-off).
	event := waitEvent(t, c.Client, ns, "PersistentVolumeClaim", "data-db-0", "ProvisioningFailed", settleTimeout)
	t.Logf("ProvisioningFailed on data-db-0: %s", event)
	if !strings.Contains(event, "no topology key found on CSINode") {
		t.Errorf("unexpected provisioning failure: %q", event)
	}
	pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data-db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pvc.Annotations["volume.kubernetes.io/selected-node"]; got != node.Name {
		t.Errorf("selected node of data-db-0 is %q, want %q", got, node.Name)
	}
	s := sel(ns, "db")
	// Gap: the pod is neither scheduled nor Unschedulable: the scheduler holds it in
	// PreBind (for up to its 10-minute bind timeout, after which it reports a
	// SchedulerError, not Unschedulable) and the claim stays Pending with reason
	// "Provisioning", which reads as work in progress. Nothing says that the selected
	// node cannot have EBS volumes (no CSINode entry for the class's provisioner) nor
	// that provisioning fails (the exporter does not read events).
	// The claim is Pending from the start: the next collection shows it.
	waitMetrics(t, x, settleTimeout, "the pod Pending, its claim Pending as being provisioned",
		`statefulset_pods{namespace="nocsi",phase="Pending",statefulset="db"} 1`,
		`statefulset_pods_unschedulable{`+s+`} 0`,
		`statefulset_pvcs{namespace="nocsi",phase="Pending",statefulset="db"} 1`,
		`statefulset_pvc_pending_created_timestamp_seconds{namespace="nocsi",persistentvolumeclaim="data-db-0",reason="Provisioning",statefulset="db"}`,
		`statefulset_replicas_ready{`+s+`} 0`,
		// Why: the scheduler has no verdict, it waits for the claim.
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="nocsi",pod="db-0",reason="ClaimPending",statefulset="db"} 1`,
	)
	pod, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cond := podCondition(pod, corev1.PodScheduled); cond != nil {
		t.Logf("PodScheduled of db-0: %s %s: %s", cond.Status, cond.Reason, cond.Message)
	} else {
		t.Logf("db-0 has no PodScheduled condition: the scheduler holds it in PreBind, on node %q", pod.Spec.NodeName)
	}
}

// TestCrossZoneStaticVolume: an administrator migrates an EBS volume in by hand: a
// PersistentVolume without nodeAffinity, pre-bound to the claim the StatefulSet will
// make. Nothing pins the pod to the volume's zone, so it lands where its nodeSelector
// sends it, in another zone. Once the PV records the volume's zone (the label), the
// exporter reports the mismatch; a new pod can no longer go there, as the scheduler's
// VolumeZone filter checks the labels of bound volumes.
//
// Labelled from the start, the mismatch arises only if the scheduler binds the
// pre-bound volume before the PersistentVolume controller does (the VolumeZone filter
// skips unbound WaitForFirstConsumer claims). The controller usually wins (5 times out
// of 6 when tried) and the pod is unschedulable; the label comes after the pod is
// placed, which is deterministic.
func TestCrossZoneStaticVolume(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "crossaz"
	node := dedicatedNode(t, c, ns, "ip-10-0-2-94.eu-west-1.compute.internal", "eu-west-1b")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "crossaz-data-db-0"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              simcluster.StorageClassName,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: "data-db-0"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: ebs.DriverName, VolumeHandle: "vol-0c2a5e7f19b3d4a86", FSType: "ext4",
			}},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sts := simscenario.Workload("db", 1, nil, nil)
	simscenario.Dedicate(sts, ns, node)
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	// Bound by the PersistentVolume controller, attached and started within seconds.
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)
	pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data-db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.VolumeName != pv.Name {
		t.Fatalf("data-db-0 is bound to %q, want the migrated volume %s", pvc.Spec.VolumeName, pv.Name)
	}
	// No zone on the volume, no zone sample.
	checkAbsent(t, x, `statefulset_pod_volume_zone_mismatch_info{namespace="crossaz"`)

	// The volume is in eu-west-1a; the administrator records it.
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"eu-west-1a"}}}`, simcluster.LabelZone)
	if _, err := c.Client.CoreV1().PersistentVolumes().Patch(t.Context(), pv.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Simulation gap: EC2 refuses to attach a volume to an instance of another zone
	// (InvalidVolume.ZoneMismatch); the simulated attacher attached it, and kwok would
	// have started the pod anyway, so the replica is Ready.
	// The label reaches the exporter's PV cache within a second.
	waitMetrics(t, x, settleTimeout, "the volume in eu-west-1a, its pod on a node in eu-west-1b",
		`statefulset_pod_volume_zone_mismatch_info{namespace="crossaz",node_zone="eu-west-1b",persistentvolumeclaim="data-db-0",pod="db-0",statefulset="db",volume_zone="eu-west-1a"} 1`,
	)

	// The pod is restarted: its replacement may only go to eu-west-1b, which the bound
	// volume's zone label now rules out.
	if err := c.Client.CoreV1().Pods(ns).Delete(t.Context(), "db-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// kwok lets the pod go after its 1s grace period; the controller and the scheduler
	// act within seconds.
	msg := waitUnschedulable(t, c.Client, ns, "db-0", settleTimeout)
	t.Logf("PodScheduled of the new db-0: %s", msg)
	if !strings.Contains(msg, "volume zone") {
		t.Errorf("the scheduler does not name the volume zone: %q", msg)
	}
	// The exporter serves the volume's zone as the reason (VolumeNodeAffinityConflict),
	// also when the message first counts nodes that tests running alongside have cordoned:
	// they would not take the pod anyway. And, on its own, no node the pod may use (its
	// dedicated node's selector) is in the volume's zone label's zone.
	waitMetrics(t, x, settleTimeout, "the new pod unschedulable, its volume without a usable node",
		`statefulset_pods_unschedulable{`+s+`} 1`,
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="crossaz",pod="db-0",reason="VolumeNodeAffinityConflict",statefulset="db"} 1`,
		`statefulset_pod_volume_no_usable_node_info{namespace="crossaz",persistentvolumeclaim="data-db-0",pod="db-0",statefulset="db",volume_zone="eu-west-1a"} 1`,
	)
	checkAbsent(t, x, `statefulset_pod_volume_zone_mismatch_info{namespace="crossaz"`)
}

// TestMultiAttachAfterNodeLoss: the instance under a replica dies; the operator
// force-deletes the pod stuck on it, and the StatefulSet controller's new pod is
// scheduled onto the other node of the zone. The attach-detach controller will not
// attach the ReadWriteOnce volume there while it is attached to the lost node, whose
// kubelet last reported it mounted: it waits for an unmount that never comes (6
// minutes, then it force-detaches). The operator ends the wait with the out-of-service
// taint, and the volume moves.
func TestMultiAttachAfterNodeLoss(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "multiattach"
	lost := dedicatedNode(t, c, ns, "ip-10-0-1-93.eu-west-1.compute.internal", "eu-west-1a")
	sts := simscenario.Workload("db", 1, nil, nil)
	simscenario.Dedicate(sts, ns, lost)
	// Either of the test's two nodes in eu-west-1a; the second does not exist yet.
	other := "ip-10-0-1-92.eu-west-1.compute.internal"
	sts.Spec.Template.Spec.NodeSelector = nil
	sts.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: simcluster.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{lost, other}}},
		}}},
	}}
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	// Provisioned, bound and started within seconds.
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)
	dedicatedNode(t, c, ns, other, "eu-west-1a")
	pvName := boundVolume(t, c.Client, ns, "data-db-0")
	// The attacher answers within a second; the attach-detach controller then lists
	// the volume in the node's status.volumesAttached at its next reconciliation (the
	// pod is Ready before: kwok starts pods without waiting for their volumes).
	waitAttachments(t, c.Client, pvName, settleTimeout, "the volume attached to the first node", map[string]bool{lost: true})
	waitFor(t, settleTimeout, "the volume listed attached in the first node's status", func(ctx context.Context) (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(n.Status.VolumesAttached) == 1, fmt.Sprintf("volumesAttached %v", n.Status.VolumesAttached)
	})

	if err := c.LoseNode(t.Context(), lost); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ReviveNode(context.Background(), lost) })
	// kwok does not report status.volumesInUse; a kubelet had reported the mounted
	// volume before its instance died.
	inUse, err := c.ReportVolumesInUse(t.Context(), lost)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("volumes in use on %s: %v", lost, inUse)
	if len(inUse) != 1 {
		t.Fatalf("want the one volume of db-0 in use on %s, got %v", lost, inUse)
	}
	// The node lifecycle controller's grace period and its 2s monitor period; it taints
	// the node at once, so the scheduler will not place the new pod there.
	waitFor(t, localkube.NodeMonitorGracePeriod+settleTimeout, lost+" tainted unreachable", func(ctx context.Context) (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoSchedule
		}), fmt.Sprintf("taints %v", n.Spec.Taints)
	})
	old, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// kubectl delete pod --grace-period=0 --force
	if err := c.Client.CoreV1().Pods(ns).Delete(t.Context(), "db-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	// The controller recreates the pod and the scheduler places it within seconds.
	waitFor(t, settleTimeout, "a new db-0 on "+other, func(ctx context.Context) (bool, string) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.UID != old.UID && p.Spec.NodeName == other, fmt.Sprintf("uid %s on %q", p.UID, p.Spec.NodeName)
	})
	// The attach-detach controller reconciles every 100ms and reports once.
	event := waitEvent(t, c.Client, ns, "Pod", "db-0", "FailedAttachVolume", settleTimeout)
	t.Logf("FailedAttachVolume on the new db-0: %s", event)
	if !strings.Contains(event, "already exclusively attached") {
		t.Errorf("unexpected attach failure: %q", event)
	}
	// The attachment to the lost node stays and none is made for the new node: after a
	// few seconds, still so.
	time.Sleep(5 * time.Second)
	waitAttachments(t, c.Client, pvName, time.Second, "the volume still attached to the lost node only", map[string]bool{lost: true})
	// No VolumeAttachment fails (the controller makes none for the new node): the
	// exporter sees the volume attached to the lost node while its pod runs on the other.
	// Simulation gap: kwok starts the pod without its volume, so it is Ready; a kubelet
	// would keep it ContainerCreating (statefulset_pods_waiting{reason="ContainerCreating"}
	// 1, replicas_ready 0). kwok runs the new pod within seconds.
	waitMetrics(t, x, settleTimeout, "the new pod on a Ready node, its volume attached to the lost one",
		fmt.Sprintf(`statefulset_pod_volume_attached_elsewhere_info{attached_node=%q,namespace=%q,node=%q,persistentvolumeclaim="data-db-0",pod="db-0",statefulset="db"} 1`, lost, ns, other),
		`statefulset_pods_on_unready_nodes{`+s+`} 0`,
		`statefulset_pods_terminating{`+s+`} 0`,
		`statefulset_replicas_ready{`+s+`} 1`,
	)
	checkAbsent(t, x, `statefulset_volume_attachment_error_info{namespace="multiattach",`)

	// Non-graceful node shutdown: the operator marks the node out of service.
	if err := c.Taint(t.Context(), lost, corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}); err != nil {
		t.Fatal(err)
	}
	// The controller force-detaches at its next reconciliation, then attaches.
	waitAttachments(t, c.Client, pvName, settleTimeout, "the volume moved to the new node", map[string]bool{other: true})
	// The exporter's VolumeAttachment cache follows within a second.
	checkAbsent(t, x, `statefulset_volume_attachment_error_info{namespace="multiattach",`)
	waitAbsent(t, x, settleTimeout, `statefulset_pod_volume_attached_elsewhere_info{attached_node=`)
}

// TestParallelRolloutProgressing: a Parallel StatefulSet is updated to a revision whose
// pods take a while to pass their readiness probe (a database replaying its log). The
// controller replaces one pod at a time (maxUnavailable 1), highest ordinal first, and
// waits for each to be Ready. The rollout as a whole takes longer than
// --rollout.stall-after, yet it is never stalled: it moves before any wait reaches it.
//
// Not parallel: it times a rollout against the stall threshold, so any pause of the
// simulated kubelets counts, and a parallel test losing a node (simcluster.LoseNode)
// restarts kwok, which pauses every pod for a moment.
func TestParallelRolloutProgressing(t *testing.T) {
	c, x := env(t)
	const ns = "parallel"
	sts := simscenario.Workload("db", 3, nil, nil)
	sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	// Parallel: the three replicas start together, within seconds.
	waitMetrics(t, x, settleTimeout, "three Ready replicas", `statefulset_replicas_ready{`+s+`} 3`, `statefulset_rollout_in_progress{`+s+`} 0`)

	// Watch the stall gauge for the whole rollout.
	var stalled atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		stalledLine := `statefulset_rollout_stalled{` + s + `} 1`
		for {
			if body, err := x.Get(context.Background(), "/metrics"); err == nil && strings.Contains(body, "\n"+stalledLine+"\n") {
				stalled.Store(true)
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-watched }()

	started := time.Now()
	if err := simscenario.PatchPodTemplateMetadata(t.Context(), c.Client, ns, "db",
		map[string]string{"release": "2"}, map[string]string{kwok.BehaviorLabel: kwok.BehaviorNotReady}); err != nil {
		t.Fatal(err)
	}
	// Each updated pod stays not Ready for a third of stallAfter: the three waits add up
	// to the stall threshold, no single one comes near it.
	const hold = stallAfter / 3
	for _, pod := range []string{"db-2", "db-1", "db-0"} {
		// The controller deletes the pod, kwok lets it go after its 1s grace period and
		// the controller recreates it on the new revision: seconds.
		waitMetrics(t, x, settleTimeout, pod+" updated and not Ready",
			`statefulset_rollout_in_progress{`+s+`} 1`,
			fmt.Sprintf(`statefulset_rollout_blocking_pod_info{namespace="parallel",pod=%q,reason="ReadinessFailing",statefulset="db"} 1`, pod),
		)
		time.Sleep(hold)
		unlabelPod(t, c.Client, ns, pod, kwok.BehaviorLabel)
	}
	// kwok makes the last pod Ready at once; the controller then completes the rollout.
	waitMetrics(t, x, settleTimeout, "the rollout complete",
		`statefulset_rollout_in_progress{`+s+`} 0`,
		`statefulset_rollout_stalled{`+s+`} 0`,
		`statefulset_replicas_updated{`+s+`} 3`,
		`statefulset_replicas_ready{`+s+`} 3`,
		`statefulset_pods_outdated{`+s+`} 0`,
	)
	took := time.Since(started)
	t.Logf("rollout took %s (stall threshold %s)", took.Round(time.Second), stallAfter)
	if took < stallAfter {
		t.Errorf("the rollout took %s, less than the stall threshold %s: the test proves nothing", took, stallAfter)
	}
	if stalled.Load() {
		t.Error("the rollout was reported stalled while it progressed")
	}
}

// TestScaleDownKeepsClaims: scaled from 3 to 1 with the default retention policy
// (Retain when scaled), the claims of the removed ordinals stay, Bound, their volumes
// detached.
func TestScaleDownKeepsClaims(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "scaledown"
	create(t, c.Client, ns, simscenario.Workload("db", 3, nil, nil))
	s := sel(ns, "db")
	// OrderedReady: three replicas one after the other, seconds each.
	waitMetrics(t, x, settleTimeout, "three Ready replicas", `statefulset_replicas_ready{`+s+`} 3`)
	scale(t, c.Client, ns, "db", 1)
	// The claims of db-1 and db-2 are kept (EBS volumes paid for, reused as they are if
	// the StatefulSet scales up again): retained, not pending or broken.
	// The controller removes db-2 then db-1, each within its 1s grace period.
	waitMetrics(t, x, settleTimeout, "one replica, three Bound claims, two of them retained",
		`statefulset_pvcs_retained{`+s+`} 2`,
		`statefulset_replicas_desired{`+s+`} 1`,
		`statefulset_replicas_ready{`+s+`} 1`,
		`statefulset_ready_ratio{`+s+`} 1`,
		`statefulset_pods{namespace="scaledown",phase="Running",statefulset="db"} 1`,
		`statefulset_pvcs{namespace="scaledown",phase="Bound",statefulset="db"} 3`,
		`statefulset_rollout_in_progress{`+s+`} 0`,
	)
	for _, claim := range []string{"data-db-1", "data-db-2"} {
		pv := boundVolume(t, c.Client, ns, claim)
		// The attach-detach controller detaches once the pod is gone: within seconds.
		waitAttachments(t, c.Client, pv, settleTimeout, claim+"'s volume detached", map[string]bool{})
	}
}

// TestAPIServerRestart: kube-apiserver goes away for a few seconds and comes back. The
// exporter reports it unreachable meanwhile and keeps serving what it last saw; the
// controllers and kwok reconnect, and a new StatefulSet becomes Ready through them.
// Not parallel: every client of the cluster loses its API server.
func TestAPIServerRestart(t *testing.T) {
	c, x := env(t)
	const ns = "apirestart"
	create(t, c.Client, ns, simscenario.Workload("before", 1, nil, nil))
	// Up within seconds; the API probe answers every second.
	waitMetrics(t, x, settleTimeout, "the replica Ready, the API reachable",
		`statefulset_replicas_ready{`+sel(ns, "before")+`} 1`, `statefulset_exporter_api_reachable 1`)

	stopped := time.Now()
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.StartAPIServer(context.Background()); err != nil && !strings.Contains(err.Error(), "already running") {
			t.Errorf("restarting kube-apiserver: %v", err)
		}
	})
	// The exporter probes every second; a refused connection fails at once.
	waitMetrics(t, x, 15*time.Second, "the API unreachable, the last state kept",
		`statefulset_exporter_api_reachable 0`,
		`statefulset_replicas_ready{`+sel(ns, "before")+`} 1`,
	)
	if err := c.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("kube-apiserver was down for %s", back.Sub(stopped).Round(100*time.Millisecond))
	// kube-controller-manager and kube-scheduler keep their Leases through an outage
	// shorter than their renew deadline (6s); past it they exit, and kubelet would
	// restart their static pods. Either way each Lease is renewed soon after: a
	// restarted process takes it once it has expired (8s).
	waitFor(t, 30*time.Second, "the controllers leading again", func(ctx context.Context) (bool, string) {
		started, err := c.RestartExited(localkube.ControllerManagerName, localkube.SchedulerName)
		if err != nil {
			return false, err.Error()
		}
		if len(started) > 0 {
			t.Logf("restarted %v: they had exited, having lost their Leases", started)
		}
		var state []string
		renewed := true
		for _, name := range []string{localkube.ControllerManagerName, localkube.SchedulerName} {
			l, err := c.Client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ok := l.Spec.RenewTime != nil && l.Spec.RenewTime.After(back)
			renewed = renewed && ok
			state = append(state, fmt.Sprintf("%s renewed since the restart: %t", name, ok))
		}
		return renewed, strings.Join(state, ", ")
	})
	// Counted when they failed, served at once; the next probe succeeds within 1s.
	waitValue(t, x, 15*time.Second, `statefulset_exporter_api_errors_total{reason="ConnectionRefused",resource="probe"}`,
		"failed probes counted", func(v float64) bool { return v >= 1 })
	waitMetrics(t, x, 15*time.Second, "the API reachable again", `statefulset_exporter_api_reachable 1`)

	sts := simscenario.Workload("after", 1, nil, nil)
	createIn(t, c.Client, ns, sts)
	// The controllers' clients retry with back-off up to a few seconds and relist.
	waitMetrics(t, x, settleTimeout, "a new StatefulSet made Ready by the reconnected controllers",
		`statefulset_replicas_ready{`+sel(ns, "after")+`} 1`,
		`statefulset_pvcs{namespace="apirestart",phase="Bound",statefulset="after"} 1`,
	)
}

// Helpers of the scenarios above.

// localWorkload is a StatefulSet of one pod on owner's dedicated nodes, the old one or
// its replacement, with a claim of no class, for a static local PersistentVolume.
func localWorkload(name, owner string, nodes ...string) *appsv1.StatefulSet {
	sts := simscenario.Workload(name, 1, nil, nil)
	simscenario.Dedicate(sts, owner, nodes[0])
	sts.Spec.Template.Spec.NodeSelector = nil
	sts.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: simcluster.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: nodes}}}}}}}
	sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = ptr.To("")
	return sts
}

// createIn makes the StatefulSet in the existing namespace ns.
func createIn(t *testing.T, client kubernetes.Interface, ns string, sts *appsv1.StatefulSet) {
	t.Helper()
	if err := simscenario.CreateIn(t.Context(), client, ns, sts); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every half second until it holds; state describes what was seen,
// for the failure message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (done bool, state string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		done, state := cond(ctx)
		last = state
		return done, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last: %s): %v", what, timeout, last, err)
	}
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitUnschedulable waits until the scheduler has found no node for the pod and returns
// its message.
func waitUnschedulable(t *testing.T, client kubernetes.Interface, ns, name string, timeout time.Duration) string {
	t.Helper()
	var msg string
	waitFor(t, timeout, ns+"/"+name+" unschedulable", func(ctx context.Context) (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := podCondition(p, corev1.PodScheduled)
		if cond == nil {
			return false, fmt.Sprintf("no PodScheduled condition, node %q", p.Spec.NodeName)
		}
		msg = cond.Message
		return p.DeletionTimestamp == nil && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable,
			fmt.Sprintf("PodScheduled %s %s: %s", cond.Status, cond.Reason, cond.Message)
	})
	return msg
}

// waitEvent waits for an event of reason about the named object and returns its
// message.
func waitEvent(t *testing.T, client kubernetes.Interface, ns, kind, name, reason string, timeout time.Duration) string {
	t.Helper()
	var msg string
	waitFor(t, timeout, fmt.Sprintf("a %s event on %s %s/%s", reason, kind, ns, name), func(ctx context.Context) (bool, string) {
		events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s,reason=%s", kind, name, reason)})
		if err != nil {
			return false, err.Error()
		}
		if len(events.Items) == 0 {
			return false, "no event"
		}
		msg = events.Items[len(events.Items)-1].Message
		return true, msg
	})
	return msg
}

func evict(t *testing.T, client kubernetes.Interface, ns, pod string) {
	t.Helper()
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}}
	if err := client.PolicyV1().Evictions(ns).Evict(t.Context(), eviction); err != nil {
		t.Fatalf("evicting %s/%s: %v", ns, pod, err)
	}
}

// unlabelPod removes a label from a pod.
func unlabelPod(t *testing.T, client kubernetes.Interface, ns, pod, label string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, label)
	if _, err := client.CoreV1().Pods(ns).Patch(t.Context(), pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("removing %s from %s/%s: %v", label, ns, pod, err)
	}
}

// boundVolume returns the name of the PersistentVolume the claim is bound to.
func boundVolume(t *testing.T, client kubernetes.Interface, ns, claim string) string {
	t.Helper()
	pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		t.Fatalf("%s/%s is %s, not bound", ns, claim, pvc.Status.Phase)
	}
	return pvc.Spec.VolumeName
}

// waitAttachments waits until the volume's VolumeAttachments are exactly one attached
// attachment per node of want (none when want is empty).
func waitAttachments(t *testing.T, client kubernetes.Interface, pv string, timeout time.Duration, what string, want map[string]bool) {
	t.Helper()
	waitFor(t, timeout, what, func(ctx context.Context) (bool, string) {
		list, err := client.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		ok := true
		nodes := map[string]bool{}
		for _, va := range list.Items {
			if ptr.Deref(va.Spec.Source.PersistentVolumeName, "") != pv {
				continue
			}
			seen = append(seen, describeAttachment(&va))
			nodes[va.Spec.NodeName] = true
			ok = ok && want[va.Spec.NodeName] && va.Status.Attached && va.DeletionTimestamp == nil
		}
		return ok && len(nodes) == len(want), fmt.Sprintf("attachments of %s: %v", pv, seen)
	})
}

func describeAttachment(va *storagev1.VolumeAttachment) string {
	s := fmt.Sprintf("%s attached=%t", va.Spec.NodeName, va.Status.Attached)
	if va.DeletionTimestamp != nil {
		s += " deleting"
	}
	if va.Status.AttachError != nil {
		s += " error=" + va.Status.AttachError.Message
	}
	return s
}

// checkAbsent fails the test when a served line starts with prefix.
func checkAbsent(t *testing.T, x interface {
	Get(context.Context, string) (string, error)
}, prefix string) {
	t.Helper()
	body, err := x.Get(t.Context(), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(prefix)+`.*$`).FindAllString(body, -1); len(m) > 0 {
		t.Errorf("want no %s... sample, got:\n  %s", prefix, strings.Join(m, "\n  "))
	}
}

// waitAbsent polls until no served line starts with prefix, failing after timeout.
func waitAbsent(t *testing.T, x interface {
	Get(context.Context, string) (string, error)
}, timeout time.Duration, prefix string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `.*$`)
	deadline := time.Now().Add(timeout)
	for {
		body, err := x.Get(t.Context(), "/metrics")
		if err == nil && !re.MatchString(body) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still served after %s: %s", timeout, strings.Join(re.FindAllString(body, -1), "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
