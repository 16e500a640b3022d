package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// haRisks are the values of statefulset_ha_risk_info's risk label, one alert each, so
// that every risk has its own runbook section. A risk is a fact of the spec that makes
// the next failure or routine operation hurt more than it should: nothing is broken yet,
// so none is critical. The governing Service ones are warnings: the pods have already
// lost their stable DNS names, which peers and clients of a StatefulSet usually rely on.
var haRisks = []struct {
	risk, name, severity, summary, consequence string
}{
	{"singleton", "StatefulSetSingleReplica", severityInfo,
		"StatefulSet runs a single replica.",
		"runs a single replica: any pod restart, node drain or zone outage takes it offline"},
	{"no_pdb", "StatefulSetNoPodDisruptionBudget", severityInfo,
		"StatefulSet has no PodDisruptionBudget.",
		"has no PodDisruptionBudget: a node drain (node group upgrade, Karpenter consolidation) may evict several replicas at once"},
	{"single_zone", "StatefulSetSingleZone", severityInfo,
		"StatefulSet runs all Ready replicas in one zone.",
		"runs all its Ready replicas in one availability zone: an outage of that zone takes every replica down"},
	{"zero_grace_period", "StatefulSetZeroTerminationGracePeriod", severityInfo,
		"StatefulSet pods have no termination grace period.",
		"sets terminationGracePeriodSeconds to 0: its pods are killed without a chance to shut down cleanly"},
	{"no_readiness_probe", "StatefulSetNoReadinessProbe", severityInfo,
		"StatefulSet pods have no readiness probe.",
		"has a container without a readiness probe: pods count as Ready as soon as they start, so rollouts and disruption budgets move on before the application serves"},
	{"no_governing_service", "StatefulSetGoverningServiceMissing", severityWarning,
		"StatefulSet has no governing Service.",
		"has no Service named by spec.serviceName in its namespace: its pods have no stable DNS names, so peers and clients that address replicas by name cannot find them"},
	{"governing_service_not_headless", "StatefulSetGoverningServiceNotHeadless", severityWarning,
		"StatefulSet's governing Service is not headless.",
		"has a governing Service (spec.serviceName) that is not headless (clusterIP is not None): cluster DNS publishes no per-pod names for it, so peers and clients that address replicas by name cannot find them"},
	{"claims_deleted_on_scale_down", "StatefulSetClaimsDeletedOnScaleDown", severityInfo,
		"StatefulSet deletes its volume claims on scale-down.",
		"sets persistentVolumeClaimRetentionPolicy.whenScaled to Delete: a routine scale-down deletes the claims, and usually the volumes, of the removed replicas"},
	{"claims_deleted_with_statefulset", "StatefulSetClaimsDeletedWithStatefulSet", severityInfo,
		"StatefulSet deletes its volume claims when it is deleted.",
		"sets persistentVolumeClaimRetentionPolicy.whenDeleted to Delete: deleting the StatefulSet (an uninstall, a re-create, a mistake) deletes every claim, and usually every volume, with it"},
}

// haGroup holds the high-availability posture alerts: info or warning, never paged,
// with a long "for" so that a rollout, a drain or a re-deploy that briefly creates the
// risk stays quiet. A risk that does not apply has no series.
func haGroup(b *builder) rulefmt.RuleGroup {
	g := rulefmt.RuleGroup{Name: "statefulset-ha-posture"}
	for _, r := range haRisks {
		g.Rules = append(g.Rules, b.rule(alert{
			name:     r.name,
			expr:     fmt.Sprintf(`max by (<sts>) (statefulset_ha_risk_info{<w>, risk=%q} <only-fresh>)`, r.risk),
			for_:     b.cfg.HAPostureFor,
			severity: r.severity,
			summary:  r.summary,
			description: fmt.Sprintf(`
				StatefulSet <ref><where> %s.`, r.consequence),
		}))
	}
	return g
}
