package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func podsByPhaseTimeseries(s scope) *timeseries.PanelBuilder {
	return stackedTimeseries().
		Span(8).
		Title("Pods by phase").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (phase) (statefulset_pods%s)", s.workload()), "{{phase}}")).
		OverrideByName("Running", []dashboard.DynamicConfigValue{fixedColor(colorOK)}).
		OverrideByName("Pending", []dashboard.DynamicConfigValue{fixedColor(colorWarning)}).
		OverrideByName("Failed", []dashboard.DynamicConfigValue{fixedColor(colorBad)}).
		OverrideByName("Unknown", []dashboard.DynamicConfigValue{fixedColor("purple")}).
		OverrideByName("Succeeded", []dashboard.DynamicConfigValue{fixedColor(colorInfo)})
}

func waitingPodsTimeseries(s scope) *timeseries.PanelBuilder {
	return stackedTimeseries().
		Span(8).
		Title("Waiting pods by reason").
		Description("Pods with a container (init or regular) waiting, by waiting reason.").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (reason) (statefulset_pods_waiting%s)", s.workload()), "{{reason}}"))
}

func restartsTimeseries(s scope) *timeseries.PanelBuilder {
	return thresholdLine(defaultTimeseries(), restartsAlertRate(s.cfg)).
		Span(8).
		Title("Container restarts").
		Description("Container restarts per second of the StatefulSet's pods; it survives pod re-creation. " +
			"The dashed line is the rate at which a single container reaches the restart alert (StatefulSetContainerRestarting).").
		WithTarget(timeseriesQuery(restartRate(s), "restarts")).
		Unit(restartRateUnit).
		Min(0)
}

func podProblemsTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Title("Unschedulable, terminating and stranded pods").
		Description("Unschedulable: PodScheduled is False with reason Unschedulable. Terminating: deletion requested. " +
			"On unready nodes: bound to a node that is not ready, unreachable or gone.").
		WithTarget(timeseriesQuery(s.one("statefulset_pods_unschedulable"), "unschedulable")).
		WithTarget(timeseriesQuery(s.one("statefulset_pods_terminating"), "terminating")).
		WithTarget(timeseriesQuery(s.one("statefulset_pods_on_unready_nodes"), "on unready nodes")).
		Unit("short").
		Decimals(0).
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter)
}

// nodeStatuses colours the node_status label of stuck terminating pods.
var nodeStatuses = []state{
	{"ready", "Ready", colorOK},
	{"not_ready", "Not ready", colorBad},
	{"unreachable", "Unreachable", colorBad},
	{"missing", "Missing", colorBad},
	{"unknown", "Unknown", colorWarning},
}

func stuckTerminatingTable(s scope) *table.PanelBuilder {
	return tableOf("pod", "node", "node_status").
		Span(12).
		Title("Pods stuck terminating").
		Description("Pods deleted longer ago than their grace period plus --terminating.stuck-after. "+
			"On an unreachable or missing node the kubelet cannot confirm the deletion: "+
			"check the node before force-deleting the pod.").
		WithTarget(tableQuery(fmt.Sprintf("max by (pod, node, node_status) (statefulset_pod_stuck_terminating_info%s) == 1",
			s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("node", []dashboard.DynamicConfigValue{displayName("Node")}).
		OverrideByName("node_status", []dashboard.DynamicConfigValue{
			displayName("Node status"), mappings(nodeStatuses...), colorText(),
		})
}
