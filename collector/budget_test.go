package collector

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Series budget of docs/metrics.md: what one StatefulSet costs Prometheus.
const (
	// healthySeriesBudget is the most series a healthy StatefulSet may cost.
	healthySeriesBudget = 25
	// brokenPodSeriesBudget is the most series one broken pod may add.
	brokenPodSeriesBudget = 3
)

// budgetObjects is a healthy, well-configured StatefulSet as EKS users run it: three
// Ready replicas in three zones, each with a bound EBS claim attached to its node, a
// PodDisruptionBudget, a headless governing Service and readiness probes.
func budgetObjects(opts ...func(*corev1.Pod)) []runtime.Object {
	db := newStatefulSet("ns", "db", 3, withClaimTemplates("data"))
	objs := []runtime.Object{db,
		newPDB("ns", "db", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
	}
	for i, zone := range []string{"a", "b", "c"} {
		node := "node-" + zone
		pvc := newPVC(db, "data", i, corev1.ClaimBound)
		pod := newPod(db, i, onNode(node))
		if i == 2 {
			for _, o := range opts {
				o(pod)
			}
		}
		objs = append(objs, newNode(node, zoneKey, zone), pod, pvc, newZonalPV(pvc, zoneKey, zone),
			attachedTo(newAttachment("va-"+zone, pvc.Spec.VolumeName, node, false, false)))
	}
	return objs
}

// seriesOfStatefulSet counts the series labelled with the StatefulSet, per family.
func seriesOfStatefulSet(t *testing.T, env *testEnv, ns, name string) (int, map[string]int) {
	t.Helper()
	perFamily := map[string]int{}
	total := 0
	for family, mf := range gather(t, env.collector) {
		for _, m := range mf.GetMetric() {
			if label(m, "namespace") != ns || label(m, "statefulset") != name {
				continue
			}
			n := 1
			if h := m.GetHistogram(); h != nil {
				n = len(h.GetBucket()) + 3 // buckets, +Inf, _sum, _count
			}
			perFamily[family] += n
			total += n
		}
	}
	return total, perFamily
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func formatCounts(perFamily map[string]int) string {
	names := make([]string, 0, len(perFamily))
	for n := range perFamily {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "\n  %-55s %d", n, perFamily[n])
	}
	return b.String()
}

func TestSeriesBudget(t *testing.T) {
	// One pod restarted once, three hours ago: that costs nothing.
	healthy := newTestEnv(t, nil, budgetObjects(terminatedAgo(0, "OOMKilled", 3*time.Hour))...)
	total, perFamily := seriesOfStatefulSet(t, healthy, "ns", "db")
	t.Logf("a healthy StatefulSet costs %d series:%s", total, formatCounts(perFamily))
	if total > healthySeriesBudget {
		t.Errorf("a healthy StatefulSet costs %d series, over the budget of %d (docs/metrics.md):%s",
			total, healthySeriesBudget, formatCounts(perFamily))
	}

	// Series the broken pod adds; those it removes (its zone's Ready count) do not offset them.
	// It last terminated a minute ago, so it has a statefulset_container_last_terminated_timestamp_seconds.
	crashLooping := newTestEnv(t, nil, budgetObjects(notReady, waiting("CrashLoopBackOff", 5), terminatedAgo(0, "Error", time.Minute))...)
	_, perFamilyBroken := seriesOfStatefulSet(t, crashLooping, "ns", "db")
	added, addedPerFamily := 0, map[string]int{}
	for family, n := range perFamilyBroken {
		if d := n - perFamily[family]; d > 0 {
			added += d
			addedPerFamily[family] = d
		}
	}
	t.Logf("one crash-looping pod adds %d series:%s", added, formatCounts(addedPerFamily))
	if added == 0 || added > brokenPodSeriesBudget {
		t.Errorf("one crash-looping pod adds %d series, want 1..%d:%s", added, brokenPodSeriesBudget, formatCounts(addedPerFamily))
	}
}
