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

type leaseFamily struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	samples   func(l leaseView, add func(value float64, extraLabels ...string))
}

func leaseDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"namespace", "lease"}, extra...), nil)
}

var leaseFamilies = []leaseFamily{
	{leaseDesc("control_plane_lease_holder_info", "Current holder of a control-plane Lease, without the per-process UUID; always 1.", "holder"),
		prometheus.GaugeValue, func(l leaseView, add func(float64, ...string)) {
			if id := l.lease.Spec.HolderIdentity; id != nil && *id != "" {
				add(1, holderLabel(*id))
			}
		}},
	{leaseDesc("control_plane_lease_transitions_total", "Holder changes observed since the exporter started."),
		prometheus.CounterValue, func(l leaseView, add func(float64, ...string)) { add(l.transitions) }},
	{leaseDesc("control_plane_lease_renew_timestamp_seconds", "spec.renewTime of the Lease."),
		prometheus.GaugeValue, func(l leaseView, add func(float64, ...string)) {
			if t := l.lease.Spec.RenewTime; t != nil {
				add(float64(t.UnixNano()) / 1e9)
			}
		}},
	{leaseDesc("control_plane_lease_last_transition_timestamp_seconds", "When the current holder acquired the Lease."),
		prometheus.GaugeValue, func(l leaseView, add func(float64, ...string)) {
			switch {
			case l.lease.Spec.AcquireTime != nil:
				add(float64(l.lease.Spec.AcquireTime.UnixNano()) / 1e9)
			case !l.observedChangeAt.IsZero():
				add(float64(l.observedChangeAt.UnixNano()) / 1e9)
			}
		}},
	{leaseDesc("control_plane_lease_duration_seconds", "spec.leaseDurationSeconds of the Lease."),
		prometheus.GaugeValue, func(l leaseView, add func(float64, ...string)) {
			if d := l.lease.Spec.LeaseDurationSeconds; d != nil {
				add(float64(*d))
			}
		}},
}

func emitLease(ch chan<- prometheus.Metric, l leaseView) {
	for _, f := range leaseFamilies {
		f.samples(l, func(value float64, extra ...string) {
			labels := append([]string{boundedLabel(l.lease.Namespace), boundedLabel(l.lease.Name)}, extra...)
			ch <- prometheus.MustNewConstMetric(f.desc, f.valueType, value, labels...)
		})
	}
}
