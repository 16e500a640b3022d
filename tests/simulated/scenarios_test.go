package simulated

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/ebs"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// Bounds of the waits. A StatefulSet of one replica is Ready within a few seconds
// (controller, scheduler, provisioning, binding, attaching and kwok each take well
// under a second); the machine may be small and busy, so the bounds are generous and
// every wait polls.
const (
	settleTimeout = 2 * time.Minute
	// crashBackOff is the kubelet back-off base the crash-looping pods use, scaled down
	// from kubelet's 10s so that several restarts happen within a test.
	crashBackOff = time.Second
)

func sel(ns, name string) string { return fmt.Sprintf(`namespace=%q,statefulset=%q`, ns, name) }

// TestHealthy: three replicas over three zones, their claims provisioned in their pods'
// zones, bound and attached, report healthy.
func TestHealthy(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "healthy"
	create(t, c.Client, ns, simscenario.Workload("db", 3, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "three Ready replicas with bound claims",
		`statefulset_replicas_ready{`+s+`} 3`,
		`statefulset_ready_ratio{`+s+`} 1`,
		`statefulset_pvcs{namespace="healthy",phase="Bound",statefulset="db"} 3`,
		`statefulset_pods{namespace="healthy",phase="Running",statefulset="db"} 3`,
		`statefulset_pods_unschedulable{`+s+`} 0`,
		`statefulset_rollout_in_progress{`+s+`} 0`,
	)
	// A readiness probe and a headless governing Service (made by create): none of those
	// risks.
	for _, risk := range []string{"no_readiness_probe", "no_governing_service", "governing_service_not_headless"} {
		waitAbsent(t, x, 5*time.Second, `statefulset_ha_risk_info{namespace="healthy",risk="`+risk+`",statefulset="db"}`)
	}
	checkAbsent(t, x, `statefulset_volume_attachment_error_info{namespace="healthy",`)
}

// TestCrashLoop: kubelet's back-off (scaled down) makes the container wait in
// CrashLoopBackOff with a rising restart count.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "crashloop"
	annotations, labels := simscenario.CrashLooping(crashBackOff)
	create(t, c.Client, ns, simscenario.Workload("db", 1, annotations, labels))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the pod waiting in CrashLoopBackOff",
		`statefulset_pods_waiting{namespace="crashloop",reason="CrashLoopBackOff",statefulset="db"} 1`,
		`statefulset_replicas_ready{`+s+`} 0`,
	)
	waitValue(t, x, settleTimeout, `statefulset_container_restarts_total{`+s+`}`, "at least 2 restarts", func(v float64) bool { return v >= 2 })
	// Why: the waiting reason and how the container last ended (kwok's crash exits with
	// code 1, reason Error).
	waitMetrics(t, x, settleTimeout, "the crash loop explained",
		`statefulset_pod_not_ready_info{container="db",last_termination_reason="Error",namespace="crashloop",pod="db-0",reason="CrashLoopBackOff",statefulset="db"} 1`,
	)
}

// TestUnschedulableClaimWaits: a pod asking for more CPU than any node has is left
// Pending by the scheduler, and its WaitForFirstConsumer claim waits with it.
func TestUnschedulableClaimWaits(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "nocpu"
	sts := simscenario.Workload("db", 1, nil, nil)
	sts.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the pod unschedulable and its claim waiting for it",
		`statefulset_pods_unschedulable{`+s+`} 1`,
		`statefulset_pods{namespace="nocpu",phase="Pending",statefulset="db"} 1`,
		`statefulset_pvcs{namespace="nocpu",phase="Pending",statefulset="db"} 1`,
		`statefulset_pvc_pending_created_timestamp_seconds{namespace="nocpu",persistentvolumeclaim="data-db-0",reason="WaitForFirstConsumer",statefulset="db"}`,
		// Why, from the scheduler's message.
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="nocpu",pod="db-0",reason="InsufficientCPU",statefulset="db"} 1`,
	)
}

// TestRolloutStuckBehindCrashingPod: an update whose new revision crash-loops stops an
// OrderedReady rolling update at the first updated pod, which the exporter names, and
// the rollout counts as stalled once it has not moved for --rollout.stall-after.
func TestRolloutStuckBehindCrashingPod(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "rollout"
	create(t, c.Client, ns, simscenario.Workload("db", 3, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "three Ready replicas", `statefulset_replicas_ready{`+s+`} 3`)

	annotations, labels := simscenario.CrashLooping(crashBackOff)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q,%q:%q},"labels":{%q:%q}}}}}`,
		kwok.BackOffAnnotation, annotations[kwok.BackOffAnnotation], kwok.CrashAfterAnnotation, annotations[kwok.CrashAfterAnnotation],
		kwok.BehaviorLabel, labels[kwok.BehaviorLabel])
	patchStatefulSet(t, c.Client, ns, "db", patch)
	// The controller replaces the highest ordinal first and waits for it.
	waitMetrics(t, x, settleTimeout, "the rollout blocked by db-2",
		`statefulset_rollout_in_progress{`+s+`} 1`,
		`statefulset_rollout_blocking_pod_info{namespace="rollout",pod="db-2",reason="CrashLoopBackOff",statefulset="db"} 1`,
		`statefulset_pods_outdated{`+s+`} 2`,
	)
	waitMetrics(t, x, stallAfter+settleTimeout, "the rollout stalled", `statefulset_rollout_stalled{`+s+`} 1`)
}

// TestAttachError: the driver cannot attach volumes to one node; the exporter names the
// claim, the node and the operation of the failing VolumeAttachment that the
// attach-detach controller created.
func TestAttachError(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "attach"
	node := dedicatedNode(t, c, ns, "ip-10-0-3-99.eu-west-1.compute.internal", "eu-west-1c")
	annotateNode(t, c.Client, node, ebs.AnnAttachError, "rpc error: code = Internal desc = Could not attach volume: AttachVolume.Attach failed: UnauthorizedOperation")
	sts := simscenario.Workload("db", 1, nil, nil)
	simscenario.Dedicate(sts, ns, node)
	create(t, c.Client, ns, sts)
	waitMetrics(t, x, settleTimeout, "the failing attachment",
		fmt.Sprintf(`statefulset_volume_attachment_error_info{namespace="attach",node=%q,operation="attach",persistentvolumeclaim="data-db-0",statefulset="db"} 1`, node),
	)
}

// TestNodeLostPodStuckTerminating: the EC2 instance under a pod dies. The node
// lifecycle controller marks the node unreachable after its grace period and evicts the
// pod, which stays Terminating because no kubelet confirms it stopped; the StatefulSet
// controller will not make a replacement. The exporter names the pod, the node and the
// node's status.
func TestNodeLostPodStuckTerminating(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "nodelost"
	node := dedicatedNode(t, c, ns, "ip-10-0-1-98.eu-west-1.compute.internal", "eu-west-1a")
	sts := simscenario.Workload("db", 1, nil, nil)
	simscenario.Dedicate(sts, ns, node)
	// Evicted 2s after the node turns unreachable instead of the default 300s.
	simscenario.EvictAfter(sts, 2)
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "the replica Ready", `statefulset_replicas_ready{`+s+`} 1`)

	if err := c.LoseNode(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ReviveNode(context.Background(), node) })
	// The grace period, the toleration, the pod's grace period and --terminating.stuck-after.
	waitMetrics(t, x, localkube.NodeMonitorGracePeriod+settleTimeout, "the pod stuck Terminating on the lost node",
		fmt.Sprintf(`statefulset_pod_stuck_terminating_info{namespace="nodelost",node=%q,node_status="unreachable",pod="db-0",statefulset="db"} 1`, node),
		`statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="nodelost",pod="db-0",reason="Terminating",statefulset="db"} 1`,

		`statefulset_pods_terminating{`+s+`} 1`,
		`statefulset_pods_on_unready_nodes{`+s+`} 1`,
		`statefulset_replicas_ready{`+s+`} 0`,
	)
}

// TestControllerManagerFailover: killing kube-controller-manager moves its Lease to the
// next instance, counted once; the controllers keep working afterwards.
func TestControllerManagerFailover(t *testing.T) {
	c, x := env(t)
	lease := `statefulset_control_plane_lease_transitions_total{lease="kube-controller-manager",namespace="kube-system"}`
	before := waitValue(t, x, settleTimeout, lease, "the lease seen", func(float64) bool { return true })
	if err := c.StopComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	if err := c.StartComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	waitValue(t, x, settleTimeout, lease, "one more transition", func(v float64) bool { return v == before+1 })
	const ns = "after-failover"
	create(t, c.Client, ns, simscenario.Workload("db", 1, nil, nil))
	waitMetrics(t, x, settleTimeout, "a StatefulSet made Ready by the new leader", `statefulset_replicas_ready{`+sel(ns, "db")+`} 1`)
}

// TestControllerManagerWithoutLeader: with kube-controller-manager killed, nobody renews
// its Lease and the exporter reports it not held once renewTime + leaseDurationSeconds
// has passed, and held again once the restarted instance takes it. A Lease created
// without a holder reads 0 whatever its times.
func TestControllerManagerWithoutLeader(t *testing.T) {
	c, x := env(t)
	const name = "kube-controller-manager"
	held := `statefulset_control_plane_lease_held{lease="kube-controller-manager",namespace="kube-system"}`
	waitValue(t, x, settleTimeout, held, "the lease held", func(v float64) bool { return v == 1 })

	if err := c.StopComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.StartComponent(localkube.ControllerManagerName); err != nil && !errors.Is(err, localkube.ErrRunning) {
			t.Errorf("restarting %s: %v", localkube.ControllerManagerName, err)
		}
	})
	// Killed, so its last renewal is final.
	l, err := c.Client.CoordinationV1().Leases("kube-system").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		t.Fatalf("lease %s has no renewTime or duration: %+v", name, l.Spec)
	}
	expiry := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	waitValue(t, x, time.Until(expiry)+settleTimeout, held, "the lease not held", func(v float64) bool { return v == 0 })
	// The exporter compares with its own clock, the same as this test's.
	if early := time.Until(expiry); early > 0 {
		t.Errorf("lease reported not held %s before renewTime + leaseDurationSeconds (%s)", early, expiry.Format(time.RFC3339Nano))
	}
	t.Logf("not held %s after renewTime + leaseDurationSeconds (%ds)", time.Since(expiry).Round(time.Millisecond), *l.Spec.LeaseDurationSeconds)

	if err := c.StartComponent(localkube.ControllerManagerName); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	waitValue(t, x, settleTimeout, held, "the lease held by the restarted instance", func(v float64) bool { return v == 1 })
	t.Logf("held again %s after the restart", time.Since(restarted).Round(time.Millisecond))

	// A Lease nobody holds, renewed just now: no leader.
	const free = "sim-no-holder"
	leases := c.Client.CoordinationV1().Leases("kube-system")
	now := metav1.NewMicroTime(time.Now())
	if _, err := leases.Create(t.Context(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: free},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(""), LeaseDurationSeconds: ptr.To(int32(3600)), RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = leases.Delete(context.Background(), free, metav1.DeleteOptions{}) })
	body := waitMetrics(t, x, settleTimeout, "the holder-less lease not held",
		`statefulset_control_plane_lease_held{lease="sim-no-holder",namespace="kube-system"} 0`,
		`statefulset_control_plane_lease_transitions_total{lease="sim-no-holder",namespace="kube-system"} 0`)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "statefulset_control_plane_lease_holder_info{") && strings.Contains(line, `lease="sim-no-holder"`) {
			t.Errorf("a holder served for the holder-less lease: %s", line)
		}
	}
}

// TestReadinessFailing: containers run but never pass their readiness probe.
func TestReadinessFailing(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "notready"
	create(t, c.Client, ns, simscenario.Workload("db", 1, nil, map[string]string{kwok.BehaviorLabel: kwok.BehaviorNotReady}))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "a Running pod that is not Ready",
		`statefulset_pods{namespace="notready",phase="Running",statefulset="db"} 1`,
		`statefulset_replicas_ready{`+s+`} 0`,
		`statefulset_pvcs{namespace="notready",phase="Bound",statefulset="db"} 1`,
		`statefulset_pods_unschedulable{`+s+`} 0`,
		`statefulset_pod_not_ready_info{container="db",last_termination_reason="",namespace="notready",pod="db-0",reason="ReadinessFailing",statefulset="db"} 1`,
	)
}

// TestScaleToZeroKeepsClaims: a StatefulSet scaled to 0 has no pods and is not
// unhealthy; its claims stay (the default retention policy) and stay Bound.
func TestScaleToZeroKeepsClaims(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "scaled"
	create(t, c.Client, ns, simscenario.Workload("db", 2, nil, nil))
	s := sel(ns, "db")
	// No PDB: no_pdb applies while there are replicas to disrupt.
	waitMetrics(t, x, settleTimeout, "two Ready replicas", `statefulset_replicas_ready{`+s+`} 2`,
		`statefulset_ha_risk_info{namespace="scaled",risk="no_pdb",statefulset="db"} 1`)
	scale(t, c.Client, ns, "db", 0)
	waitMetrics(t, x, settleTimeout, "no pod, claims kept",
		`statefulset_replicas_desired{`+s+`} 0`,
		`statefulset_ready_ratio{`+s+`} 1`,
		`statefulset_pvcs{namespace="scaled",phase="Bound",statefulset="db"} 2`,
		`statefulset_rollout_in_progress{`+s+`} 0`,
	)
	waitAbsent(t, x, settleTimeout, `statefulset_pods{namespace="scaled",`) // no pod: no phase series
	waitAbsent(t, x, 5*time.Second, `statefulset_ha_risk_info{namespace="scaled",risk="no_pdb",statefulset="db"}`)
}

// TestPartitionedCanary: with a partition of 2 the controller updates only db-2; once it
// is Ready the rollout is done as far as the partition allows.
func TestPartitionedCanary(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "canary"
	create(t, c.Client, ns, simscenario.Workload("db", 3, nil, nil))
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "three Ready replicas", `statefulset_replicas_ready{`+s+`} 3`)
	patchStatefulSet(t, c.Client, ns, "db", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}},"template":{"metadata":{"annotations":{"release":"canary"}}}}}`)
	waitMetrics(t, x, settleTimeout, "the canary updated and Ready, the rest outdated",
		`statefulset_rollout_partition{`+s+`} 2`,
		`statefulset_pods_outdated{`+s+`} 2`,
		`statefulset_replicas_updated{`+s+`} 1`,
		`statefulset_replicas_ready{`+s+`} 3`,
		`statefulset_rollout_in_progress{`+s+`} 0`,
	)
}

// TestOnDelete: with OnDelete the controller replaces no pod after an update; the pods
// are outdated but no rollout is in progress or stalled.
func TestOnDelete(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "ondelete"
	sts := simscenario.Workload("db", 2, nil, nil)
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	create(t, c.Client, ns, sts)
	s := sel(ns, "db")
	waitMetrics(t, x, settleTimeout, "two Ready replicas", `statefulset_replicas_ready{`+s+`} 2`)
	patchStatefulSet(t, c.Client, ns, "db", `{"spec":{"template":{"metadata":{"annotations":{"release":"2"}}}}}`)
	waitMetrics(t, x, settleTimeout, "two outdated pods, no rollout",
		`statefulset_pods_outdated{`+s+`} 2`,
		`statefulset_rollout_in_progress{`+s+`} 0`,
		`statefulset_replicas_ready{`+s+`} 2`,
	)
	// Still no rollout, and never stalled, well past --rollout.stall-after.
	time.Sleep(stallAfter + 2*time.Second)
	waitMetrics(t, x, settleTimeout, "no stall", `statefulset_rollout_stalled{`+s+`} 0`, `statefulset_pods_outdated{`+s+`} 2`)
}

// TestSchedulerFailover: killing kube-scheduler moves its Lease to the next instance,
// counted once.
func TestSchedulerFailover(t *testing.T) {
	c, x := env(t)
	lease := `statefulset_control_plane_lease_transitions_total{lease="kube-scheduler",namespace="kube-system"}`
	before := waitValue(t, x, settleTimeout, lease, "the lease seen", func(float64) bool { return true })
	if err := c.StopComponent(localkube.SchedulerName); err != nil {
		t.Fatal(err)
	}
	if err := c.StartComponent(localkube.SchedulerName); err != nil {
		t.Fatal(err)
	}
	waitValue(t, x, settleTimeout, lease, "one more transition", func(v float64) bool { return v == before+1 })
}

// waitValue polls until the sample named by series (name{labels}, labels in exposition
// order) satisfies ok, and returns its value.
func waitValue(t *testing.T, x interface {
	Get(context.Context, string) (string, error)
}, timeout time.Duration, series, what string, ok func(float64) bool) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	deadline := time.Now().Add(timeout)
	last := "no sample"
	for {
		if body, err := x.Get(t.Context(), "/metrics"); err == nil {
			if m := re.FindStringSubmatch(body); m != nil {
				v, err := strconv.ParseFloat(m[1], 64)
				if err == nil && ok(v) {
					return v
				}
				last = m[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not seen within %s (last: %s)", series, what, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The building blocks of internal/simscenario, failing the test on error.

func create(t *testing.T, client kubernetes.Interface, ns string, sts *appsv1.StatefulSet) {
	t.Helper()
	if err := simscenario.Create(t.Context(), client, ns, sts); err != nil {
		t.Fatal(err)
	}
}

func dedicatedNode(t *testing.T, c *simcluster.Cluster, owner, name, zone string) string {
	t.Helper()
	if err := simscenario.DedicatedNode(t.Context(), c, owner, name, zone); err != nil {
		t.Fatal(err)
	}
	return name
}

func scale(t *testing.T, client kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	if err := simscenario.Scale(t.Context(), client, ns, name, replicas); err != nil {
		t.Fatal(err)
	}
}

func patchStatefulSet(t *testing.T, client kubernetes.Interface, ns, name, patch string) {
	t.Helper()
	if err := simscenario.Patch(t.Context(), client, ns, name, patch); err != nil {
		t.Fatal(err)
	}
}

func annotateNode(t *testing.T, client kubernetes.Interface, name, key, value string) {
	t.Helper()
	if err := simscenario.AnnotateNode(t.Context(), client, name, key, value); err != nil {
		t.Fatal(err)
	}
}
