package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
)

// leaseView is a Lease with what the exporter tracked about it.
type leaseView struct {
	lease            *coordinationv1.Lease
	transitions      float64
	observedChangeAt time.Time
}

// leaseFamily declares a Lease family: its samples carry the namespace and lease labels,
// then extraLabels.
func leaseFamily(valueType prometheus.ValueType, name, help string, extraLabels []string, samples func(l leaseView, out *sampleOut)) family[leaseView] {
	return newFamily(valueType, name, help, joinLabels(leaseLabels, extraLabels...), samples)
}

var leaseFamilies = []family[leaseView]{
	leaseFamily(prometheus.GaugeValue, "control_plane_lease_holder_info", "Current holder of a control-plane Lease, without the per-process UUID; always 1.", []string{"holder"},
		func(l leaseView, out *sampleOut) {
			if id := l.lease.Spec.HolderIdentity; id != nil && *id != "" {
				out.add(1, holderLabel(*id))
			}
		}),
	leaseFamily(prometheus.CounterValue, "control_plane_lease_transitions_total", "Holder changes observed since the exporter started.", nil,
		func(l leaseView, out *sampleOut) { out.add(l.transitions) }),
	leaseFamily(prometheus.GaugeValue, "control_plane_lease_renew_timestamp_seconds", "spec.renewTime of the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			if t := l.lease.Spec.RenewTime; t != nil {
				out.add(unixSeconds(t.Time))
			}
		}),
	leaseFamily(prometheus.GaugeValue, "control_plane_lease_last_transition_timestamp_seconds", "When the current holder acquired the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			switch {
			case l.lease.Spec.AcquireTime != nil:
				out.add(unixSeconds(l.lease.Spec.AcquireTime.Time))
			case !l.observedChangeAt.IsZero():
				out.add(unixSeconds(l.observedChangeAt))
			}
		}),
	leaseFamily(prometheus.GaugeValue, "control_plane_lease_duration_seconds", "spec.leaseDurationSeconds of the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			if d := l.lease.Spec.LeaseDurationSeconds; d != nil {
				out.add(float64(*d))
			}
		}),
}
