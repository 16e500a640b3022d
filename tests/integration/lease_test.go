package integration

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

var leaseFamilies = []string{
	"statefulset_control_plane_lease_holder_info",
	"statefulset_control_plane_lease_transitions_total",
	"statefulset_control_plane_lease_renew_timestamp_seconds",
	"statefulset_control_plane_lease_last_transition_timestamp_seconds",
	"statefulset_control_plane_lease_duration_seconds",
	"statefulset_control_plane_lease_held",
}

// TestLeaseTransitions changes the holder of a kube-system Lease A→B→A while the exporter
// runs: every change counts (2), and holder_info follows the holder without the
// per-process UUID suffix. A renewal by the same holder counts nothing. Every step renews
// the 15s Lease, so it is held throughout.
func TestLeaseTransitions(t *testing.T) {
	t.Parallel()
	f := env(t)
	lease := f.unique("integration-leader")
	const (
		hostA = "ip-10-0-1-10.ec2.internal"
		hostB = "ip-10-0-2-20.ec2.internal"
	)
	steps := []struct {
		holder      string // full identity
		label       string // expected holder label
		transitions int
	}{
		{hostA + "_2f0c8a53-6f7e-4c1b-9d6a-1b2c3d4e5f60", hostA, 0},
		{hostB + "_9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", hostB, 1},
		// A again, as a new process: a new UUID, the same label.
		{hostA + "_0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", hostA, 2},
		// Renewal by the current holder.
		{hostA + "_0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", hostA, 2},
	}
	for i, step := range steps {
		if err := scenario.SetLeaseHolder(t.Context(), f.admin, lease, step.holder); err != nil {
			t.Fatal(err)
		}
		l, err := f.admin.CoordinationV1().Leases("kube-system").Get(t.Context(), lease, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Timestamps as the API server stored them (microseconds).
		want := expect(t, fmt.Sprintf(`
			statefulset_control_plane_lease_holder_info{holder=%q,lease=%q,namespace="kube-system"} 1
			statefulset_control_plane_lease_transitions_total{lease=%q,namespace="kube-system"} %d
			statefulset_control_plane_lease_renew_timestamp_seconds{lease=%q,namespace="kube-system"} %s
			statefulset_control_plane_lease_last_transition_timestamp_seconds{lease=%q,namespace="kube-system"} %s
			statefulset_control_plane_lease_duration_seconds{lease=%q,namespace="kube-system"} 15
			statefulset_control_plane_lease_held{lease=%q,namespace="kube-system"} 1
		`, step.label, lease, lease, step.transitions,
			lease, formatValue(float64(l.Spec.RenewTime.UnixNano())/1e9),
			lease, formatValue(float64(l.Spec.AcquireTime.UnixNano())/1e9), lease, lease))
		f.waitSelected(t, f.shared, fmt.Sprintf("lease step %d (holder %s)", i+1, step.label), want, leaseFamilies, "lease", lease)
	}
}
