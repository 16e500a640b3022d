package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// bindBuckets are the bucket bounds of statefulset_pvc_bind_duration_seconds.
var bindBuckets = []string{"1", "5", "15", "30", "60", "120", "300", "900", "3600", "+Inf"}

// TestPVCProvisionAndBind walks a WaitForFirstConsumer PVC through what the scheduler,
// the provisioner and the PV controller do: Pending (WaitForFirstConsumer), a node
// selected (Provisioning), then Bound. The exporter saw it Pending, so it observes one
// bind duration: the time from the PVC's creation to the Bound event.
func TestPVCProvisionAndBind(t *testing.T) {
	t.Parallel()
	f := env(t)
	const ns, claim = "pvc-bind", "data-pvc-bind-0"
	f.firstRun(t)
	f.apply(t, ns)
	pvc, err := f.admin.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := pvc.CreationTimestamp.Time
	storage := append([]string{"statefulset_pvcs", "statefulset_pvc_pending_created_timestamp_seconds"}, bindDurationSeries...)
	pending := func(reason string) []string {
		return expect(t, fmt.Sprintf(`
			statefulset_pvcs{phase="Pending"} 1
			statefulset_pvc_pending_created_timestamp_seconds{persistentvolumeclaim=%q,reason=%q} %d
		`, claim, reason, created.Unix()))
	}
	f.waitWorkload(t, f.shared, ns, pending("WaitForFirstConsumer"), storage...)

	if err := scenario.SelectNode(t.Context(), f.admin, ns, claim, scenario.NodeA); err != nil {
		t.Fatal(err)
	}
	f.waitWorkload(t, f.shared, ns, pending("Provisioning"), storage...)

	bindStart := time.Now()
	if _, err := scenario.BindClaim(t.Context(), f.admin, ns, claim, scenario.ZoneA); err != nil {
		t.Fatal(err)
	}
	s := poll(t, f.shared, "PVC bound and its bind duration observed", func(s *scrape) (bool, string) {
		count, _ := s.value("statefulset_pvc_bind_duration_seconds_count", "namespace", ns)
		bound, _ := s.value("statefulset_pvcs", "namespace", ns, "phase", "Bound")
		return count == 1 && bound == 1, strings.Join(f.workload(s, ns, storage...), "\n")
	}, nil)

	// The exporter measured from the PVC's creation (whole seconds) to the Bound event,
	// which it handled between our bind call and the scrape.
	d, _ := s.value("statefulset_pvc_bind_duration_seconds_sum", "namespace", ns)
	lo, hi := bindStart.Sub(created).Seconds(), s.end.Sub(created).Seconds()
	if d < lo || d > hi {
		t.Errorf("bind duration %vs, want within [%v, %v] (creation %s, bind call %s)", d, lo, hi,
			created.Format(time.RFC3339), bindStart.Format(time.RFC3339Nano))
	}
	var b strings.Builder
	for _, le := range bindBuckets {
		n := 0
		if le == "+Inf" || d <= mustFloat(t, le) {
			n = 1
		}
		fmt.Fprintf(&b, "statefulset_pvc_bind_duration_seconds_bucket{le=%q} %d\n", le, n)
	}
	fmt.Fprintf(&b, "statefulset_pvc_bind_duration_seconds_sum %s\nstatefulset_pvc_bind_duration_seconds_count 1\n", formatValue(d))
	if d := diff(expect(t, b.String()), f.workload(s, ns, bindDurationSeries...)); d != "" {
		t.Errorf("bind duration histogram %s", d)
	}

	// Bound to a PV in zone A while the pod waits unscheduled: zone A has a Ready node.
	f.waitGolden(t, f.shared, ns, "pvc-bind-bound", nil, nil)
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
