package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// overview is the fleet view: every StatefulSet the variables select, healthy or not.
func overview(cfg mixin.Config, _ map[string]string) *dashboard.DashboardBuilder {
	s := scope{cfg: cfg, multi: true}
	return newDashboard("StatefulSets / Fleet overview", overviewUID,
		"Health of every StatefulSet: readiness, rollouts, storage, zones and high-availability risks. "+
			"Click a StatefulSet to open its detail dashboard.").
		Variables(workloadVariables(s)).
		WithRow(dashboard.NewRowBuilder("Summary")).
		WithPanel(statefulSetsStat(s)).
		WithPanel(unhealthyStat(s)).
		WithPanel(stalledRolloutsStat(s)).
		WithPanel(pendingPVCsStat(s)).
		WithPanel(zoneMismatchStat(s)).
		WithPanel(attachErrorsStat(s)).
		WithPanel(stuckTerminatingStat(s)).
		WithPanel(haRiskStat(s)).
		WithRow(dashboard.NewRowBuilder("StatefulSets")).
		WithPanel(statefulSetsTable(s)).
		WithPanel(blockedRolloutsTable(s)).
		WithPanel(haRisksTable(s)).
		WithRow(dashboard.NewRowBuilder("Trends")).
		WithPanel(notReadyReplicasTimeseries(s)).
		WithPanel(fleetRestartsTimeseries(s))
}

// countOrZero counts the series of expr, and yields 0 rather than nothing when there are
// none while the exporter reports StatefulSets: "no data" then keeps meaning that the
// exporter's series are missing.
func countOrZero(s scope, expr string) string {
	return fmt.Sprintf("count(%s) or 0 * count(statefulset_info%s)", expr, s.workload())
}

// legend names one StatefulSet in a series legend.
func (s scope) legend() string {
	if s.cfg.MultiCluster {
		return fmt.Sprintf("{{%s}}/{{namespace}}/{{statefulset}}", s.cfg.ClusterLabel)
	}
	return "{{namespace}}/{{statefulset}}"
}

// detailLink opens the StatefulSet dashboard for a row of a table that has the namespace and
// statefulset columns (and the cluster column in multi-cluster setups).
func detailLink(s scope) dashboard.DynamicConfigValue {
	url := "/d/" + statefulSetUID + "?${__url_time_range}&${datasource:queryparam}"
	if s.cfg.MultiCluster {
		url += fmt.Sprintf("&var-cluster=${__data.fields.%s}", s.cfg.ClusterLabel)
	}
	url += "&var-namespace=${__data.fields.namespace}&var-statefulset=${__data.fields.statefulset}"
	return link("Open StatefulSet ${__data.fields.namespace}/${__data.fields.statefulset}", url)
}

func statefulSetsStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Title("StatefulSets").
		Description("StatefulSets selected by the variables.").
		WithTarget(instantQuery(fmt.Sprintf("count(max by (%s) (statefulset_info%s))", s.perStatefulSet(), s.workload()))).
		Unit("short").
		Decimals(0).
		ColorMode(common.BigValueColorModeNone).
		Thresholds(steps(colorNeutral))
}

func unhealthyStat(s scope) *stat.PanelBuilder {
	by := s.perStatefulSet()
	return countStat("Unhealthy",
		"StatefulSets with fewer Ready replicas than desired, or whose rollout is stalled.",
		countOrZero(s, fmt.Sprintf(
			"max by (%s) (statefulset_ready_ratio%s) < 1 or max by (%s) (statefulset_rollout_stalled%s) == 1",
			by, s.workload(), by, s.workload()))).
		Links(runbooks(s.cfg, "StatefulSetNoReplicasReady", "StatefulSetReplicasNotReady", "StatefulSetRolloutStalled"))
}

func stalledRolloutsStat(s scope) *stat.PanelBuilder {
	return countStat("Stalled rollouts",
		"StatefulSets whose rollout has not moved for the exporter's --rollout.stall-after.",
		fmt.Sprintf("sum(max by (%s) (statefulset_rollout_stalled%s))", s.perStatefulSet(), s.workload())).
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled"))
}

func pendingPVCsStat(s scope) *stat.PanelBuilder {
	return countStat("Pending PVCs",
		"PersistentVolumeClaims of the StatefulSets that are not bound yet.",
		// Absent, not 0, while no claim is Pending.
		fmt.Sprintf("sum(max by (%s) (statefulset_pvcs%s)) or 0 * count(statefulset_info%s)",
			s.perStatefulSet(), s.workload(`phase="Pending"`), s.workload())).
		Links(runbooks(s.cfg, "StatefulSetPVCPending"))
}

func zoneMismatchStat(s scope) *stat.PanelBuilder {
	return countStat("Volume zone mismatches",
		"Pods running on a node outside the zone(s) of their zone-pinned volume (for example an EBS volume).",
		countOrZero(s, fmt.Sprintf("max by (%s) (statefulset_pod_volume_zone_mismatch_info%s)",
			s.perStatefulSet("pod", "persistentvolumeclaim"), s.workload()))).
		Links(runbooks(s.cfg, "StatefulSetVolumeZoneMismatch"))
}

func attachErrorsStat(s scope) *stat.PanelBuilder {
	return countStat("Volume attach errors",
		"VolumeAttachments of the StatefulSets' volumes failing to attach or detach. "+
			"No data when the exporter does not watch VolumeAttachments.",
		attachErrorCount(s, s.perStatefulSet())).
		Links(runbooks(s.cfg, "StatefulSetVolumeAttachError"))
}

func stuckTerminatingStat(s scope) *stat.PanelBuilder {
	return countStat("Pods stuck terminating",
		"Pods deleted longer ago than their grace period plus the exporter's --terminating.stuck-after. "+
			"A StatefulSet does not replace such a pod until it is gone.",
		countOrZero(s, fmt.Sprintf("max by (%s) (statefulset_pod_stuck_terminating_info%s) == 1",
			s.perStatefulSet("pod"), s.workload()))).
		Links(runbooks(s.cfg, "StatefulSetPodStuckTerminating"))
}

func haRiskStat(s scope) *stat.PanelBuilder {
	return countStat("At HA risk",
		"StatefulSets with at least one high-availability risk: a single replica, no PodDisruptionBudget, "+
			"all Ready pods in one zone, a zero termination grace period, no readiness probe, a missing or "+
			"non-headless governing Service, or a claim retention policy that deletes volumes.",
		countOrZero(s, fmt.Sprintf("max by (%s) (statefulset_ha_risk_info%s)", s.perStatefulSet(), s.workload()))).
		Thresholds(steps(colorOK, step{1, colorWarning}))
}

// statefulSetsTable has one row per StatefulSet, least ready first.
func statefulSetsTable(s scope) *table.PanelBuilder {
	by, sel := s.perStatefulSet(), s.workload()
	perSts := func(metric string) string { return fmt.Sprintf("max by (%s) (%s%s)", by, metric, sel) }
	columns := append(s.clusterLabels(), "namespace", "statefulset",
		"Value #A", "Value #B", "Value #C", "Value #D", "Value #E", "Value #F", "Value #G", "Value #H")

	p := tableOf(columns...).
		Title("StatefulSets").
		Description("Every selected StatefulSet, least ready first. Rollout is Idle, In progress or Stalled; "+
			"HA risks counts the risks that apply (see the HA risks table). Click a name for details.").
		Height(12).
		WithTarget(tableQuery(perSts("statefulset_replicas_desired"), "A")).
		WithTarget(tableQuery(perSts("statefulset_replicas_ready"), "B")).
		WithTarget(tableQuery(perSts("statefulset_ready_ratio"), "C")).
		WithTarget(tableQuery(perSts("statefulset_replicas_updated"), "D")).
		WithTarget(tableQuery(perSts("statefulset_rollout_in_progress")+" + "+perSts("statefulset_rollout_stalled"), "E")).
		WithTarget(tableQuery(fmt.Sprintf("max by (%s) (statefulset_pvcs%s)", by, s.workload(`phase="Pending"`)), "F")).
		// A StatefulSet without risks has no risk series: 0 from statefulset_info, always there.
		WithTarget(tableQuery(fmt.Sprintf("sum by (%[1]s) (max by (%[2]s) (statefulset_ha_risk_info%[3]s)) or 0 * %[4]s",
			by, s.perStatefulSet("risk"), sel, perSts("statefulset_info")), "G")).
		WithTarget(tableQuery(fmt.Sprintf("max by (%s) (increase(statefulset_container_restarts_total%s[$__range]))", by, sel), "H")).
		SortBy(sortBy("Ready ratio", false)).
		OverrideByName("statefulset", []dashboard.DynamicConfigValue{displayName("StatefulSet"), detailLink(s)}).
		OverrideByName("Value #A", []dashboard.DynamicConfigValue{displayName("Desired"), decimals(0), width(90)}).
		OverrideByName("Value #B", []dashboard.DynamicConfigValue{displayName("Ready"), decimals(0), width(90)}).
		OverrideByName("Value #C", []dashboard.DynamicConfigValue{
			displayName("Ready ratio"), unit("percentunit"), minValue(0), maxValue(1), gaugeCell(),
			thresholds(steps(colorBad, step{0.5, colorWarning}, step{1, colorOK})),
		}).
		OverrideByName("Value #D", []dashboard.DynamicConfigValue{displayName("Updated"), decimals(0), width(90)}).
		OverrideByName("Value #E", []dashboard.DynamicConfigValue{displayName("Rollout"), mappings(rolloutStates...), colorText(), width(120)}).
		OverrideByName("Value #F", []dashboard.DynamicConfigValue{
			displayName("Pending PVCs"), decimals(0), colorText(), thresholds(steps(colorOK, step{1, colorBad})), width(120),
		}).
		OverrideByName("Value #G", []dashboard.DynamicConfigValue{
			displayName("HA risks"), decimals(0), colorText(), thresholds(steps(colorOK, step{1, colorWarning})), width(100),
		}).
		OverrideByName("Value #H", []dashboard.DynamicConfigValue{
			displayName("Restarts"), decimals(0), colorText(), thresholds(steps(colorOK, step{1, colorWarning})), width(100),
		})
	return labelColumns(p, s, map[string]string{"namespace": "Namespace"})
}

func blockedRolloutsTable(s scope) *table.PanelBuilder {
	p := tableOf(append(s.clusterLabels(), "namespace", "statefulset", "pod", "reason")...).
		Title("Blocked rollouts").
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled")).
		Description("The pod each rollout in progress waits on, and why.").
		Span(12).
		WithTarget(tableQuery(fmt.Sprintf("max by (%s) (statefulset_rollout_blocking_pod_info%s)",
			s.perStatefulSet("pod", "reason"), s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("statefulset", []dashboard.DynamicConfigValue{displayName("StatefulSet"), detailLink(s)})
	return labelColumns(p, s, map[string]string{"namespace": "Namespace", "pod": "Blocking pod", "reason": "Reason"})
}

func haRisksTable(s scope) *table.PanelBuilder {
	p := tableOf(append(s.clusterLabels(), "namespace", "statefulset", "risk")...).
		Title("HA risks").
		Description(riskLegend).
		Span(12).
		WithTarget(tableQuery(fmt.Sprintf("max by (%s) (statefulset_ha_risk_info%s)",
			s.perStatefulSet("risk"), s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("statefulset", []dashboard.DynamicConfigValue{displayName("StatefulSet"), detailLink(s)})
	return labelColumns(p, s, map[string]string{"namespace": "Namespace", "risk": "Risk"})
}

func notReadyReplicasTimeseries(s scope) *timeseries.PanelBuilder {
	by, sel := s.perStatefulSet(), s.workload()
	return defaultTimeseries().
		Title("Replicas not ready").
		Links(runbooks(s.cfg, "StatefulSetReplicasNotReady")).
		Description("Desired replicas that are not Ready, per StatefulSet.").
		WithTarget(timeseriesQuery(fmt.Sprintf(
			"max by (%s) (statefulset_replicas_desired%s) - max by (%s) (statefulset_replicas_ready%s) > 0",
			by, sel, by, sel), s.legend())).
		Unit("short").
		Decimals(0).
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter)
}

func fleetRestartsTimeseries(s scope) *timeseries.PanelBuilder {
	return thresholdLine(defaultTimeseries(), restartsAlertRate(s.cfg)).
		Title("Container restarts (top 10)").
		Links(runbooks(s.cfg, "StatefulSetContainerRestarting")).
		Description("Container restart rate of the ten StatefulSets restarting most. " +
			"The dashed line is the rate at which a single container reaches the restart alert (StatefulSetContainerRestarting).").
		WithTarget(timeseriesQuery(fmt.Sprintf("topk(10, %s > 0)", restartRate(s)), s.legend())).
		Unit(restartRateUnit).
		Min(0)
}
