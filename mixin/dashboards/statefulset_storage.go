package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// bindDurationWindow is the window of the PVC bind-duration quantiles: binds happen on
// scale-up and volume re-creation only, so a short window would mostly show gaps.
const bindDurationWindow = "1h"

func pvcsByPhaseTimeseries(s scope) *timeseries.PanelBuilder {
	return stackedTimeseries().
		Span(8).
		Title("PVCs by phase").
		Description("PersistentVolumeClaims of the StatefulSet's volumeClaimTemplates by phase.").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (phase) (statefulset_pvcs%s)", s.workload()), "{{phase}}")).
		OverrideByName("Bound", []dashboard.DynamicConfigValue{fixedColor(colorOK)}).
		OverrideByName("Pending", []dashboard.DynamicConfigValue{fixedColor(colorWarning)}).
		OverrideByName("Lost", []dashboard.DynamicConfigValue{fixedColor(colorBad)})
}

// pvcPendingReasons explains the reason label of Pending PVCs.
var pvcPendingReasons = []state{
	{"WaitForFirstConsumer", "Waiting for its pod to be scheduled", colorWarning},
	{"Provisioning", "Provisioning", colorInfo},
	{"NoStorageClass", "No storage class and no default", colorBad},
	{"StorageClassNotFound", "Storage class not found", colorBad},
	{"NoProvisioner", "Static class: waiting for a matching PV", colorBad},
	{"Other", "Other", colorWarning},
}

func pendingPVCsTable(s scope) *table.PanelBuilder {
	return tableOf("persistentvolumeclaim", "reason", "Value").
		Span(16).
		Title("Pending PVCs").
		Links(runbooks(s.cfg, "StatefulSetPVCPending")).
		Description(fmt.Sprintf("Pending PersistentVolumeClaims, how long they have been pending and why. "+
			"Red past %s, when the pending-PVC alert fires.", s.cfg.PVCPendingThreshold)).
		WithTarget(tableQuery(fmt.Sprintf("time() - max by (persistentvolumeclaim, reason) (statefulset_pvc_pending_created_timestamp_seconds%s)",
			s.workload()), "A")).
		SortBy(sortBy("Pending for", true)).
		OverrideByName("persistentvolumeclaim", []dashboard.DynamicConfigValue{displayName("PVC")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Reason"), mappings(pvcPendingReasons...), colorText()}).
		OverrideByName("Value", []dashboard.DynamicConfigValue{
			displayName("Pending for"), unit("s"), decimals(0), colorText(),
			thresholds(steps(colorWarning, step{s.cfg.PVCPendingThreshold.Seconds(), colorBad})),
		})
}

func bindDurationTimeseries(s scope) *timeseries.PanelBuilder {
	quantile := func(q string) string {
		return fmt.Sprintf("histogram_quantile(%s, sum by (le) (rate(statefulset_pvc_bind_duration_seconds_bucket%s[%s])))",
			q, s.workload(), bindDurationWindow)
	}
	return defaultTimeseries().
		Title("PVC bind duration").
		Description(fmt.Sprintf("Time from a PVC's creation to it being Bound, for PVCs the exporter saw Pending; "+
			"quantiles over the binds of the last %s. Empty unless the exporter runs with --pvc.bind-duration-histogram "+
			"(off by default: 12 series per StatefulSet).", bindDurationWindow)).
		WithTarget(timeseriesQuery(quantile("0.5"), "p50")).
		WithTarget(timeseriesQuery(quantile("0.9"), "p90")).
		WithTarget(timeseriesQuery(quantile("0.99"), "p99")).
		Unit("s").
		Min(0)
}

func attachErrorsTimeseries(s scope) *timeseries.PanelBuilder {
	return defaultTimeseries().
		Span(6).
		Title("Volume attach errors").
		Links(runbooks(s.cfg, "StatefulSetVolumeAttachError")).
		Description("VolumeAttachments of the StatefulSet's volumes with an attach or detach error. " +
			"No data when the exporter does not watch VolumeAttachments.").
		WithTarget(timeseriesQuery(attachErrorCount(s, ""), "errors")).
		Unit("short").
		Decimals(0).
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor(colorBad))
}

// attachErrorCount counts the failing VolumeAttachments of the selected StatefulSets,
// grouped by the StatefulSet labels by: 0 when there are none and VolumeAttachments are
// watched, no data when they are not.
func attachErrorCount(s scope, by string) string {
	grouping := "persistentvolumeclaim, node, operation"
	if by != "" {
		grouping = by + ", " + grouping
	}
	return fmt.Sprintf(`count(max by (%s) (statefulset_volume_attachment_error_info%s)) or 0 * max(statefulset_exporter_resource_enabled%s == 1)`,
		grouping, s.workload(), s.exporter(`resource="volumeattachments"`))
}

func attachErrorsTable(s scope) *table.PanelBuilder {
	return tableOf("persistentvolumeclaim", "node", "operation").
		Span(6).
		Title("Failing volume attachments").
		Links(runbooks(s.cfg, "StatefulSetVolumeAttachError", "StatefulSetVolumeAttachedElsewhere")).
		Description("Each failing VolumeAttachment: the claim, the node and whether attach or detach fails. "+
			"The error text is in the VolumeAttachment's status.").
		WithTarget(tableQuery(fmt.Sprintf("max by (persistentvolumeclaim, node, operation) (statefulset_volume_attachment_error_info%s)",
			s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("persistentvolumeclaim", []dashboard.DynamicConfigValue{displayName("PVC")}).
		OverrideByName("node", []dashboard.DynamicConfigValue{displayName("Node")}).
		OverrideByName("operation", []dashboard.DynamicConfigValue{displayName("Operation")})
}

func volumeZonesTable(s scope) *table.PanelBuilder {
	return tableOf("pod", "persistentvolumeclaim", "volume_zone", "node_zone").
		Span(12).
		Title("Pods outside their volume's zone").
		Links(runbooks(s.cfg, "StatefulSetVolumeZoneMismatch")).
		Description("Each scheduled pod running on a node outside the zone(s) of its zone-pinned volume (such as EBS): "+
			"the volume cannot attach to that node.").
		WithTarget(tableQuery(fmt.Sprintf("max by (pod, persistentvolumeclaim, volume_zone, node_zone) (statefulset_pod_volume_zone_mismatch_info%s)",
			s.workload()), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("persistentvolumeclaim", []dashboard.DynamicConfigValue{displayName("PVC")}).
		OverrideByName("volume_zone", []dashboard.DynamicConfigValue{displayName("Volume zone")}).
		OverrideByName("node_zone", []dashboard.DynamicConfigValue{displayName("Node zone")})
}

// volumeProblems explains the reason column of the storage problems table: the reasons
// of statefulset_pvc_problem_info, and NoUsableNode for
// statefulset_pod_volume_no_usable_node_info.
var volumeProblems = []state{
	{"ClaimLost", "Claim lost: its volume is gone", colorBad},
	{"VolumeFailed", "Volume failed", colorBad},
	{"NoUsableNode", "No node can use the volume", colorBad},
	{"VolumeReleased", "Earlier claim's volume released", colorWarning},
	{"ResizeInfeasible", "Resize infeasible", colorWarning},
	{"ResizeFailed", "Resize failed", colorWarning},
}

func storageProblemsTable(s scope) *table.PanelBuilder {
	return tableOf("persistentvolumeclaim", "reason", "persistentvolume", "pod", "volume_zone").
		Title("Storage problems").
		Description("Claims and volumes that will not recover without a human, and unscheduled pods whose bound volume has "+
			"no node it can be used on (none is Ready, uncordoned, matches the volume's node affinity and the pod's node "+
			"selector and affinity, and has only taints the pod tolerates: the pod stays Pending until such a node appears). "+
			"The volume zone is empty for a volume pinned to a node, not a zone; the volume is empty for a claim bound to none.").
		NoValue("No storage problem").
		Links(runbooks(s.cfg, "StatefulSetVolumeLost", "StatefulSetVolumeNoUsableNode", "StatefulSetVolumeReleased", "StatefulSetVolumeResizeFailed")).
		WithTarget(tableQuery(fmt.Sprintf("max by (persistentvolumeclaim, persistentvolume, reason) (statefulset_pvc_problem_info%s)",
			s.workload()), "A")).
		WithTarget(tableQuery(fmt.Sprintf(`max by (pod, persistentvolumeclaim, volume_zone, reason) (label_replace(statefulset_pod_volume_no_usable_node_info%s, "reason", "NoUsableNode", "", ""))`,
			s.workload()), "B")).
		OverrideByName("Value #A", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("Value #B", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("persistentvolumeclaim", []dashboard.DynamicConfigValue{displayName("PVC")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Problem"), mappings(volumeProblems...), colorText()}).
		OverrideByName("persistentvolume", []dashboard.DynamicConfigValue{displayName("Volume")}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("volume_zone", []dashboard.DynamicConfigValue{displayName("Volume zone")})
}

func readyPodsPerZoneTimeseries(s scope) *timeseries.PanelBuilder {
	return stackedTimeseries().
		Title("Ready pods per zone").
		Links(runbooks(s.cfg, "StatefulSetSingleZone")).
		Description("Ready pods by node zone; pods on nodes without a zone label are not counted.").
		WithTarget(timeseriesQuery(fmt.Sprintf("max by (node_zone) (statefulset_pods_ready_per_zone%s)", s.workload()), "{{node_zone}}"))
}

func haRiskTable(s scope) *table.PanelBuilder {
	return tableOf("risk", "Value").
		Span(12).
		Title("High-availability risks").
		Links(runbooks(s.cfg, "StatefulSetSingleReplica", "StatefulSetNoPodDisruptionBudget", "StatefulSetSingleZone", "StatefulSetZeroTerminationGracePeriod", "StatefulSetNoReadinessProbe", "StatefulSetGoverningServiceMissing", "StatefulSetGoverningServiceNotHeadless", "StatefulSetClaimsDeletedOnScaleDown", "StatefulSetClaimsDeletedWithStatefulSet")).
		Description("The risks that apply; a risk that does not apply has no row. "+riskLegend+
			" Risks that need a kind the exporter cannot watch (PDBs, Services) are absent, not OK.").
		NoValue("No risk").
		WithTarget(tableQuery(fmt.Sprintf("max by (risk) (statefulset_ha_risk_info%s)", s.workload()), "A")).
		OverrideByName("risk", []dashboard.DynamicConfigValue{displayName("Risk")}).
		OverrideByName("Value", []dashboard.DynamicConfigValue{
			displayName("Status"), colorBackground(),
			mappings(state{"1", "At risk", colorWarning}),
		})
}

// riskLegend explains the values of the risk label.
const riskLegend = "singleton: one replica. no_pdb: no PodDisruptionBudget selects the pods. " +
	"single_zone: all Ready pods in one zone. zero_grace_period: terminationGracePeriodSeconds is 0. " +
	"no_readiness_probe: a container has no readiness probe. " +
	"no_governing_service / governing_service_not_headless: the Service named by serviceName is missing or not headless, " +
	"so pods have no stable DNS names. claims_deleted_on_scale_down / claims_deleted_with_statefulset: " +
	"the claim retention policy deletes the volumes on scale-down / with the StatefulSet."
