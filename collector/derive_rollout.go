package collector

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// rolloutHealth is the strategy-aware rollout state of a StatefulSet.
type rolloutHealth struct {
	known        bool // false when spec.replicas is nil: no rollout samples
	inProgress   bool
	stalled      bool
	partition    *int32 // nil for OnDelete
	lastProgress time.Time
	blocking     *blockingPod
	outdatedPods *int // nil when the update revision is unknown
}

type blockingPod struct{ pod, reason string }

// rolloutProgress is what the exporter remembers between derivations to tell when a
// rollout last moved.
type rolloutProgress struct {
	signature progressSignature
	at        time.Time
}

// progressSignature changes whenever a rollout moves.
type progressSignature struct {
	observedGeneration                  int64
	updateRevision, currentRevision     string
	updated, ready, current             int32
	updatedInScope, readyUpdatedInScope int
}

func deriveRollout(in statefulSetInputs, prev *rolloutProgress, now time.Time, stallAfter time.Duration) (rolloutHealth, *rolloutProgress) {
	set := in.set
	var r rolloutHealth
	if set.Spec.Replicas == nil {
		return r, prev
	}
	r.known = true
	desired := int(max(*set.Spec.Replicas, 0))
	onDelete := set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType
	partition := 0
	if !onDelete {
		p := int32(0)
		if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			p = *ru.Partition
		}
		r.partition = &p
		partition = int(p)
	}
	start := 0
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		start = int(set.Spec.Ordinals.Start)
	}
	updateRevision := set.Status.UpdateRevision

	// Pods by index (ordinal minus the start ordinal), counted only within the desired range.
	byIndex := make(map[int]*corev1.Pod, len(in.pods))
	outdated := 0
	for _, p := range in.pods {
		if updateRevision != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] != updateRevision {
			outdated++
		}
		if ord, ok := podOrdinal(set.Name, p.Name); ok && ord >= start && ord-start < desired {
			byIndex[ord-start] = p
		}
	}
	if updateRevision != "" {
		r.outdatedPods = &outdated
	}

	sig := progressSignature{
		observedGeneration: set.Status.ObservedGeneration,
		updateRevision:     updateRevision,
		currentRevision:    set.Status.CurrentRevision,
		updated:            set.Status.UpdatedReplicas,
		ready:              set.Status.ReadyReplicas,
		current:            set.Status.CurrentReplicas,
	}
	for i, p := range byIndex {
		if i < partition || updateRevision == "" || p.Labels[appsv1.ControllerRevisionHashLabelKey] != updateRevision {
			continue
		}
		sig.updatedInScope++
		if podReady(p) && p.DeletionTimestamp == nil {
			sig.readyUpdatedInScope++
		}
	}

	needed := max(desired-partition, 0)
	switch {
	case onDelete || desired == 0:
		r.inProgress = false
	default:
		r.inProgress = set.Generation > set.Status.ObservedGeneration
		switch {
		case updateRevision == "":
			r.inProgress = r.inProgress || int(set.Status.UpdatedReplicas) < needed
		case partition == 0 && set.Status.CurrentRevision != "":
			// Kubernetes moves currentRevision to updateRevision once every pod is
			// updated and Ready.
			r.inProgress = r.inProgress || set.Status.CurrentRevision != updateRevision
		default:
			// With a partition currentRevision stays behind for good: only the pods at
			// or above the partition must be updated and Ready.
			r.inProgress = r.inProgress || sig.readyUpdatedInScope < needed
		}
	}

	next := &rolloutProgress{signature: sig, at: now}
	switch {
	case prev == nil:
		next.at = initialProgressTime(in, now)
	case prev.signature == sig:
		next.at = prev.at
	}
	r.lastProgress = next.at
	r.stalled = r.inProgress && now.Sub(next.at) >= stallAfter
	if r.inProgress {
		r.blocking = findBlockingPod(set, byIndex, desired, partition, updateRevision)
	}
	return r, next
}

// initialProgressTime estimates when a rollout last moved from what the objects record:
// the newest pod creation or Ready transition, else the StatefulSet's creation.
func initialProgressTime(in statefulSetInputs, now time.Time) time.Time {
	latest := in.set.CreationTimestamp.Time
	for _, p := range in.pods {
		if t := p.CreationTimestamp.Time; t.After(latest) {
			latest = t
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.LastTransitionTime.After(latest) {
				latest = c.LastTransitionTime.Time
			}
		}
	}
	if latest.IsZero() || latest.After(now) {
		return now
	}
	return latest
}

// findBlockingPod names the pod the StatefulSet controller waits on. With OrderedReady
// the controller stops at the lowest ordinal that is missing or not Ready. Otherwise the
// rolling update walks down from the highest ordinal: it replaces pods on the old
// revision and waits on an updated pod that is not Ready.
func findBlockingPod(set *appsv1.StatefulSet, byIndex map[int]*corev1.Pod, desired, partition int, updateRevision string) *blockingPod {
	name := func(i int) string { return podName(set, i) }
	if set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		// The first gap is at most len(byIndex), which bounds the walk for huge replicas.
		for i := 0; i < min(desired, len(byIndex)+1); i++ {
			if p := byIndex[i]; p == nil || !podReady(p) || p.DeletionTimestamp != nil {
				return &blockingPod{pod: name(i), reason: podReason(p)}
			}
		}
		return nil
	}
	// The walk ends at the first missing pod, so huge replica counts stay cheap.
	for i := desired - 1; i >= partition; i-- {
		p := byIndex[i]
		switch {
		case p == nil, p.DeletionTimestamp != nil:
			return &blockingPod{pod: name(i), reason: podReason(p)}
		case p.Labels[appsv1.ControllerRevisionHashLabelKey] != updateRevision:
			return nil // the controller replaces it next: progress, not a block
		case !podReady(p):
			return &blockingPod{pod: name(i), reason: podReason(p)}
		}
	}
	return nil
}

func podName(set *appsv1.StatefulSet, index int) string {
	start := 0
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		start = int(set.Spec.Ordinals.Start)
	}
	return set.Name + "-" + strconv.Itoa(start+index)
}
