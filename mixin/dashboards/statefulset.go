package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// statefulSet is the detail view of the one StatefulSet the variables select.
func statefulSet(cfg mixin.Config, runbookURLs map[string]string) *dashboard.DashboardBuilder {
	s := scope{cfg: cfg, multi: false}
	return newDashboard("StatefulSets / StatefulSet", statefulSetUID,
		"One StatefulSet in detail: its firing alerts, replicas, why pods are not Ready, rollout, volumes, zones and high-availability risks.").
		Link(dashboard.NewDashboardLinkBuilder("Fleet overview").
			Type(dashboard.DashboardLinkTypeLink).
			Url("/d/" + overviewUID).
			Icon("dashboard").
			KeepTime(true),
		).
		Variables(workloadVariables(s)).
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(replicaStat(s, "Desired replicas", "spec.replicas.", "statefulset_replicas_desired")).
		WithPanel(replicaStat(s, "Ready replicas", "status.readyReplicas.", "statefulset_replicas_ready").
			Links(runbooks(cfg, "StatefulSetNoReplicasReady"))).
		WithPanel(readyRatioStat(s)).
		WithPanel(rolloutStateStat(s)).
		WithPanel(updateStrategyStat(s)).
		WithPanel(readyZonesStat(s)).
		WithPanel(firingAlertsTable(s, runbookURLs)).
		WithRow(dashboard.NewRowBuilder("Replicas")).
		WithPanel(replicasTimeseries(s)).
		WithPanel(readyRatioTimeseries(s)).
		WithRow(dashboard.NewRowBuilder("Pods")).
		WithPanel(podsByPhaseTimeseries(s)).
		WithPanel(waitingPodsTimeseries(s)).
		WithPanel(restartsTimeseries(s)).
		WithPanel(podProblemsTimeseries(s)).
		WithPanel(stuckTerminatingTable(s)).
		WithPanel(podsNotReadyTable(s)).
		WithPanel(recentTerminationsTable(s)).
		WithRow(dashboard.NewRowBuilder("Rollout")).
		WithPanel(rolloutStateTimeline(s)).
		WithPanel(lastProgressStat(s)).
		WithPanel(outdatedPodsStat(s)).
		WithPanel(generationLagStat(s)).
		WithPanel(partitionStat(s)).
		WithPanel(rolloutProgressTimeseries(s)).
		WithPanel(blockingPodTable(s)).
		WithRow(dashboard.NewRowBuilder("Persistent volume claims")).
		WithPanel(pvcsByPhaseTimeseries(s)).
		WithPanel(pendingPVCsTable(s)).
		WithPanel(bindDurationTimeseries(s)).
		WithPanel(attachErrorsTimeseries(s)).
		WithPanel(attachErrorsTable(s)).
		WithPanel(storageProblemsTable(s)).
		WithRow(dashboard.NewRowBuilder("Zones and high availability")).
		WithPanel(volumeZonesTable(s)).
		WithPanel(readyPodsPerZoneTimeseries(s)).
		WithPanel(haRiskTable(s).Span(24))
}

// one returns the value of metric for the selected StatefulSet, once even when several
// exporters report it.
func (s scope) one(metric string, extra ...string) string {
	return fmt.Sprintf("max(%s%s)", metric, s.workload(extra...))
}

func replicaStat(s scope, title, description, metric string) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title(title).
		Description(description).
		WithTarget(instantQuery(s.one(metric))).
		Unit("short").
		Decimals(0).
		ColorMode(common.BigValueColorModeNone).
		Thresholds(steps(colorNeutral))
}

func readyRatioStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Ready").
		Links(runbooks(s.cfg, "StatefulSetNoReplicasReady", "StatefulSetReplicasNotReady")).
		Description("Ready replicas over desired replicas; 100% for a StatefulSet scaled to 0.").
		WithTarget(instantQuery(s.one("statefulset_ready_ratio"))).
		Unit("percentunit").
		Decimals(0).
		Min(0).
		Max(1).
		Thresholds(steps(colorBad, step{0.5, colorWarning}, step{1, colorOK}))
}

func rolloutStateStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Rollout").
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled")).
		Description("Idle, In progress (pods in scope not all updated and Ready) or Stalled " +
			"(no progress for the exporter's --rollout.stall-after). Always Idle with the OnDelete strategy.").
		WithTarget(instantQuery(rolloutState(s))).
		Mappings(stateMappings(rolloutStates...))
}

// rolloutState is 0 when idle, 1 while a rollout is in progress and 2 when it is stalled.
func rolloutState(s scope) string {
	return s.one("statefulset_rollout_in_progress") + " + " + s.one("statefulset_rollout_stalled")
}

func updateStrategyStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Strategy").
		Description("Update strategy and pod management policy.").
		WithTarget(instantQuery(fmt.Sprintf("max by (update_strategy, pod_management_policy) (statefulset_info%s)", s.workload())).
			LegendFormat("{{update_strategy}}, {{pod_management_policy}}")).
		TextMode(common.BigValueTextModeName).
		ColorMode(common.BigValueColorModeNone)
}

func readyZonesStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Zones with Ready pods").
		Links(runbooks(s.cfg, "StatefulSetSingleZone")).
		Description("Distinct node zones with a Ready pod. One zone means a zone outage takes the whole StatefulSet down.").
		WithTarget(instantQuery(s.one("statefulset_ready_zones"))).
		Unit("short").
		Decimals(0).
		Thresholds(steps(colorWarning, step{2, colorOK}))
}

func replicasTimeseries(s scope) *timeseries.PanelBuilder {
	return countTimeseries().
		Title("Replicas").
		Links(runbooks(s.cfg, "StatefulSetNoReplicasReady", "StatefulSetReplicasNotReady")).
		Description("Desired (spec.replicas), current (on the current revision), ready, available (ready for minReadySeconds) " +
			"and updated (on the update revision) replicas.").
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_desired"), "desired")).
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_current"), "current")).
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_ready"), "ready")).
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_available"), "available")).
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_updated"), "updated"))
}

func readyRatioTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Title("Ready ratio").
		Links(runbooks(s.cfg, "StatefulSetNoReplicasReady", "StatefulSetReplicasNotReady")).
		Description("Ready replicas over desired replicas.").
		WithTarget(timeseriesQuery(s.one("statefulset_ready_ratio"), "ready")).
		Unit("percentunit").
		Min(0).
		Max(1).
		LineInterpolation(common.LineInterpolationStepAfter).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(steps(colorBad, step{0.5, colorWarning}, step{1, colorOK}))
}
