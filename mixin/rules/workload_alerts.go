package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// workloadGroup holds the alerts about a StatefulSet's replicas, rollout and pods.
//
// Every expression aggregates to the labels that name the object (max by namespace,
// statefulset, ...): the exporter's series also carry its own target labels (instance,
// its pod name), which would otherwise end up on the alert, change with every exporter
// restart and restart the alert's "for". It reads only fresh exporter replicas and takes
// max of what is bad and min of what is good (builder.go, "Several exporter replicas").
func workloadGroup(b *builder) rulefmt.RuleGroup {
	c := b.cfg
	return rulefmt.RuleGroup{
		Name: "statefulset-workload",
		Rules: []rulefmt.Rule{
			b.rule(alert{
				name: "StatefulSetNoReplicasReady",
				// The value is the number of desired replicas. Scaled to 0 never matches.
				// A StatefulSet that did not exist or was scaled to 0 BootstrapGrace ago is
				// bootstrapping: critical means a workload that served is down. The window
				// before the offset keeps a short scrape gap back then from resetting the
				// "for" of a firing alert. keep_firing_for (as on every critical alert
				// derived from the exporter's data) bridges an exporter restart: its series
				// go stale for a minute or two, which would otherwise resolve the page and
				// send a new one a "for" later. The past is read from every replica,
				// restarted ones included.
				expr: fmt.Sprintf(`
					max by (<sts>) (statefulset_replicas_desired{<w>} <only-fresh>) > 0
					and on (<sts>)
					min by (<sts>) (statefulset_replicas_ready{<w>} <only-fresh>) == 0
					and on (<sts>)
					max by (<sts>) (max_over_time(statefulset_replicas_desired{<w>}[10m] offset %s)) > 0`, dur(c.BootstrapGrace)),
				for_:       c.NoReplicasReadyFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "StatefulSet has no Ready replica.",
				description: fmt.Sprintf(`
					None of the {{ $value }} desired replicas of StatefulSet <ref><where> has been Ready in the last %s: the workload is down.`,
					dur(c.NoReplicasReadyFor)) + b.notReadyPods(),
			}),
			b.rule(alert{
				name: "StatefulSetReplicasNotReady",
				// Some replicas Ready, not all. statefulset_ready_ratio is 1 for a
				// StatefulSet scaled to 0. A rollout in progress takes pods down on purpose
				// (StatefulSetRolloutStalled covers it when it stops moving), and no replica
				// Ready is StatefulSetNoReplicasReady's: both are left out rather than only
				// inhibited, so that the "for" starts when they end. An alert that kept
				// counting while inhibited would notify, stale, the moment its inhibitor
				// resolves during the recovery, before the last replica is back.
				expr: `
					min by (<sts>) (statefulset_ready_ratio{<w>} <only-fresh>) < 1
					unless on (<sts>)
					  min by (<sts>) (statefulset_rollout_in_progress{<w>} <only-fresh>) == 1
					unless on (<sts>)
					  min by (<sts>) (statefulset_replicas_ready{<w>} <only-fresh>) == 0`,
				for_:     c.ReplicasNotReadyFor,
				severity: severityWarning,
				summary:  "StatefulSet has replicas that are not Ready.",
				description: fmt.Sprintf(`
					StatefulSet <ref><where> has had only {{ $value | humanizePercentage }} of its desired replicas Ready for more than %s, outside of a rollout.`,
					dur(c.ReplicasNotReadyFor)) + b.notReadyPods(),
			}),
			b.rule(alert{
				name: "StatefulSetRolloutStalled",
				// The exporter keeps statefulset_rollout_stalled at 0 for OnDelete, for a
				// finished partitioned rollout and while the rollout moves. The blocking
				// pod is joined in so that the alert names it; its reason is looked up when
				// the notification is rendered instead of being a label, because it
				// alternates (CrashLoopBackOff, NotReady, ...) while the rollout is stuck.
				// The "or" keeps the alert when no blocking pod is known.
				expr: `
					(
					  max by (<sts>, pod) (statefulset_rollout_blocking_pod_info{<w>} <only-fresh>)
					  * on (<sts>) group_left ()
					  (max by (<sts>) (statefulset_rollout_stalled{<w>} <only-fresh>) == 1)
					)
					or on (<sts>)
					(max by (<sts>) (statefulset_rollout_stalled{<w>} <only-fresh>) == 1)`,
				for_:     c.RolloutStalledFor,
				severity: severityWarning,
				summary:  "StatefulSet rollout is stalled.",
				description: "The rollout of StatefulSet <ref><where> has made no progress" +
					b.lookup(`time() - max(statefulset_rollout_last_progress_timestamp_seconds{})`,
						[]string{"namespace", "statefulset"},
						` for {{ . | first | value | humanizeDuration }}`) +
					". {{ if $labels.pod }}It is waiting for pod {{ $labels.pod }}" +
					b.lookup(`max by (reason) (statefulset_rollout_blocking_pod_info{})`,
						[]string{"namespace", "statefulset", "pod"},
						` ({{ . | first | label "reason" }})`) +
					".{{ else }}No pod is named as blocking it: check whether the StatefulSet controller has observed the new spec.{{ end }}",
			}),
			b.rule(alert{
				name:     "StatefulSetGenerationNotObserved",
				expr:     `max by (<sts>) (statefulset_generation_lag{<w>} <only-fresh>) > 0`,
				for_:     c.GenerationMismatchFor,
				severity: severityWarning,
				summary:  "StatefulSet controller has not acted on the latest spec.",
				description: fmt.Sprintf(`
					The StatefulSet controller has not observed the latest spec of StatefulSet <ref><where> for more than %s (generation lag {{ $value }}): spec changes, scaling included, are not being acted on.`,
					dur(c.GenerationMismatchFor)),
			}),
			b.rule(alert{
				name: "StatefulSetPodsCrashLooping",
				// A crash-looping container is briefly running between back-offs, when the
				// pod drops out of the CrashLoopBackOff count; max_over_time keeps the
				// alert pending across those moments. The "and" ends the alert as soon as
				// no pod waits in CrashLoopBackOff and no pod that is not Ready has crashed
				// before (a replacement pod, after a fix, has no past termination), so it
				// does not linger for the max_over_time window and notify when an
				// inhibiting StatefulSet-level alert resolves during the recovery.
				expr: `
					max by (<sts>) (
					  max_over_time(statefulset_pods_waiting{<w>, reason="CrashLoopBackOff"}[5m]) <only-fresh>
					) > 0
					and on (<sts>)
					(
					  max by (<sts>) (statefulset_pods_waiting{<w>, reason="CrashLoopBackOff"} <only-fresh>) > 0
					  or
					  count by (<sts>) (statefulset_pod_not_ready_info{<w>, last_termination_reason!=""} <only-fresh>) > 0
					)`,
				for_:     c.CrashLoopingFor,
				severity: severityWarning,
				summary:  "StatefulSet pods are crash looping.",
				description: fmt.Sprintf(`
					{{ $value }} pod(s) of StatefulSet <ref><where> have been in CrashLoopBackOff for more than %s.`,
					dur(c.CrashLoopingFor)) + b.notReadyPods(),
			}),
			b.rule(alert{
				name:     "StatefulSetPodsUnschedulable",
				expr:     `max by (<sts>) (statefulset_pods_unschedulable{<w>} <only-fresh>) > 0`,
				for_:     c.PodPendingFor,
				severity: severityWarning,
				summary:  "StatefulSet pods cannot be scheduled.",
				description: fmt.Sprintf(`
					{{ $value }} pod(s) of StatefulSet <ref><where> have been unschedulable for more than %s: the scheduler finds no node that fits them.`,
					dur(c.PodPendingFor)) + b.notReadyPods(),
			}),
			b.rule(alert{
				name: "StatefulSetPodsPending",
				// Pending pods that are not unschedulable: scheduled, but not starting
				// (image pulls, volume attachment, init containers). Pods held back by a
				// scheduling gate are Pending on purpose and left out (0 when none). The
				// unschedulable count excuses pods from this alert: min across replicas.
				expr: `
					(
					  max by (<sts>) (statefulset_pods{<w>, phase="Pending"} <only-fresh>)
					  - on (<sts>)
					  min by (<sts>) (statefulset_pods_unschedulable{<w>} <only-fresh>)
					  - on (<sts>)
					  (
					    count by (<sts>) (max by (<sts>, pod) (statefulset_pod_not_ready_info{<w>, reason="SchedulingGated"} <only-fresh>))
					    or on (<sts>)
					    0 * max by (<sts>) (statefulset_pods_unschedulable{<w>} <only-fresh>)
					  )
					) > 0`,
				for_:     c.PodPendingFor,
				severity: severityWarning,
				summary:  "StatefulSet pods are scheduled but not starting.",
				description: fmt.Sprintf(`
					{{ $value }} scheduled pod(s) of StatefulSet <ref><where> have been Pending for more than %s without starting.`,
					dur(c.PodPendingFor)) + b.notReadyPods(),
			}),
			b.rule(alert{
				name: "StatefulSetPodStuckTerminating",
				// The node status is looked up rather than kept as a label: it moves from
				// not_ready to unreachable to missing while the pod is stuck.
				expr:       `max by (<sts>, pod, node) (statefulset_pod_stuck_terminating_info{<w>} <only-fresh>) == 1`,
				for_:       c.StuckTerminatingFor,
				keepFiring: c.KeepFiringFor,
				// Critical: the StatefulSet controller never replaces the identity while the
				// pod object exists, and nothing deletes it without a human (or a node that
				// comes back).
				severity: severityCritical,
				summary:  "StatefulSet pod is stuck Terminating.",
				description: "Pod {{ $labels.namespace }}/{{ $labels.pod }} of StatefulSet {{ $labels.statefulset }}<where> has been Terminating past its grace period on node {{ $labels.node }}" +
					b.lookup(`max by (node_status) (statefulset_pod_stuck_terminating_info{})`,
						[]string{"namespace", "statefulset", "pod"},
						` (node status: {{ . | first | label "node_status" }})`) +
					". The StatefulSet controller does not create a replacement for this identity until the pod object is gone.",
			}),
			b.rule(alert{
				name: "StatefulSetContainerRestarting",
				// Per container, from the kubelet's own record of its last termination:
				// each restart changes the finish time, so the changes of the latest
				// finish time within the window, plus the value it started from, count
				// the container's restarts. Unlike the per-StatefulSet counter it tells
				// one pod restarting three times from three pods restarting once (a
				// rollout, a node drain), and an exporter restart changes nothing: the
				// values are the kubelet's, not counted by the exporter. The max, in a
				// subquery, merges the series of exporter replicas (old and new pod
				// during its own rollout) and of a reason that changed (Error, then
				// OOMKilled). Its resolution is a sixtieth of the window (1m for 1h):
				// restarts closer than that (the first seconds of kubelet's back-off)
				// count once. The "and" ends the alert as soon as
				// the container has no recent termination any more, as when its pod is
				// replaced after a fix, rather than when the window has passed.
				expr: fmt.Sprintf(`
					changes(
					  (max by (<sts>, pod, container) (statefulset_container_last_terminated_timestamp_seconds{<w>} <only-fresh>))[%s:%s]
					) + 1 >= %d
					and on (<sts>, pod, container)
					max by (<sts>, pod, container) (statefulset_container_last_terminated_timestamp_seconds{<w>} <only-fresh>)`,
					dur(c.RestartsWindow), dur(c.RestartsWindow/60), c.RestartsThreshold),
				for_:     c.RestartsFor,
				severity: severityWarning,
				summary:  "StatefulSet container keeps restarting.",
				description: fmt.Sprintf("Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} (StatefulSet {{ $labels.statefulset }}<where>) has restarted {{ $value }} times in the last %s", dur(c.RestartsWindow)) +
					b.lookup(`sort(time() - max by (reason) (statefulset_container_last_terminated_timestamp_seconds{}))`,
						[]string{"namespace", "statefulset", "pod", "container"},
						`, last terminated {{ . | first | value | humanizeDuration }} ago: {{ . | first | label "reason" }}`) +
					".",
			}),
			initContainerStuckAlert(b),
			onDeleteOutdatedAlert(b),
		},
	}
}
