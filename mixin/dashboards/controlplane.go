package dashboards

import (
	"fmt"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/prometheus/common/model"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// controlPlane shows the control plane's leader elections as the exporter sees them, and
// the exporter's own view of the API server: whether the other dashboards can be trusted.
func controlPlane(cfg mixin.Config, _ map[string]string) *dashboard.DashboardBuilder {
	s := scope{cfg: cfg, multi: true}
	vars := []cog.Builder[dashboard.VariableModel]{datasourceVariable()}
	if cfg.MultiCluster {
		vars = append(vars, clusterVariable(s))
	}
	vars = append(vars, queryVariable("lease", "Lease",
		labelValues("statefulset_control_plane_lease_transitions_total", s.exporter(cfg.LeaseSelector), "lease"), true, ".+"))

	return newDashboard("StatefulSets / Control plane and exporter", controlPlaneUID,
		"Control-plane leader election (Leases) and the exporter's connection to the API server. "+
			"While the API server is unreachable the exporter serves the last state it saw.").
		Variables(vars).
		WithRow(dashboard.NewRowBuilder("Exporter")).
		WithPanel(apiReachableStat(s)).
		WithPanel(lastProbeStat(s)).
		WithPanel(cachesSyncedStat(s)).
		WithPanel(apiErrorsStat(s)).
		WithPanel(collectDurationStat(s)).
		WithPanel(versionStat(s)).
		WithPanel(apiReachabilityTimeline(s)).
		WithPanel(apiErrorsTimeseries(s)).
		WithPanel(lastProbeTimeseries(s)).
		WithPanel(watchedResourcesTable(s)).
		WithPanel(lastEventTimeseries(s)).
		WithPanel(collectDurationTimeseries(s)).
		WithRow(dashboard.NewRowBuilder("Control-plane leader election")).
		WithPanel(leaderPresentTimeline(s)).
		WithPanel(leasesTable(s)).
		WithPanel(leaderTransitionsTimeseries(s)).
		WithPanel(leaseRenewAgeTimeseries(s)).
		WithPanel(leaseHoldersTimeline(s))
}

// promDuration formats d as a PromQL duration.
func promDuration(d time.Duration) string {
	return model.Duration(d).String()
}

// lease is the selector of the Lease series the lease variable picks, among the Leases of
// Config.LeaseSelector (the control-plane components' leader-election Leases by default).
func (s scope) lease() string {
	return s.exporter(s.cfg.LeaseSelector, s.match("lease", "lease"))
}

// exporterLegend names one exporter instance in a legend.
func (s scope) exporterLegend() string {
	if s.cfg.MultiCluster {
		return fmt.Sprintf("{{%s}}/{{instance}}", s.cfg.ClusterLabel)
	}
	return "{{instance}}"
}

func (s scope) leaseLegend() string {
	if s.cfg.MultiCluster {
		return fmt.Sprintf("{{%s}}/{{namespace}}/{{lease}}", s.cfg.ClusterLabel)
	}
	return "{{namespace}}/{{lease}}"
}

var reachableStates = []state{
	{"0", "Unreachable", colorBad},
	{"1", "Reachable", colorOK},
}

func apiReachableStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("API server").
		Links(runbooks(s.cfg, "StatefulSetExporterAPIUnreachable")).
		Description("Whether the exporter's last API probe (/version) succeeded; the worst of the selected exporters.").
		WithTarget(instantQuery(fmt.Sprintf("min(statefulset_exporter_api_reachable%s)", s.exporter()))).
		Mappings(stateMappings(reachableStates...))
}

func lastProbeStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Last successful API probe").
		Links(runbooks(s.cfg, "StatefulSetExporterAPIUnreachable")).
		Description(fmt.Sprintf("Time since the exporter last reached the API server. Red past %s, "+
			"longer than a normal control-plane failover.", s.cfg.APIUnreachableFor)).
		WithTarget(instantQuery(fmt.Sprintf("time() - min(statefulset_exporter_api_last_success_timestamp_seconds%s)", s.exporter()))).
		Unit("s").
		Decimals(0).
		Thresholds(steps(colorOK, step{s.cfg.APIUnreachableFor.Seconds(), colorBad}))
}

// enabledResources keeps the series of resources the exporter watches.
func enabledResources(s scope, metric string) string {
	by := s.by("resource")
	return fmt.Sprintf("max by (%s) (%s%s) and on (%s) max by (%s) (statefulset_exporter_resource_enabled%s) == 1",
		by, metric, s.exporter(), by, by, s.exporter())
}

func cachesSyncedStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Informer caches").
		Links(runbooks(s.cfg, "StatefulSetExporterResourceFailing", "StatefulSetExporterResourceDisabled")).
		Description("Whether the informer of every watched resource has completed its first list.").
		WithTarget(instantQuery(fmt.Sprintf("min(%s)", enabledResources(s, "statefulset_exporter_cache_synced")))).
		Mappings(stateMappings(state{"0", "Not synced", colorBad}, state{"1", "Synced", colorOK}))
}

func apiErrorsStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("API errors").
		Links(runbooks(s.cfg, "StatefulSetExporterResourceFailing")).
		Description("Failed list/watch calls and API probes over the dashboard's time range.").
		WithTarget(instantQuery(fmt.Sprintf("sum(increase(statefulset_exporter_api_errors_total%s[$__range]))", s.exporter()))).
		Unit("short").
		Decimals(0).
		Thresholds(steps(colorOK, step{1, colorWarning}))
}

func collectDurationStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Collect duration").
		Description("Time the last collection of the derived metrics took; the slowest selected exporter.").
		WithTarget(instantQuery(fmt.Sprintf("max(statefulset_exporter_collect_duration_seconds%s)", s.exporter()))).
		Unit("s").
		ColorMode(common.BigValueColorModeNone)
}

func versionStat(s scope) *stat.PanelBuilder {
	return defaultStat().
		Span(4).
		Title("Exporter version").
		Links(runbooks(s.cfg, "StatefulSetExporterAbsent")).
		WithTarget(instantQuery(fmt.Sprintf("count by (version) (statefulset_exporter_build_info%s)", s.exporter())).
			LegendFormat("{{version}}")).
		TextMode(common.BigValueTextModeName).
		ColorMode(common.BigValueColorModeNone)
}

func apiReachabilityTimeline(s scope) *statetimeline.PanelBuilder {
	return defaultStateTimeline().
		Height(5).
		Title("API server reachability").
		Links(runbooks(s.cfg, "StatefulSetExporterAPIUnreachable")).
		Description("Result of the exporter's API probes over time, per exporter.").
		WithTarget(timeseriesQuery(fmt.Sprintf("min by (%s) (statefulset_exporter_api_reachable%s)", s.by("instance"), s.exporter()),
			s.exporterLegend())).
		Mappings(stateMappings(reachableStates...)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(steps(colorBad, step{1, colorOK}))
}

func apiErrorsTimeseries(s scope) *timeseries.PanelBuilder {
	return stackedTimeseries().
		Title("API errors by resource and reason").
		Links(runbooks(s.cfg, "StatefulSetExporterResourceFailing")).
		Description("Failed list/watch calls per watched resource, and failed probes (resource=\"probe\"), per second.").
		WithTarget(timeseriesQuery(fmt.Sprintf("sum by (%s) (rate(statefulset_exporter_api_errors_total%s[$__rate_interval]))",
			s.by("resource", "reason"), s.exporter()), "{{resource}}: {{reason}}")).
		Unit("cps")
}

func lastProbeTimeseries(s scope) *timeseries.PanelBuilder {
	return thresholdLine(defaultTimeseries(), s.cfg.APIUnreachableFor.Seconds()).
		Title("Time since last successful API probe").
		Links(runbooks(s.cfg, "StatefulSetExporterAPIUnreachable")).
		Description("The dashed line is the API-unreachable alert's duration.").
		WithTarget(timeseriesQuery(fmt.Sprintf("time() - max by (%s) (statefulset_exporter_api_last_success_timestamp_seconds%s)",
			s.by("instance"), s.exporter()), s.exporterLegend())).
		Unit("s").
		Min(0)
}

func watchedResourcesTable(s scope) *table.PanelBuilder {
	by := s.by("resource")
	p := tableOf(append(s.clusterLabels(), "resource", "Value #A", "Value #B", "Value #C")...).
		Span(12).
		Title("Watched resources").
		Links(runbooks(s.cfg, "StatefulSetExporterResourceFailing", "StatefulSetExporterResourceDisabled")).
		Description("Whether each resource is watched (optional kinds are switched off when RBAC forbids them), "+
			"whether its cache has synced, and the time since its last add/update/delete event.").
		WithTarget(tableQuery(fmt.Sprintf("max by (%s) (statefulset_exporter_resource_enabled%s)", by, s.exporter()), "A")).
		WithTarget(tableQuery(fmt.Sprintf("min by (%s) (statefulset_exporter_cache_synced%s)", by, s.exporter()), "B")).
		WithTarget(tableQuery(fmt.Sprintf("time() - max by (%s) (statefulset_exporter_last_event_timestamp_seconds%s)", by, s.exporter()), "C")).
		OverrideByName("resource", []dashboard.DynamicConfigValue{displayName("Resource")}).
		OverrideByName("Value #A", []dashboard.DynamicConfigValue{
			displayName("Watched"), colorText(),
			mappings(state{"0", "Off (RBAC)", colorWarning}, state{"1", "Yes", colorOK}),
		}).
		OverrideByName("Value #B", []dashboard.DynamicConfigValue{
			displayName("Cache"), colorText(),
			mappings(state{"0", "Not synced", colorBad}, state{"1", "Synced", colorOK}),
		}).
		OverrideByName("Value #C", []dashboard.DynamicConfigValue{displayName("Last event"), unit("s"), decimals(0)})
	return labelColumns(p, s, nil)
}

func lastEventTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Span(6).
		Title("Time since last watch event").
		Description("Per resource. Quiet resources legitimately go long without events; " +
			"all resources going quiet together suggests broken watches.").
		WithTarget(timeseriesQuery(fmt.Sprintf("time() - max by (%s) (statefulset_exporter_last_event_timestamp_seconds%s)",
			s.by("resource"), s.exporter()), "{{resource}}")).
		Unit("s").
		Min(0)
}

func collectDurationTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Span(6).
		Title("Collect duration").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (%s) (statefulset_exporter_collect_duration_seconds%s)",
			s.by("instance"), s.exporter()), s.exporterLegend())).
		Unit("s").
		Min(0)
}

var leaderStates = []state{
	{"0", "No leader", colorBad},
	{"1", "Leader", colorOK},
}

// leaderPresentTimeline shows, per lease, whether it has a live holder, Leases without a
// holder included (the table below lists only held ones).
func leaderPresentTimeline(s scope) *statetimeline.PanelBuilder {
	return defaultStateTimeline().
		Title("Leader present").
		Links(runbooks(s.cfg, "ControlPlaneNoLeader")).
		Description(fmt.Sprintf("Whether each control-plane lease has a holder that renewed it within its duration, "+
			"by the exporter's clock (statefulset_control_plane_lease_held); the best of the selected exporters. "+
			"While the exporter cannot reach the API server every lease turns to No leader once its duration has passed. "+
			"The no-leader alert fires after %s of No leader while the exporter reaches the API server.", s.cfg.NoLeaderFor)).
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (%s) (statefulset_control_plane_lease_held%s)",
			s.by("namespace", "lease"), s.lease()), s.leaseLegend())).
		Mappings(stateMappings(leaderStates...)).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(steps(colorBad, step{1, colorOK}))
}

// withHolder adds the current holder label of each lease to expr, an expression with one
// series per lease. Leases without a holder drop out.
func withHolder(s scope, expr string) string {
	by := s.by("namespace", "lease")
	return fmt.Sprintf("%s * on (%s) group_left (holder) max by (%s) (statefulset_control_plane_lease_holder_info%s)",
		expr, by, s.by("namespace", "lease", "holder"), s.lease())
}

func leasesTable(s scope) *table.PanelBuilder {
	by := s.by("namespace", "lease")
	perLease := func(metric string) string { return fmt.Sprintf("max by (%s) (%s%s)", by, metric, s.lease()) }
	window := promDuration(s.cfg.LeaderChangesWindow)
	p := tableOf(append(s.clusterLabels(), "namespace", "lease", "holder", "Value #A", "Value #B", "Value #C", "Value #D")...).
		Title("Lease holders").
		Links(runbooks(s.cfg, "ControlPlaneNoLeader")).
		Description(fmt.Sprintf("Current holder of each control-plane lease (the per-process suffix is dropped), "+
			"how long it has held the lease, when it last renewed it, and the holder changes in the last %s "+
			"(red from %d, when the leader-changes alert fires). Leases without a holder are not listed.",
			window, s.cfg.LeaderChangesThreshold)).
		WithTarget(tableQuery(withHolder(s, "(time() - "+perLease("statefulset_control_plane_lease_last_transition_timestamp_seconds")+")"), "A")).
		WithTarget(tableQuery(withHolder(s, "(time() - "+perLease("statefulset_control_plane_lease_renew_timestamp_seconds")+")"), "B")).
		WithTarget(tableQuery(withHolder(s, perLease("statefulset_control_plane_lease_duration_seconds")), "C")).
		WithTarget(tableQuery(withHolder(s, fmt.Sprintf("max by (%s) (increase(statefulset_control_plane_lease_transitions_total%s[%s]))",
			by, s.lease(), window)), "D")).
		OverrideByName("namespace", []dashboard.DynamicConfigValue{displayName("Namespace")}).
		OverrideByName("lease", []dashboard.DynamicConfigValue{displayName("Lease")}).
		OverrideByName("holder", []dashboard.DynamicConfigValue{displayName("Holder")}).
		OverrideByName("Value #A", []dashboard.DynamicConfigValue{displayName("Held for"), unit("s"), decimals(0)}).
		OverrideByName("Value #B", []dashboard.DynamicConfigValue{displayName("Renewed"), unit("s"), decimals(0)}).
		OverrideByName("Value #C", []dashboard.DynamicConfigValue{displayName("Lease duration"), unit("s"), decimals(0)}).
		OverrideByName("Value #D", []dashboard.DynamicConfigValue{
			displayName("Changes (" + window + ")"), decimals(0), colorText(),
			thresholds(steps(colorOK, step{1, colorWarning}, step{float64(s.cfg.LeaderChangesThreshold), colorBad})),
		})
	return labelColumns(p, s, nil)
}

func leaderTransitionsTimeseries(s scope) *timeseries.PanelBuilder {
	window := promDuration(s.cfg.LeaderChangesWindow)
	return thresholdLine(defaultTimeseries(), float64(s.cfg.LeaderChangesThreshold)).
		Title("Leader changes").
		Links(runbooks(s.cfg, "ControlPlaneLeaderFlapping")).
		Description(fmt.Sprintf("Holder changes of each lease within %s. The dashed line is the leader-changes alert threshold; "+
			"a failover on EKS normally shows as one or two changes.", window)).
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (%s) (increase(statefulset_control_plane_lease_transitions_total%s[%s]))",
			s.by("namespace", "lease"), s.lease(), window), s.leaseLegend())).
		Unit("short").
		Min(0)
}

func leaseRenewAgeTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Title("Time since lease renewal").
		Links(runbooks(s.cfg, "ControlPlaneNoLeader")).
		Description("A healthy leader renews every few seconds; past the lease duration (15s for the " +
			"Kubernetes components) the lease has no leader, see \"Leader present\".").
		WithTarget(timeseriesQuery(fmt.Sprintf("time() - max by (%s) (statefulset_control_plane_lease_renew_timestamp_seconds%s)",
			s.by("namespace", "lease"), s.lease()), s.leaseLegend())).
		Unit("s").
		Min(0)
}

func leaseHoldersTimeline(s scope) *statetimeline.PanelBuilder {
	legend := "{{lease}}: {{holder}}"
	if s.cfg.MultiCluster {
		legend = fmt.Sprintf("{{%s}}/{{lease}}: {{holder}}", s.cfg.ClusterLabel)
	}
	return defaultStateTimeline().
		Height(8).
		Title("Lease holders over time").
		Description("One row per lease and holder, filled while that holder holds the lease.").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (%s) (statefulset_control_plane_lease_holder_info%s)",
			s.by("namespace", "lease", "holder"), s.lease()), legend)).
		Mappings(stateMappings(state{"1", "Holder", colorInfo})).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(false))
}
