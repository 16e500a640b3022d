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
		Links(runbooks(s.cfg, "StatefulSetPodsCrashLooping", "StatefulSetPodsPending")).
		Description("Pods with a container (init or regular) waiting, by waiting reason.").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (reason) (statefulset_pods_waiting%s)", s.workload()), "{{reason}}"))
}

func restartsTimeseries(s scope) *timeseries.PanelBuilder {
	return thresholdLine(defaultTimeseries(), restartsAlertRate(s.cfg)).
		Span(8).
		Title("Container restarts").
		Links(runbooks(s.cfg, "StatefulSetContainerRestarting")).
		Description("Container restarts per second of the StatefulSet's pods; it survives pod re-creation. " +
			"The dashed line is the rate at which a single container reaches the restart alert (StatefulSetContainerRestarting).").
		WithTarget(timeseriesQuery(restartRate(s), "restarts")).
		Unit(restartRateUnit).
		Min(0)
}

func podProblemsTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Title("Unschedulable, terminating and stranded pods").
		Links(runbooks(s.cfg, "StatefulSetPodsUnschedulable", "StatefulSetPodStuckTerminating")).
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
		Links(runbooks(s.cfg, "StatefulSetPodStuckTerminating")).
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

// lastTerminations colours how a container last ended.
var lastTerminations = []state{
	{"OOMKilled", "OOMKilled", colorBad},
	{"Error", "Error", colorBad},
	{"ContainerCannotRun", "ContainerCannotRun", colorBad},
	{"StartError", "StartError", colorBad},
	{"DeadlineExceeded", "DeadlineExceeded", colorWarning},
	{"Completed", "Completed", colorNeutral},
	{"Other", "Other", colorWarning},
}

func podsNotReadyTable(s scope) *table.PanelBuilder {
	return tableOf("pod", "reason", "container", "last_termination_reason").
		Span(12).
		Title("Why pods are not Ready").
		Description("Each pod that is not Ready or is terminating, with the first reason that applies, from what Kubernetes "+
			"recorded: the pod (Terminating, Evicted…), the scheduler's verdict (InsufficientCPU, VolumeNodeAffinityConflict, "+
			"UntoleratedTaint…), the pod's node (NodeUnreachable…), then its containers (CrashLoopBackOff, ImagePullBackOff, "+
			"ReadinessFailing…). Container names the container of a container reason; Last termination is how it last ended. "+
			"Ready pods have no row.").
		NoValue("Every pod Ready").
		Links(runbooks(s.cfg, "StatefulSetReplicasNotReady", "StatefulSetPodsUnschedulable", "StatefulSetPodsPending", "StatefulSetPodsCrashLooping")).
		WithTarget(tableQuery(fmt.Sprintf("max by (pod, reason, container, last_termination_reason) (statefulset_pod_not_ready_info%s)",
			s.workload()), "A")).
		SortBy(sortBy("Pod", false)).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Reason")}).
		OverrideByName("container", []dashboard.DynamicConfigValue{displayName("Container")}).
		OverrideByName("last_termination_reason", []dashboard.DynamicConfigValue{
			displayName("Last termination"), mappings(lastTerminations...), colorText(),
		})
}

// latestTermination is, per container, the series of its latest termination: its finish
// time, with the reason it ended as a label.
func latestTermination(s scope) string {
	return fmt.Sprintf("topk by (pod, container) (1, max by (pod, container, reason) (statefulset_container_last_terminated_timestamp_seconds%s))",
		s.workload())
}

// terminationsInWindow counts, per container, its terminations within the restart alert's
// window as StatefulSetContainerRestarting does (each termination changes the finish
// time), with the reason of the latest as a label.
func terminationsInWindow(s scope) string {
	return fmt.Sprintf("changes((max by (pod, container) (statefulset_container_last_terminated_timestamp_seconds%s))[%s:%s]) + 1"+
		" + on (pod, container) group_left (reason) (0 * %s)",
		s.workload(), promDuration(s.cfg.RestartsWindow), promDuration(s.cfg.RestartsWindow/60), latestTermination(s))
}

func recentTerminationsTable(s scope) *table.PanelBuilder {
	window := promDuration(s.cfg.RestartsWindow)
	return tableOf("pod", "container", "reason", "Value #A", "Value #B").
		Span(12).
		Title("Recent container terminations").
		Description(fmt.Sprintf("Containers that ended within the exporter's --restarts.recent-window: how the latest run ended, "+
			"how long ago, and how many times the container ended in the last %s. Red at %d, when StatefulSetContainerRestarting "+
			"counts a restart loop.", window, s.cfg.RestartsThreshold)).
		NoValue("No recent termination").
		Links(runbooks(s.cfg, "StatefulSetContainerRestarting", "StatefulSetPodsCrashLooping")).
		WithTarget(tableQuery("time() - "+latestTermination(s), "A")).
		WithTarget(tableQuery(terminationsInWindow(s), "B")).
		SortBy(sortBy("Ended ago", false)).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("container", []dashboard.DynamicConfigValue{displayName("Container")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Last termination"), mappings(lastTerminations...), colorText()}).
		OverrideByName("Value #A", []dashboard.DynamicConfigValue{displayName("Ended ago"), unit("s"), decimals(0), colorText(),
			thresholds(steps(colorNeutral))}).
		OverrideByName("Value #B", []dashboard.DynamicConfigValue{
			displayName("Terminations in " + window), unit("short"), decimals(0), colorText(),
			thresholds(steps(colorWarning, step{float64(s.cfg.RestartsThreshold), colorBad})),
		})
}
