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
					  increase(statefulset_control_plane_lease_transitions_total{<l>}[%s]) <only-fresh>
					) >= %d`,
					dur(c.LeaderChangesWindow), c.LeaderChangesThreshold),
				severity: severityWarning,
				summary:  "Control-plane leader keeps changing.",
				description: fmt.Sprintf(`
					Leader-election lease {{ $labels.namespace }}/{{ $labels.lease }}<where> changed holder {{ $value | printf "%%.0f" }} times in the last %s (threshold %s): the component keeps losing leadership.`,
					dur(c.LeaderChangesWindow), strconv.Itoa(c.LeaderChangesThreshold)),
			}),
			b.rule(alert{
				name: "ControlPlaneNoLeader",
				// The exporter computes held against its own clock, so while it cannot
				// reach the API server its frozen Leases all turn 0 once their duration
				// has passed. The rule therefore counts only while the exporter's last
				// successful API call, as of its last scrape, is at most half the "for"
				// old: a longer outage ends the alert (StatefulSetExporterAPIUnreachable
				// takes over) before a frozen Lease could fire it, while a shorter blip
				// neither fires it nor resolves one that fires. The "for" also covers
				// the seconds the lease watch needs to catch up after an outage. held is
				// good: min across fresh replicas, and a replica whose probe fails (its
				// frozen Leases turn 0) is left out while another one is fresh.
				expr: fmt.Sprintf(`
					min by (<c,>namespace, lease) (statefulset_control_plane_lease_held{<l>} <only-fresh>) == 0
					and on (<c>)
					(
					  min<by-c> (
					    timestamp(statefulset_exporter_api_last_success_timestamp_seconds{<x>})
					    - statefulset_exporter_api_last_success_timestamp_seconds{<x>}
					    <only-fresh>
					  ) <= %s
					)`,
					seconds(c.NoLeaderFor/2)),
				for_:       c.NoLeaderFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "Control-plane component has no leader.",
				description: fmt.Sprintf(`
					Leader-election lease {{ $labels.namespace }}/{{ $labels.lease }}<where> has had no live holder for %s: it has no holder, or its holder has not renewed it within its duration`,
					dur(c.NoLeaderFor)) +
					b.lookup(`topk(1, max by (holder) (max_over_time(timestamp(statefulset_control_plane_lease_holder_info{})[1h:1m])))`,
						[]string{"namespace", "lease"},
						`; its last holder was {{ . | first | label "holder" }}`) +
					". No instance of the component is leading and no standby took over: nothing it does happens until someone restores it.",
			}),
		},
	}
}
