package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func rolloutStateTimeline(s scope) *statetimeline.PanelBuilder {
	return defaultStateTimeline().
		Height(4).
		Title("Rollout state").
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled")).
		Description("Idle, In progress or Stalled over time.").
		WithTarget(timeseriesQuery(rolloutState(s), "rollout")).
		Mappings(stateMappings(rolloutStates...)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(steps(colorOK, step{1, colorInfo}, step{2, colorBad})).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(false))
}

func lastProgressStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(6).
		Title("Rollout last progressed").
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled")).
		Description("Time since the exporter last saw the rollout move (a new update revision, changed replica counts, " +
			"observed generation or set of Ready updated pods). While a rollout is in progress a large value means it is stuck.").
		WithTarget(instantQuery("time() - " + s.one("statefulset_rollout_last_progress_timestamp_seconds"))).
		Unit("s").
		Decimals(0).
		ColorMode(common.BigValueColorModeNone)
}

func outdatedPodsStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(6).
		Title("Outdated pods").
		Description("Pods not on the update revision. With OnDelete they stay until you delete them; " +
			"with a partition, pods below it stay outdated on purpose.").
		WithTarget(instantQuery(s.one("statefulset_pods_outdated"))).
		Unit("short").
		Decimals(0).
		Thresholds(steps(colorOK, step{1, colorWarning}))
}

func generationLagStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(6).
		Title("Generation lag").
		Links(runbooks(s.cfg, "StatefulSetGenerationNotObserved")).
		Description("Spec changes the StatefulSet controller has not acted on yet (generation - observedGeneration).").
		WithTarget(instantQuery(s.one("statefulset_generation_lag"))).
		Unit("short").
		Decimals(0).
		Thresholds(steps(colorOK, step{1, colorWarning}))
}

func partitionStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(6).
		Title("Partition").
		Description("RollingUpdate partition: only ordinals at or above it are updated. No data with OnDelete.").
		WithTarget(instantQuery(s.one("statefulset_rollout_partition"))).
		Unit("short").
		Decimals(0).
		ColorMode(common.BigValueColorModeNone).
		Thresholds(steps(colorNeutral))
}

func rolloutProgressTimeseries(s scope) *timeseries.PanelBuilder {
	return countTimeseries().
		Title("Rollout progress").
		Description("Pods on the update revision against desired replicas, and pods still on an older revision.").
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_desired"), "desired")).
		WithTarget(timeseriesQuery(s.one("statefulset_replicas_updated"), "updated")).
		WithTarget(timeseriesQuery(s.one("statefulset_pods_outdated"), "outdated"))
}

func blockingPodTable(s scope) *table.PanelBuilder {
	return tableOf("pod", "reason").
		Span(12).
		Title("Pod blocking the rollout").
		Links(runbooks(s.cfg, "StatefulSetRolloutStalled")).
		Description("The pod the rollout waits on and why: with OrderedReady the lowest ordinal that is not Ready, "+
			"with Parallel the highest updated ordinal that is not Ready. Empty unless a rollout is in progress and blocked.").
		WithTarget(tableQuery(fmt.Sprintf("max by (pod, reason) (statefulset_rollout_blocking_pod_info%s)", s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Reason")})
}
