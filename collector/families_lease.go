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
	now              time.Time // of the collection: whether the Lease is held depends on it
}

// leaseFamily declares a Lease family: its samples carry the namespace and lease labels,
// then extraLabels.
func leaseFamily(valueType prometheus.ValueType, name, help string, extraLabels []string, samples func(l leaseView, out *sampleOut)) family[leaseView] {
	return newFamily(valueType, name, help, joinLabels(leaseLabels, extraLabels...), samples)
}

var leaseFamilies = []family[leaseView]{
	leaseFamily(prometheus.GaugeValue, "statefulset_control_plane_lease_holder_info", "Current holder of a control-plane Lease, without the per-process UUID; always 1.", []string{"holder"},
		func(l leaseView, out *sampleOut) {
			if id := l.lease.Spec.HolderIdentity; id != nil && *id != "" {
				out.add(1, holderLabel(*id))
			}
		}),
	leaseFamily(prometheus.CounterValue, "statefulset_control_plane_lease_transitions_total", "Holder changes observed since the exporter started.", nil,
		func(l leaseView, out *sampleOut) { out.add(l.transitions) }),
	leaseFamily(prometheus.GaugeValue, "statefulset_control_plane_lease_renew_timestamp_seconds", "spec.renewTime of the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			if t := l.lease.Spec.RenewTime; t != nil {
				out.add(unixSeconds(t.Time))
			}
		}),
	leaseFamily(prometheus.GaugeValue, "statefulset_control_plane_lease_last_transition_timestamp_seconds", "When the current holder acquired the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			switch {
			case l.lease.Spec.AcquireTime != nil:
				out.add(unixSeconds(l.lease.Spec.AcquireTime.Time))
			case !l.observedChangeAt.IsZero():
				out.add(unixSeconds(l.observedChangeAt))
			}
		}),
	leaseFamily(prometheus.GaugeValue, "statefulset_control_plane_lease_held", "1 while the Lease has a holder and renewTime + leaseDurationSeconds is not past, by the exporter's clock; else 0.", nil,
		func(l leaseView, out *sampleOut) {
			if held, known := leaseHeld(l.lease.Spec, l.now); known {
				out.add(boolFloat(held))
			}
		}),
	leaseFamily(prometheus.GaugeValue, "statefulset_control_plane_lease_duration_seconds", "spec.leaseDurationSeconds of the Lease.", nil,
		func(l leaseView, out *sampleOut) {
			if d := l.lease.Spec.LeaseDurationSeconds; d != nil {
				out.add(float64(*d))
			}
		}),
}

// leaseHeld tells whether a Lease has a leader at now: a holder whose renewTime +
// leaseDurationSeconds is not past. (Standby candidates take over once that long has
// passed since they saw the last renewal, on their own clocks.) A Lease without a holder
// is not held whatever its times say; one with a holder but no renewTime or no duration
// is unknown: known is false.
func leaseHeld(spec coordinationv1.LeaseSpec, now time.Time) (held, known bool) {
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" {
		return false, true
	}
	if spec.RenewTime == nil || spec.LeaseDurationSeconds == nil {
		return false, false
	}
	expiry := spec.RenewTime.Add(time.Duration(*spec.LeaseDurationSeconds) * time.Second)
	return !expiry.Before(now), true
}
