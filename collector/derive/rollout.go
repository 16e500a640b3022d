package derive

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// RolloutHealth is the strategy-aware rollout state of a StatefulSet.
type RolloutHealth struct {
	Known        bool // false when spec.replicas is nil: no rollout samples
	InProgress   bool
	Stalled      bool
	Partition    *int32 // nil for OnDelete
	LastProgress time.Time
	Blocking     *BlockingPod
	OutdatedPods *int // nil when the update revision is unknown
}

// BlockingPod is the pod a rollout in progress waits on, and why it is not serving: the
// pod's PodWhy reason, or WhyMissing when the pod does not exist.
type BlockingPod struct{ Pod, Reason string }

// Progress is what the exporter remembers between derivations to tell when a rollout
// last moved.
type Progress struct {
	signature progressSignature
	at        time.Time
}

// Stalled tells whether a rollout in progress whose progress this is has not moved for
// stallAfter at now: the one stall predicate of derivations and memos alike.
func (p *Progress) Stalled(now time.Time, stallAfter time.Duration) bool {
	return now.Sub(p.at) >= stallAfter
}

// progressSignature changes whenever a rollout moves.
type progressSignature struct {
	ObservedGeneration                  int64
	UpdateRevision, CurrentRevision     string
	Updated, Ready, Current             int32
	UpdatedInScope, ReadyUpdatedInScope int
}

func deriveRollout(in Inputs, prev *Progress, now time.Time, stallAfter time.Duration) (RolloutHealth, *Progress) {
	set := in.Set
	var r RolloutHealth
	if set.Spec.Replicas == nil {
		return r, prev
	}
	r.Known = true
	desired := int(max(*set.Spec.Replicas, 0))
	onDelete := set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType
	partition := 0
	if !onDelete {
		p := int32(0)
		if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			p = *ru.Partition
		}
		r.Partition = &p
		partition = int(p)
	}
	start := 0
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		start = int(set.Spec.Ordinals.Start)
	}
	updateRevision := set.Status.UpdateRevision

	// Pods by index (ordinal minus the start ordinal), counted only within the desired range.
	byIndex := make(map[int]*Pod, len(in.Pods))
	outdated := 0
	for _, p := range in.Pods {
		if updateRevision != "" && p.spec.Revision != updateRevision {
			outdated++
		}
		if ord, ok := podOrdinal(set.Name, p.GetName()); ok && ord >= start && ord-start < desired {
			byIndex[ord-start] = p
		}
	}
	if updateRevision != "" {
		r.OutdatedPods = &outdated
	}

	sig := progressSignature{
		ObservedGeneration: set.Status.ObservedGeneration,
		UpdateRevision:     updateRevision,
		CurrentRevision:    set.Status.CurrentRevision,
		Updated:            set.Status.UpdatedReplicas,
		Ready:              set.Status.ReadyReplicas,
		Current:            set.Status.CurrentReplicas,
	}
	for i, p := range byIndex {
		if i < partition || updateRevision == "" || p.spec.Revision != updateRevision {
			continue
		}
		sig.UpdatedInScope++
		if podReady(p) && !p.Terminating() {
			sig.ReadyUpdatedInScope++
		}
	}

	needed := max(desired-partition, 0)
	switch {
	case onDelete || desired == 0:
		r.InProgress = false
	default:
		r.InProgress = set.Generation > set.Status.ObservedGeneration
		switch {
		case updateRevision == "":
			r.InProgress = r.InProgress || int(set.Status.UpdatedReplicas) < needed
		case partition == 0 && set.Status.CurrentRevision != "":
			// Kubernetes moves currentRevision to updateRevision once every pod is
			// updated and Ready.
			r.InProgress = r.InProgress || set.Status.CurrentRevision != updateRevision
		default:
			// With a partition currentRevision stays behind for good: only the pods at
			// or above the partition must be updated and Ready.
			r.InProgress = r.InProgress || sig.ReadyUpdatedInScope < needed
		}
	}

	next := &Progress{signature: sig, at: now}
	switch {
	case prev == nil:
		next.at = initialProgressTime(in, now)
	case prev.signature == sig:
		next.at = prev.at
	}
	r.LastProgress = next.at
	r.Stalled = r.InProgress && next.Stalled(now, stallAfter)
	if r.InProgress {
		r.Blocking = findBlockingPod(set, byIndex, desired, partition, updateRevision)
	}
	return r, next
}

// initialProgressTime estimates when a rollout last moved from what the objects record:
// the newest pod creation or Ready transition, else the StatefulSet's creation.
func initialProgressTime(in Inputs, now time.Time) time.Time {
	latest := in.Set.CreationTimestamp.Time
	for _, p := range in.Pods {
		if t := p.created.time(); t.After(latest) {
			latest = t
		}
		if t := p.readySince.time(); p.readySince.set() && t.After(latest) {
			latest = t
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
func findBlockingPod(set *StatefulSet, byIndex map[int]*Pod, desired, partition int, updateRevision string) *BlockingPod {
	name := func(i int) string { return podName(set, i) }
	if set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		// The first gap is at most len(byIndex), which bounds the walk for huge replicas.
		for i := 0; i < min(desired, len(byIndex)+1); i++ {
			if p := byIndex[i]; p == nil || !podReady(p) || p.Terminating() {
				return &BlockingPod{Pod: name(i)}
			}
		}
		return nil
	}
	// The walk ends at the first missing pod, so huge replica counts stay cheap.
	for i := desired - 1; i >= partition; i-- {
		p := byIndex[i]
		switch {
		case p == nil, p.Terminating():
			return &BlockingPod{Pod: name(i)}
		case p.spec.Revision != updateRevision:
			return nil // the controller replaces it next: progress, not a block
		case !podReady(p):
			return &BlockingPod{Pod: name(i)}
		}
	}
	return nil
}

func podName(set *StatefulSet, index int) string {
	start := 0
	if set.Spec.Ordinals != nil && set.Spec.Ordinals.Start > 0 {
		start = int(set.Spec.Ordinals.Start)
	}
	return set.Name + "-" + strconv.Itoa(start+index)
}
