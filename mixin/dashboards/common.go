package dashboards

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Colours used for states, from Grafana's named palette.
const (
	colorOK      = "green"
	colorInfo    = "blue"
	colorWarning = "orange"
	colorBad     = "red"
	colorNeutral = "text"
)

// Dashboard-wide defaults.
const (
	dashboardTag   = "statefulset-exporter"
	defaultFrom    = "now-3h"
	defaultRefresh = "1m"
)

// datasourceRef points panels, queries and variables at the dashboard's datasource variable.
func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{
		Type: cog.ToPtr("prometheus"),
		Uid:  cog.ToPtr("${datasource}"),
	}
}

// scope builds the label matchers and aggregation labels of one dashboard's queries from the
// mixin configuration and the dashboard's template variables.
type scope struct {
	cfg mixin.Config
	// multi is true when the cluster, namespace and statefulset variables accept several
	// values (and "All"), so they are matched with =~ instead of =.
	multi bool
}

// match returns a matcher of label against the template variable of the same name.
func (s scope) match(label, variable string) string {
	if s.multi {
		return fmt.Sprintf(`%s=~"$%s"`, label, variable)
	}
	return fmt.Sprintf(`%s="$%s"`, label, variable)
}

// clusterMatchers restricts to the exporter's series of the selected cluster(s).
func (s scope) clusterMatchers() []string {
	m := []string{s.cfg.Selector}
	if s.cfg.MultiCluster {
		m = append(m, s.match(s.cfg.ClusterLabel, "cluster"))
	}
	return m
}

// namespaceMatchers adds the configured namespace restriction and the namespace variable.
func (s scope) namespaceMatchers() []string {
	m := s.clusterMatchers()
	if s.cfg.NamespaceSelector != "" {
		m = append(m, s.cfg.NamespaceSelector)
	}
	return append(m, s.match("namespace", "namespace"))
}

// exporter is the selector for the exporter's own and control-plane series.
func (s scope) exporter(extra ...string) string {
	return mixin.Selector(append(s.clusterMatchers(), extra...)...)
}

// workload is the selector for the series of the StatefulSets picked by the variables.
func (s scope) workload(extra ...string) string {
	m := append(s.namespaceMatchers(), s.match("statefulset", "statefulset"))
	return mixin.Selector(append(m, extra...)...)
}

// recorded is the selector for recording-rule series of the StatefulSets picked by the
// variables. The recording rules aggregate by the StatefulSet labels, dropping the target
// labels Config.Selector matches on (job, instance…), so only the variables and the
// namespace restriction apply.
func (s scope) recorded() string {
	var m []string
	if s.cfg.MultiCluster {
		m = append(m, s.match(s.cfg.ClusterLabel, "cluster"))
	}
	if s.cfg.NamespaceSelector != "" {
		m = append(m, s.cfg.NamespaceSelector)
	}
	return mixin.Selector(append(m, s.match("namespace", "namespace"), s.match("statefulset", "statefulset"))...)
}

// alerts is the selector of the firing alerts (Prometheus's ALERTS series) of the
// StatefulSets picked by the variables. Like recording-rule series, alerts keep only the
// labels their rule aggregates by, not the exporter's target labels.
func (s scope) alerts() string {
	var m []string
	if s.cfg.MultiCluster {
		m = append(m, s.match(s.cfg.ClusterLabel, "cluster"))
	}
	if s.cfg.NamespaceSelector != "" {
		m = append(m, s.cfg.NamespaceSelector)
	}
	m = append(m, `alertstate="firing"`, s.match("namespace", "namespace"), s.match("statefulset", "statefulset"))
	return mixin.Selector(m...)
}

// by returns the aggregation labels for one row per StatefulSet (per cluster when several
// clusters are shown), followed by extra labels.
func (s scope) by(extra ...string) string {
	return strings.Join(append(s.clusterLabels(), extra...), ", ")
}

// perStatefulSet returns the aggregation labels that identify one StatefulSet, followed by
// extra labels.
func (s scope) perStatefulSet(extra ...string) string {
	return s.by(append([]string{"namespace", "statefulset"}, extra...)...)
}

// clusterLabels is the cluster label when dashboards span clusters, else nothing.
func (s scope) clusterLabels() []string {
	if s.cfg.MultiCluster {
		return []string{s.cfg.ClusterLabel}
	}
	return nil
}

// labelValues is the query of a variable listing the values of label on the series of
// metric that selector matches.
func labelValues(metric, selector, label string) string {
	return fmt.Sprintf("label_values(%s%s, %s)", metric, selector, label)
}

// Variables.

func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus")
}

// queryVariable lists label values; multi adds multi-selection and an "All" option that
// matches with allValue instead of a long alternation.
func queryVariable(name, label, query string, multi bool, allValue string) *dashboard.QueryVariableBuilder {
	v := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(datasourceRef()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
	if multi {
		v = v.Multi(true).
			IncludeAll(true).
			AllValue(allValue).
			Current(dashboard.VariableOption{
				Selected: cog.ToPtr(true),
				Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			})
	}
	return v
}

// clusterVariable lists clusters from the exporter's build info, present once per exporter.
func clusterVariable(s scope) *dashboard.QueryVariableBuilder {
	return queryVariable("cluster", "Cluster",
		labelValues("statefulset_exporter_build_info", mixin.Selector(s.cfg.Selector), s.cfg.ClusterLabel),
		s.multi, ".*")
}

func namespaceVariable(s scope) *dashboard.QueryVariableBuilder {
	m := s.clusterMatchers()
	if s.cfg.NamespaceSelector != "" {
		m = append(m, s.cfg.NamespaceSelector)
	}
	return queryVariable("namespace", "Namespace",
		labelValues("statefulset_info", mixin.Selector(m...), "namespace"), s.multi, ".+")
}

func statefulSetVariable(s scope) *dashboard.QueryVariableBuilder {
	return queryVariable("statefulset", "StatefulSet",
		labelValues("statefulset_info", mixin.Selector(s.namespaceMatchers()...), "statefulset"), s.multi, ".+")
}

// workloadVariables returns the datasource, cluster (only for multi-cluster setups),
// namespace and statefulset variables.
func workloadVariables(s scope) []cog.Builder[dashboard.VariableModel] {
	vars := []cog.Builder[dashboard.VariableModel]{datasourceVariable()}
	if s.cfg.MultiCluster {
		vars = append(vars, clusterVariable(s))
	}
	return append(vars, namespaceVariable(s), statefulSetVariable(s))
}

// newDashboard sets what every dashboard of the mixin shares.
func newDashboard(title, uid, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{dashboardTag, "kubernetes", "statefulset"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time(defaultFrom, "now").
		Refresh(defaultRefresh).
		Timezone(common.TimeZoneBrowser).
		Timepicker(dashboard.NewTimePickerBuilder().
			RefreshIntervals([]string{"30s", "1m", "5m", "15m", "30m", "1h"}),
		).
		Link(dashboard.NewDashboardLinkBuilder("StatefulSet dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{dashboardTag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true),
		)
}

// Queries.

// timeseriesQuery is a range query drawn as one series per legend.
func timeseriesQuery(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// instantQuery is an instant query for stat panels.
func instantQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		Expr(expr).
		Instant()
}

// tableQuery is an instant query in table format; refID names its value column "Value #refID".
func tableQuery(expr, refID string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant().
		RefId(refID)
}

// Panels.

// runbooks links a panel to the runbooks of the alerts it is about, in the panel's header
// menu.
func runbooks(cfg mixin.Config, alerts ...string) []cog.Builder[dashboard.DashboardLink] {
	links := make([]cog.Builder[dashboard.DashboardLink], 0, len(alerts))
	for _, a := range alerts {
		links = append(links, dashboard.NewDashboardLinkBuilder("Runbook: "+a).
			Type(dashboard.DashboardLinkTypeLink).
			Url(cfg.RunbookURL(a)).
			TargetBlank(true))
	}
	return links
}

func defaultStat() *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Datasource(datasourceRef()).
		Height(4).
		Span(3).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValue)
}

// countStat shows a count that is a problem when above zero.
func countStat(title, description, expr string) *stat.PanelBuilder {
	return defaultStat().
		Title(title).
		Description(description).
		WithTarget(instantQuery(expr)).
		Unit("short").
		Decimals(0).
		Thresholds(steps(colorOK, step{1, colorBad}))
}

func defaultTimeseries() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Datasource(datasourceRef()).
		Height(8).
		Span(12).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		DrawStyle(common.GraphDrawStyleLine).
		LineInterpolation(common.LineInterpolationLinear).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true),
		).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending),
		)
}

// stackedTimeseries draws counts that add up, such as pods by phase.
func stackedTimeseries() *timeseries.PanelBuilder {
	return defaultTimeseries().
		FillOpacity(40).
		LineInterpolation(common.LineInterpolationStepAfter).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		Unit("short").
		Decimals(0).
		Min(0)
}

// thresholdLine draws a dashed red line at limit, for a limit an alert uses.
// restartsAlertRate is the restart rate, per second, at which one container reaches
// StatefulSetContainerRestarting: RestartsThreshold restarts within RestartsWindow.
func restartsAlertRate(cfg mixin.Config) float64 {
	return float64(cfg.RestartsThreshold) / cfg.RestartsWindow.Seconds()
}

func thresholdLine(p *timeseries.PanelBuilder, limit float64) *timeseries.PanelBuilder {
	return p.
		Thresholds(steps(colorOK, step{limit, colorBad})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().
			Mode(common.GraphThresholdsStyleModeDashed),
		)
}

func defaultTable() *table.PanelBuilder {
	return table.NewPanelBuilder().
		Datasource(datasourceRef()).
		Height(8).
		Span(24).
		CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false)).
		Filterable(true)
}

// tableOf merges the instant table queries into one row per label set, hides the time
// column and orders the columns as given; columns not listed follow.
func tableOf(columns ...string) *table.PanelBuilder {
	index := map[string]any{}
	for i, c := range columns {
		index[c] = i
	}
	return defaultTable().
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"excludeByName": map[string]any{"Time": true},
				"indexByName":   index,
				"renameByName":  map[string]any{},
			},
		})
}

// countTimeseries is a time series of replica or pod counts whose "desired" series is
// drawn dashed, as the target the other series should reach.
func countTimeseries() *timeseries.PanelBuilder {
	return defaultTimeseries().
		Unit("short").
		Decimals(0).
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		OverrideByName("desired", []dashboard.DynamicConfigValue{
			{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
			{Id: "custom.fillOpacity", Value: 0},
		})
}

func defaultStateTimeline() *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Datasource(datasourceRef()).
		Height(6).
		Span(24).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		RowHeight(0.8).
		FillOpacity(80).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true),
		)
}

// Field configuration.

// step is a threshold: values from "from" on take color.
type step struct {
	from  float64
	color string
}

// steps returns absolute thresholds: base colour below the first step, then each step's.
func steps(base string, from ...step) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Value: nil, Color: base}}
	for _, st := range from {
		s = append(s, dashboard.Threshold{Value: cog.ToPtr(st.from), Color: st.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

// state is the text and colour shown for one value of a state metric.
type state struct {
	value string
	text  string
	color string
}

// stateMappings maps the values of a state metric (0/1 flags and the like) to text and colour.
func stateMappings(states ...state) []dashboard.ValueMapping {
	options := map[string]dashboard.ValueMappingResult{}
	for i, st := range states {
		options[st.value] = dashboard.ValueMappingResult{
			Text:  cog.ToPtr(st.text),
			Color: cog.ToPtr(st.color),
			Index: cog.ToPtr(int32(i)),
		}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type:    dashboard.MappingTypeValueToText,
		Options: options,
	}}}
}

// rolloutStates maps "in progress + stalled" (0, 1 or 2) to a rollout state.
var rolloutStates = []state{
	{"0", "Idle", colorOK},
	{"1", "In progress", colorInfo},
	{"2", "Stalled", colorBad},
}

// severities colours the severity label of alerts.
var severities = []state{
	{"critical", "critical", colorBad},
	{"warning", "warning", colorWarning},
	{"info", "info", colorInfo},
}

// sortBy sorts a table by a column's display name.
func sortBy(column string, desc bool) []cog.Builder[common.TableSortByFieldState] {
	return []cog.Builder[common.TableSortByFieldState]{
		common.NewTableSortByFieldStateBuilder().DisplayName(column).Desc(desc),
	}
}

// Table column overrides.

func displayName(name string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "displayName", Value: name}
}

func unit(u string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "unit", Value: u}
}

func decimals(d int) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "decimals", Value: d}
}

func mappings(states ...state) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "mappings", Value: stateMappings(states...)}
}

func thresholds(b *dashboard.ThresholdsConfigBuilder) dashboard.DynamicConfigValue {
	t, err := b.Build()
	if err != nil {
		panic(err) // thresholds are built from constants
	}
	return dashboard.DynamicConfigValue{Id: "thresholds", Value: t}
}

func minValue(v float64) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "min", Value: v}
}

func maxValue(v float64) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "max", Value: v}
}

// fixedColor draws a series in one colour.
func fixedColor(c string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": c}}
}

func hidden() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.hidden", Value: true}
}

func width(px int) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.width", Value: px}
}

// colorBackground colours the whole cell by the value's mapping or threshold colour.
func colorBackground() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{
		"type": "color-background",
		"mode": "basic",
	}}
}

// colorText colours the cell's text by the value's mapping or threshold colour.
func colorText() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{
		"type": "color-text",
	}}
}

// gaugeCell draws the value as a bar gauge coloured by thresholds.
func gaugeCell() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{
		"type":             "gauge",
		"mode":             "basic",
		"valueDisplayMode": "text",
	}}
}

// link turns the cell into a link.
func link(title, url string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "links", Value: []map[string]any{{
		"title": title,
		"url":   url,
	}}}
}

// externalLink turns the cell into a link that opens in a new tab, such as a runbook.
func externalLink(title, url string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "links", Value: []map[string]any{{
		"title":       title,
		"url":         url,
		"targetBlank": true,
	}}}
}

// labelColumns gives the label columns of a table readable headers.
func labelColumns(p *table.PanelBuilder, s scope, labels map[string]string) *table.PanelBuilder {
	if s.cfg.MultiCluster {
		p = p.OverrideByName(s.cfg.ClusterLabel, []dashboard.DynamicConfigValue{displayName("Cluster")})
	}
	for _, l := range slices.Sorted(maps.Keys(labels)) {
		p = p.OverrideByName(l, []dashboard.DynamicConfigValue{displayName(labels[l])})
	}
	return p
}
