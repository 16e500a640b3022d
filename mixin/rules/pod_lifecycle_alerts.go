package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// initContainerStuckAlert is StatefulSetInitContainerStuck: a pod that has been running
// its init containers for InitContainerStuckFor. It is per pod, not per init container,
// so that a pod working through several slow init containers counts from the first. The
// container is looked up when the notification is rendered. Between two init containers
// (and while the next one's image is pulled) the pod's reason is PodInitializing: the
// max_over_time keeps the "for" across those moments, and the "and" ends the alert as
// soon as the pod has left its init phase.
func initContainerStuckAlert(b *builder) rulefmt.Rule {
	c := b.cfg
	return b.rule(alert{
		name: "StatefulSetInitContainerStuck",
		expr: `
			max by (<sts>, pod) (
			  max_over_time(statefulset_pod_not_ready_info{<w>, reason="InitContainerRunning"}[5m]) <only-fresh>
			)
			and on (<sts>, pod)
			max by (<sts>, pod) (statefulset_pod_not_ready_info{<w>, reason=~"InitContainerRunning|PodInitializing"} <only-fresh>)`,
		for_:     c.InitContainerStuckFor,
		severity: severityWarning,
		summary:  "StatefulSet pod has been running its init containers for too long.",
		description: fmt.Sprintf(`
			Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been running its init containers for more than %s`,
			dur(c.InitContainerStuckFor)) +
			b.lookup(`max by (container, reason) (statefulset_pod_not_ready_info{})`,
				[]string{"namespace", "statefulset", "pod"},
				`{{ range . }}{{ if eq .Labels.reason "InitContainerRunning" }} (now running: {{ .Labels.container }}){{ end }}{{ end }}`) +
			": it does not start its containers until they finish.",
	})
}

// onDeleteOutdatedAlert is StatefulSetOnDeletePodsOutdated: a StatefulSet with the
// OnDelete update strategy whose pods have run an old revision for OnDeleteOutdatedFor.
// The controller never replaces them by itself. The "for" is days long, so
// last_over_time bridges gaps of the exporter's series (a restart, an upgrade) that would
// otherwise restart it; a rollout finished (0 outdated) ends the alert at once.
func onDeleteOutdatedAlert(b *builder) rulefmt.Rule {
	c := b.cfg
	return b.rule(alert{
		name: "StatefulSetOnDeletePodsOutdated",
		expr: `
			max by (<sts>) (last_over_time(statefulset_pods_outdated{<w>}[15m]) <only-fresh>) > 0
			and on (<sts>)
			max by (<sts>) (last_over_time(statefulset_info{<w>, update_strategy="OnDelete"}[15m]) <only-fresh>)`,
		for_:     c.OnDeleteOutdatedFor,
		severity: severityInfo,
		summary:  "StatefulSet with the OnDelete update strategy has pods on an old revision.",
		description: fmt.Sprintf(`
			{{ $value }} pod(s) of StatefulSet <ref><where> have run an old revision for more than %s. Its update strategy is OnDelete: the controller replaces a pod with the current revision only when someone deletes it. Delete the outdated pods one at a time, waiting for each replacement to be Ready, or switch the StatefulSet to RollingUpdate.`,
			dur(c.OnDeleteOutdatedFor)),
	})
}
