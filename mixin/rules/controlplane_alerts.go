package rules

import (
	"fmt"
	"strconv"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// controlPlaneGroup holds the alerts about the leader-election Leases of the control
// plane (kube-scheduler, kube-controller-manager, ...), restricted by LeaseSelector.
func controlPlaneGroup(b *builder) rulefmt.RuleGroup {
	c := b.cfg
	return rulefmt.RuleGroup{
		Name: "control-plane-leases",
		Rules: []rulefmt.Rule{
			b.rule(alert{
				name: "ControlPlaneLeaderFlapping",
				// A control-plane upgrade or an EKS failover moves leadership once or
				// twice; repeated moves mean the leaders keep losing their lease. The
				// window is the condition, so there is no "for".
				expr: fmt.Sprintf(`
					max by (<c,>namespace, lease) (
					  increase(control_plane_lease_transitions_total{<l>}[%s])
					) >= %d`,
					dur(c.LeaderChangesWindow), c.LeaderChangesThreshold),
				severity: severityWarning,
				summary:  "Control-plane leader keeps changing.",
				description: fmt.Sprintf(`
					Leader-election lease {{ $labels.namespace }}/{{ $labels.lease }}<where> changed holder {{ $value | printf "%%.0f" }} times in the last %s (threshold %s): the component keeps losing leadership.`,
					dur(c.LeaderChangesWindow), strconv.Itoa(c.LeaderChangesThreshold)),
			}),
			b.rule(alert{
				name: "ControlPlaneLeaseNotRenewed",
				// The age is measured against the exporter's last successful API call,
				// not against time(): while the exporter cannot reach the API server the
				// renew time it serves is frozen, and so is that reference, so an API
				// outage never looks like a lease that stopped being renewed. The "for"
				// covers the few seconds the exporter's watch needs to catch up after one.
				expr: fmt.Sprintf(`
					max<by-c> (statefulset_exporter_api_last_success_timestamp_seconds{<x>})
					- on (<c>) group_right ()
					max by (<c,>namespace, lease) (control_plane_lease_renew_timestamp_seconds{<l>})
					> %s`,
					seconds(c.LeaseNotRenewedThreshold)),
				for_:     c.LeaseNotRenewedFor,
				severity: severityWarning,
				summary:  "Control-plane lease is not renewed.",
				description: "Leader-election lease {{ $labels.namespace }}/{{ $labels.lease }}<where> was last renewed {{ $value | humanizeDuration }} before the exporter's last successful API call" +
					b.lookup(`max by (holder) (control_plane_lease_holder_info{})`,
						[]string{"namespace", "lease"},
						`; its holder is {{ . | first | label "holder" }}`) +
					". The component holding it is hung or down, and nothing takes over.",
			}),
		},
	}
}
