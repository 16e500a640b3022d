package simulated

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// TestGoverningServiceAndRetentionRisks: four StatefulSets of one replica, each with a
// PodDisruptionBudget, side by side in one namespace. One names a Service that does not
// exist, one a ClusterIP Service, one deletes its claims on scale-down (and does when
// scaled from 2 to 1), and a look-alike has its headless Service and a ClusterIP Service
// for its clients under another name. The exporter reports exactly the risk of each, and
// only singleton for the look-alike.
func TestGoverningServiceAndRetentionRisks(t *testing.T) {
	t.Parallel()
	c, x := env(t)
	const ns = "posture"
	ctx := t.Context()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"nosvc", "clusterip", "scaledelete", "lookalike"} {
		must(simscenario.CreatePDB(ctx, c.Client, ns, name))
	}

	// nosvc: serviceName names a Service nobody created.
	must(simscenario.CreateOnly(ctx, c.Client, ns, simscenario.Workload("nosvc", 1, nil, nil)))
	// clusterip: serviceName names a ClusterIP Service, as when a chart's client Service
	// is reused as the governing one.
	clusterIP := simscenario.Workload("clusterip", 1, nil, nil)
	must(simscenario.CreateService(ctx, c.Client, ns, "clusterip", clusterIP.Spec.Selector.MatchLabels, false))
	must(simscenario.CreateOnly(ctx, c.Client, ns, clusterIP))
	// scaledelete: whenScaled Delete, with its headless Service; two replicas, scaled to
	// one below.
	scaleDelete := simscenario.Workload("scaledelete", 2, nil, nil)
	scaleDelete.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}
	must(simscenario.CreateIn(ctx, c.Client, ns, scaleDelete))
	// lookalike: its headless Service, and a ClusterIP Service for clients under another
	// name, which is not the governing one.
	lookalike := simscenario.Workload("lookalike", 1, nil, nil)
	must(simscenario.CreateService(ctx, c.Client, ns, "lookalike-client", lookalike.Spec.Selector.MatchLabels, false))
	must(simscenario.CreateIn(ctx, c.Client, ns, lookalike))

	// What the API server stored: defaults applied, nothing dropped.
	stored, err := c.Client.AppsV1().StatefulSets(ns).Get(ctx, "lookalike", metav1.GetOptions{})
	must(err)
	if p := stored.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Fatalf("lookalike's retention policy as stored: %+v, want the Retain/Retain default", p)
	}

	waitMetrics(t, x, settleTimeout, "every replica Ready",
		`statefulset_replicas_ready{`+sel(ns, "nosvc")+`} 1`, `statefulset_replicas_ready{`+sel(ns, "clusterip")+`} 1`,
		`statefulset_replicas_ready{`+sel(ns, "scaledelete")+`} 2`, `statefulset_replicas_ready{`+sel(ns, "lookalike")+`} 1`)
	want := map[string][]string{
		"nosvc":       {"no_governing_service", "singleton"},
		"clusterip":   {"governing_service_not_headless", "singleton"},
		"scaledelete": {"claims_deleted_on_scale_down"},
		"lookalike":   {"singleton"},
	}
	waitRisks(t, x, settleTimeout, ns, want)

	// The routine scale-down deletes the claim of the removed replica: no claim retained,
	// unlike TestScaleDownKeepsClaims.
	scale(t, c.Client, ns, "scaledelete", 1)
	waitMetrics(t, x, settleTimeout, "one replica, the claim of the other deleted",
		`statefulset_replicas_ready{`+sel(ns, "scaledelete")+`} 1`,
		`statefulset_pvcs{namespace="posture",phase="Bound",statefulset="scaledelete"} 1`,
		`statefulset_pvcs_retained{`+sel(ns, "scaledelete")+`} 0`)
	if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-scaledelete-1", metav1.GetOptions{}); err == nil {
		t.Error("data-scaledelete-1 still exists after the scale-down with whenScaled: Delete")
	}
	want["scaledelete"] = []string{"claims_deleted_on_scale_down", "singleton"}
	waitRisks(t, x, settleTimeout, ns, want)

	// The missing Service created headless: the risk ends.
	must(simscenario.CreateService(ctx, c.Client, ns, "nosvc", map[string]string{"app": "nosvc"}, true))
	want["nosvc"] = []string{"singleton"}
	waitRisks(t, x, settleTimeout, ns, want)
}

var riskLine = regexp.MustCompile(`^statefulset_ha_risk_info\{namespace="([^"]*)",risk="([^"]*)",statefulset="([^"]*)"\} 1$`)

// risksOf returns the risks the exposition body reports for each StatefulSet of ns.
func risksOf(body, ns string) map[string][]string {
	out := map[string][]string{}
	for _, l := range strings.Split(body, "\n") {
		if m := riskLine.FindStringSubmatch(l); m != nil && m[1] == ns {
			out[m[3]] = append(out[m[3]], m[2])
		}
	}
	for name := range out {
		slices.Sort(out[name])
	}
	return out
}

// waitRisks polls until the StatefulSets of want report exactly their risks (sorted), and
// no other risk.
func waitRisks(t *testing.T, x *exporterbin.Process, timeout time.Duration, ns string, want map[string][]string) {
	t.Helper()
	var got map[string][]string
	deadline := time.Now().Add(timeout)
	for {
		body, err := x.Get(t.Context(), "/metrics")
		if err == nil {
			got = risksOf(body, ns)
			same := true
			for name, risks := range want {
				same = same && slices.Equal(got[name], risks)
			}
			if same {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("risks in %s: got %v, want %v", ns, got, want)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
