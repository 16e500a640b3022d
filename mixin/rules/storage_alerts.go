package rules

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// storageGroup holds the alerts about a StatefulSet's PersistentVolumeClaims and volumes.
// Every fact is bad when present: max across fresh exporter replicas (builder.go).
func storageGroup(b *builder) rulefmt.RuleGroup {
	c := b.cfg
	return rulefmt.RuleGroup{
		Name: "statefulset-storage",
		Rules: []rulefmt.Rule{
			pvcPendingAlert(b),
			b.rule(alert{
				name: "StatefulSetVolumeZoneMismatch",
				expr: `
					max by (<sts>, pod, persistentvolumeclaim, volume_zone, node_zone) (
					  statefulset_pod_volume_zone_mismatch_info{<w>} <only-fresh>
					)`,
				for_:     c.VolumeZoneMismatchFor,
				severity: severityWarning,
				summary:  "StatefulSet pod runs in another zone than its volume.",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been on a node in zone {{ $labels.node_zone }} for more than %s, but the volume of claim {{ $labels.persistentvolumeclaim }} is pinned to {{ $labels.volume_zone }}. A zonal volume such as EBS cannot attach there.`,
					dur(c.VolumeZoneMismatchFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeNoUsableNode",
				// Critical: the volume ties the pod to nodes that are not there; nothing in
				// the cluster will bring them back without a human (or an autoscaler that
				// knows the volume's topology, which would have acted within the "for").
				expr: `
					max by (<sts>, pod, persistentvolumeclaim, volume_zone) (
					  statefulset_pod_volume_no_usable_node_info{<w>} <only-fresh>
					)`,
				for_:       c.VolumeNoUsableNodeFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet pod cannot be scheduled: no node can use its volume.",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been unscheduled for more than %s: no node can use the volume of claim {{ $labels.persistentvolumeclaim }}{{ if $labels.volume_zone }} (zone {{ $labels.volume_zone }}){{ else }} (pinned to nodes, not a zone){{ end }}. No node is Ready, uncordoned, matches the volume's node affinity and the pod's node selector and affinity, and has only taints the pod tolerates. The pod cannot start anywhere else.`,
					dur(c.VolumeNoUsableNodeFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeAttachError",
				expr: `
					max by (<sts>, persistentvolumeclaim, node, operation) (
					  statefulset_volume_attachment_error_info{<w>} <only-fresh>
					)`,
				for_:     c.VolumeAttachErrorFor,
				severity: severityWarning,
				summary:  "StatefulSet volume fails to attach or detach.",
				description: fmt.Sprintf(`
					The {{ $labels.operation }} of the volume of claim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} (StatefulSet {{ $labels.statefulset }}<where>) on node {{ $labels.node }} has been failing for more than %s.`,
					dur(c.VolumeAttachErrorFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeAttachedElsewhere",
				// Multi-Attach: no VolumeAttachment fails (the attach-detach controller
				// makes none for the pod's node), so StatefulSetVolumeAttachError stays
				// quiet. A pod that moved normally sees its old attachment go within
				// seconds; the "for" covers that. Critical: the pod does not start, and the
				// volume is typically held by a dead node that never unmounts it.
				expr: `
					max by (<sts>, pod, persistentvolumeclaim, node, attached_node) (
					  statefulset_pod_volume_attached_elsewhere_info{<w>} <only-fresh>
					) == 1`,
				for_:       c.VolumeAttachErrorFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet pod's volume is still attached to another node (Multi-Attach).",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> runs on node {{ $labels.node }}, but the volume of its claim {{ $labels.persistentvolumeclaim }} has been attached to node {{ $labels.attached_node }} for more than %s: Kubernetes will not attach it to {{ $labels.node }} until it is detached there.`,
					dur(c.VolumeAttachErrorFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeLost",
				// Lost and Failed are terminal: no controller retries its way out. The "for"
				// only absorbs a scrape that caught a cache in motion.
				expr: `
					max by (<sts>, persistentvolumeclaim, persistentvolume, reason) (
					  statefulset_pvc_problem_info{<w>, reason=~"ClaimLost|VolumeFailed"} <only-fresh>
					) == 1`,
				for_:       c.VolumeLostFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet volume is lost or failed: its data is unavailable.",
				description: fmt.Sprintf(`
					PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} of StatefulSet {{ $labels.statefulset }}<where>: {{ if eq $labels.reason "ClaimLost" }}the claim is Lost, its PersistentVolume {{ $labels.persistentvolume }} is gone{{ else }}PersistentVolume {{ $labels.persistentvolume }} of the claim is Failed{{ end }} (reason: {{ $labels.reason }}), for more than %s. Kubernetes will not recover it.`,
					dur(c.VolumeLostFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeReleased",
				// A claim deleted with its pod: the controller made a new, empty claim
				// and volume, and the old data waits in a Retain volume.
				expr: `
					max by (<sts>, persistentvolumeclaim, persistentvolume, reason) (
					  statefulset_pvc_problem_info{<w>, reason="VolumeReleased"} <only-fresh>
					) == 1`,
				for_:     c.VolumeReleasedFor,
				severity: severityWarning,
				summary:  "StatefulSet replica runs on a new volume; the data of its earlier claim sits in a Released volume.",
				description: fmt.Sprintf(`
					PersistentVolume {{ $labels.persistentvolume }} holds the data of an earlier PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} of StatefulSet {{ $labels.statefulset }}<where> and has been Released for more than %s (reason: {{ $labels.reason }}): the claim of that name now has another volume.`,
					dur(c.VolumeReleasedFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeResizeFailed",
				expr: `
					max by (<sts>, persistentvolumeclaim, persistentvolume, reason) (
					  statefulset_pvc_problem_info{<w>, reason=~"ResizeInfeasible|ResizeFailed"} <only-fresh>
					) == 1`,
				for_:     c.VolumeResizeFailedFor,
				severity: severityWarning,
				summary:  "StatefulSet volume expansion is stuck.",
				description: fmt.Sprintf(`
					The expansion of PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} (volume {{ $labels.persistentvolume }}) of StatefulSet {{ $labels.statefulset }}<where> has been failing for more than %s (reason: {{ $labels.reason }}).`,
					dur(c.VolumeResizeFailedFor)),
			}),
		},
	}
}

// pvcPendingAlert is StatefulSetPVCPending: a claim that has been Pending for
// PVCPendingThreshold with a reason other than WaitForFirstConsumer, that is, with its pod
// scheduled (the scheduler picked a node) or without needing one. The claim's age counts
// from its creation, which says nothing about how long it has been failing: an old
// WaitForFirstConsumer claim starts provisioning only when its pod is scheduled. The reason
// is not a label, so that a change between Provisioning, NoProvisioner and Other keeps
// the "for"; the max_over_time bridges a short return to WaitForFirstConsumer (a
// provisioner that gives a node back asks the scheduler for another one). The "and" ends
// the alert as soon as the claim is no longer Pending. A claim left behind by a scale-down
// has no series (the exporter counts it in statefulset_pvcs_retained), so it never fires.
// The value is the claim's age.
func pvcPendingAlert(b *builder) rulefmt.Rule {
	c := b.cfg
	return b.rule(alert{
		name: "StatefulSetPVCPending",
		expr: fmt.Sprintf(`
			time()
			- max by (<sts>, persistentvolumeclaim) (
			    max_over_time(statefulset_pvc_pending_created_timestamp_seconds{<w>, reason!="WaitForFirstConsumer"}[%s]) <only-fresh>
			  )
			and on (<sts>, persistentvolumeclaim)
			max by (<sts>, persistentvolumeclaim) (statefulset_pvc_pending_created_timestamp_seconds{<w>} <only-fresh>)`,
			dur(min(5*time.Minute, c.PVCPendingThreshold))),
		for_:     c.PVCPendingThreshold,
		severity: severityWarning,
		summary:  "StatefulSet PersistentVolumeClaim is stuck Pending.",
		description: fmt.Sprintf(`
			PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} of StatefulSet {{ $labels.statefulset }}<where> has been Pending for more than %s with its pod scheduled, or without needing one`, dur(c.PVCPendingThreshold)) +
			b.lookup(`max by (reason) (statefulset_pvc_pending_created_timestamp_seconds{})`,
				[]string{"namespace", "statefulset", "persistentvolumeclaim"},
				` (reason: {{ . | first | label "reason" }})`) +
			". It was created {{ $value | humanizeDuration }} ago.",
	})
}
