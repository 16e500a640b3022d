package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// haRisks are the values of statefulset_ha_risk's risk label, one alert each, so that
// every risk has its own runbook section.
var haRisks = []struct {
	risk, name, summary, consequence string
}{
	{"singleton", "StatefulSetSingleReplica",
		"StatefulSet runs a single replica.",
		"runs a single replica: any pod restart, node drain or zone outage takes it offline"},
	{"no_pdb", "StatefulSetNoPodDisruptionBudget",
		"StatefulSet has no PodDisruptionBudget.",
		"has no PodDisruptionBudget: a node drain (node group upgrade, Karpenter consolidation) may evict several replicas at once"},
	{"single_zone", "StatefulSetSingleZone",
		"StatefulSet runs all Ready replicas in one zone.",
		"runs all its Ready replicas in one availability zone: an outage of that zone takes every replica down"},
	{"zero_grace_period", "StatefulSetZeroTerminationGracePeriod",
		"StatefulSet pods have no termination grace period.",
		"sets terminationGracePeriodSeconds to 0: its pods are killed without a chance to shut down cleanly"},
	{"no_readiness_probe", "StatefulSetNoReadinessProbe",
		"StatefulSet pods have no readiness probe.",
		"has a container without a readiness probe: pods count as Ready as soon as they start, so rollouts and disruption budgets move on before the application serves"},
}

// haGroup holds the high-availability posture alerts: severity info, never paged, with a
// long "for" so that a rollout or a drain that briefly creates the risk stays quiet.
func haGroup(b *builder) rulefmt.RuleGroup {
	g := rulefmt.RuleGroup{Name: "statefulset-ha-posture"}
	for _, r := range haRisks {
		g.Rules = append(g.Rules, b.rule(alert{
			name:     r.name,
			expr:     fmt.Sprintf(`max by (<sts>) (statefulset_ha_risk{<w>, risk=%q}) == 1`, r.risk),
			for_:     b.cfg.HAPostureFor,
			severity: severityInfo,
			summary:  r.summary,
			description: fmt.Sprintf(`
				StatefulSet <ref><where> %s.`, r.consequence),
		}))
	}
	return g
}
