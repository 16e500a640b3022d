package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// storageGroup holds the alerts about a StatefulSet's PersistentVolumeClaims and volumes.
func storageGroup(b *builder) rulefmt.RuleGroup {
	c := b.cfg
	return rulefmt.RuleGroup{
		Name: "statefulset-storage",
		Rules: []rulefmt.Rule{
			b.rule(alert{
				name: "StatefulSetPVCPending",
				// The age is the alert condition, so there is no "for". A claim waiting for
				// its first consumer is Pending because its pod is not scheduled: the pod
				// alerts name that cause, and such a claim left behind by a scale-down is
				// harmless.
				expr: fmt.Sprintf(`
					time()
					- max by (<sts>, persistentvolumeclaim, reason) (
					    statefulset_pvc_pending_created_timestamp_seconds{<w>, reason!="wait_for_first_consumer"}
					  )
					> %s`,
					seconds(c.PVCPendingThreshold)),
				severity: severityWarning,
				summary:  "StatefulSet PersistentVolumeClaim is stuck Pending.",
				description: `
					PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} of StatefulSet {{ $labels.statefulset }}<where> has been Pending for {{ $value | humanizeDuration }} (reason: {{ $labels.reason }}).`,
			}),
			b.rule(alert{
				name: "StatefulSetVolumeZoneMismatch",
				expr: `
					max by (<sts>, pod, persistentvolumeclaim, volume_zone, node_zone) (
					  statefulset_pod_volume_zone_mismatch{<w>}
					) == 1`,
				for_:     c.VolumeZoneMismatchFor,
				severity: severityWarning,
				summary:  "StatefulSet pod runs in another zone than its volume.",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been on a node in zone {{ $labels.node_zone }} for more than %s, but the volume of claim {{ $labels.persistentvolumeclaim }} is pinned to {{ $labels.volume_zone }}. A zonal volume such as EBS cannot attach there.`,
					dur(c.VolumeZoneMismatchFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeZoneWithoutNodes",
				expr: `
					max by (<sts>, pod, persistentvolumeclaim, volume_zone) (
					  statefulset_pod_volume_zone_without_nodes{<w>}
					) == 1`,
				for_:       c.VolumeZoneNoNodesFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet pod cannot run: no schedulable node in its volume's zone.",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been unscheduled for more than %s: the volume of claim {{ $labels.persistentvolumeclaim }} is pinned to {{ $labels.volume_zone }}, where no node is Ready and schedulable. The pod cannot start anywhere else.`,
					dur(c.VolumeZoneNoNodesFor)),
			}),
			b.rule(alert{
				name: "StatefulSetVolumeAttachError",
				expr: `
					max by (<sts>, persistentvolumeclaim, node, operation) (
					  statefulset_volume_attachment_error{<w>}
					) == 1`,
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
					  statefulset_pod_volume_attached_elsewhere_info{<w>}
					) == 1`,
				for_:       c.VolumeAttachErrorFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet pod's volume is still attached to another node (Multi-Attach).",
				description: fmt.Sprintf(`
					Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> runs on node {{ $labels.node }}, but the volume of its claim {{ $labels.persistentvolumeclaim }} has been attached to node {{ $labels.attached_node }} for more than %s: Kubernetes will not attach it to {{ $labels.node }} until it is detached there.`,
					dur(c.VolumeAttachErrorFor)),
			}),
		},
	}
}
