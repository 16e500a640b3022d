package rules

import (
	"fmt"
	"slices"
	"strings"
)

// WatchedKind is one resource the exporter lists and watches, as named in the resource
// label of its self-metrics (statefulset_exporter_resource_failing, ..._enabled).
type WatchedKind struct {
	Resource string
	// Optional kinds are switched off, rather than holding readiness back, when RBAC
	// forbids them or the API server does not serve them.
	Optional bool
	// Alerts are the alerts that cannot fire, or fire on stale data, while the
	// exporter's cache of the kind is not kept up to date.
	Alerts []string
}

// watchedKinds is the one place that says which alert needs which kind. The
// descriptions of StatefulSetExporterResourceFailing and
// StatefulSetExporterResourceDisabled name the dark alerts from it.
var watchedKinds = []WatchedKind{
	{Resource: "statefulsets", Alerts: []string{
		// Every StatefulSet alert: the exporter exports nothing about a StatefulSet it
		// does not know.
		"StatefulSetNoReplicasReady", "StatefulSetReplicasNotReady", "StatefulSetRolloutStalled",
		"StatefulSetGenerationNotObserved", "StatefulSetPodsCrashLooping", "StatefulSetPodsUnschedulable",
		"StatefulSetPodsPending", "StatefulSetPodStuckTerminating", "StatefulSetContainerRestarting",
		"StatefulSetPVCPending", "StatefulSetVolumeZoneMismatch", "StatefulSetVolumeNoUsableNode",
		"StatefulSetVolumeAttachError", "StatefulSetVolumeAttachedElsewhere",
		"StatefulSetSingleReplica", "StatefulSetNoPodDisruptionBudget", "StatefulSetSingleZone",
		"StatefulSetZeroTerminationGracePeriod", "StatefulSetNoReadinessProbe",
		"StatefulSetVolumeLost", "StatefulSetVolumeReleased", "StatefulSetVolumeResizeFailed",
		"StatefulSetGoverningServiceMissing", "StatefulSetGoverningServiceNotHeadless",
		"StatefulSetClaimsDeletedOnScaleDown", "StatefulSetClaimsDeletedWithStatefulSet",
		"StatefulSetInitContainerStuck", "StatefulSetOnDeletePodsOutdated",
	}},
	{Resource: "pods", Alerts: []string{
		"StatefulSetRolloutStalled", "StatefulSetPodsCrashLooping", "StatefulSetPodsUnschedulable",
		"StatefulSetPodsPending", "StatefulSetPodStuckTerminating", "StatefulSetContainerRestarting",
		"StatefulSetVolumeZoneMismatch", "StatefulSetVolumeNoUsableNode", "StatefulSetVolumeAttachedElsewhere",
		"StatefulSetSingleZone", "StatefulSetInitContainerStuck", "StatefulSetOnDeletePodsOutdated",
	}},
	{Resource: "persistentvolumeclaims", Alerts: []string{
		"StatefulSetVolumeLost", "StatefulSetVolumeReleased", "StatefulSetVolumeResizeFailed", "StatefulSetPVCPending", "StatefulSetVolumeZoneMismatch", "StatefulSetVolumeNoUsableNode",
		"StatefulSetVolumeAttachError", "StatefulSetVolumeAttachedElsewhere",
	}},
	{Resource: "persistentvolumes", Alerts: []string{
		"StatefulSetVolumeLost", "StatefulSetVolumeReleased", "StatefulSetVolumeZoneMismatch", "StatefulSetVolumeNoUsableNode",
	}},
	{Resource: "nodes", Alerts: []string{
		"StatefulSetPodStuckTerminating", "StatefulSetVolumeZoneMismatch", "StatefulSetVolumeNoUsableNode",
		"StatefulSetSingleZone",
	}},
	{Resource: "services", Optional: true, Alerts: []string{"StatefulSetGoverningServiceMissing", "StatefulSetGoverningServiceNotHeadless"}},
	{Resource: "storageclasses", Alerts: []string{"StatefulSetPVCPending"}},
	{Resource: "volumeattachments", Optional: true, Alerts: []string{
		"StatefulSetVolumeAttachError", "StatefulSetVolumeAttachedElsewhere",
	}},
	{Resource: "poddisruptionbudgets", Optional: true, Alerts: []string{"StatefulSetNoPodDisruptionBudget"}},
	{Resource: "leases", Optional: true, Alerts: []string{"ControlPlaneLeaderFlapping", "ControlPlaneNoLeader"}},
}

// WatchedKinds returns every watched resource, in the exporter's order, with the alerts
// that depend on it.
func WatchedKinds() []WatchedKind {
	out := slices.Clone(watchedKinds)
	for i := range out {
		out[i].Alerts = slices.Clone(out[i].Alerts)
	}
	return out
}

// kindsRegex matches the resource label of the required (optional false) or of the
// optional kinds.
func kindsRegex(optional bool) string {
	var names []string
	for _, k := range watchedKinds {
		if k.Optional == optional {
			names = append(names, k.Resource)
		}
	}
	return strings.Join(names, "|")
}

// darkAlerts returns annotation template text that names, for the alert's resource
// label, the alerts that depend on that kind.
func darkAlerts(optional bool) string {
	var b strings.Builder
	first := true
	for _, k := range watchedKinds {
		if k.Optional != optional {
			continue
		}
		if first {
			b.WriteString("{{ if ")
			first = false
		} else {
			b.WriteString("{{ else if ")
		}
		fmt.Fprintf(&b, "eq $labels.resource %q }}%s", k.Resource, strings.Join(k.Alerts, ", "))
	}
	b.WriteString("{{ end }}")
	return b.String()
}
