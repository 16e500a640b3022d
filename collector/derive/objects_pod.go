package derive

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Pod is what the derivations read of a pod (see compact.go): its controlling
// StatefulSet, revision, claims, sidecars, scheduling gates and, before it has a node,
// its node selector, required node affinity and tolerations (one interned podSpec for
// all the replicas of a revision); its node, times, phase and reason, the PodScheduled
// and Ready conditions (of an Unschedulable PodScheduled, the categories of the
// scheduler's message only), per container its readiness, start, the reasons of its
// states (no messages; the phase, reason, conditions and container states are one
// interned podState per combination) and when its last termination finished, and the
// sum of the restart counts.
type Pod struct {
	objectMeta
	uid        UID
	spec       *podSpec
	node       unique.Handle[string]
	created    stamp
	readySince stamp // the Ready condition's last transition
	state      *podState
	rare       *podRare // nil when the pod is not terminating and no container has restarted or terminated
}

// podRare is what few pods have.
type podRare struct {
	deleted stamp
	// finished are when the containers' last terminations finished, by container.
	finished []stamp
	restarts int64 // the sum of the containers' restart counts (negative ones count 0)
}

// podSpec is what a StatefulSet's replicas share.
type podSpec struct {
	Owner    string // the controlling StatefulSet's namespace/name, "" for none
	Revision string // the controller-revision-hash label
	Claims   []podClaim
	Sidecars []string // init containers with restartPolicy Always
	Gated    bool     // the pod has scheduling gates
	// The scheduling constraints, kept only while the pod has no node.
	NodeSelector map[string]string    `json:",omitempty"`
	Affinity     *corev1.NodeSelector `json:",omitempty"`
	Tolerations  []corev1.Toleration  `json:",omitempty"`
}

// podClaim is a PersistentVolumeClaim volume: the claim Name, or with PerPod the claim
// Name-<pod name>, as a StatefulSet's volume claim templates make them.
type podClaim struct {
	Name   string
	PerPod bool `json:",omitempty"`
}

// podStatus is the pod's phase, reason and conditions.
type podStatus struct {
	phase            corev1.PodPhase
	reason           string
	scheduled, ready condition
}

// condition is a pod condition without its times; present is false when the pod has
// none of its type.
type condition struct {
	present bool
	status  corev1.ConditionStatus
	reason  string
	message string
}

// podState is the pod's status and the states of its init containers, then of its
// containers.
type podState struct {
	status podStatus
	states []unique.Handle[containerState]
	inits  int
}

// containerState is a container's name, readiness and the reasons of its states; the
// *Set fields tell which states it has.
type containerState struct {
	name                                string
	ready                               bool
	startedSet, started                 bool
	waitingSet, running, terminatedSet  bool
	lastTerminatedSet                   bool
	waiting, terminated, lastTerminated string
}

var (
	podSpecs  interner[podSpec]
	podStates interner[podState]
)

// PodFrom returns the compact form of a pod.
func PodFrom(in *corev1.Pod) *Pod {
	out := &Pod{
		objectMeta: metaOf(&in.ObjectMeta),
		uid:        UIDOf(in.UID),
		node:       intern(in.Spec.NodeName),
		created:    stampOf(&in.CreationTimestamp),
	}
	rare := &podRare{deleted: stampOf(in.DeletionTimestamp)}
	out.spec = podSpecOf(in)
	st := podStatus{phase: in.Status.Phase, reason: in.Status.Reason}
	for _, c := range in.Status.Conditions {
		switch {
		case c.Type == corev1.PodScheduled && !st.scheduled.present:
			st.scheduled = condition{present: true, status: c.Status, reason: c.Reason}
			// The scheduler's message only as its categories: the full text ("0/8 nodes
			// are available: ...") is long and changes with the node count.
			if c.Reason == corev1.PodReasonUnschedulable {
				st.scheduled.message = strings.Join(SchedulingCategories(c.Message), ",")
			}
		case c.Type == corev1.PodReady && !st.ready.present:
			st.ready = condition{present: true, status: c.Status, reason: c.Reason}
			out.readySince = stampOf(&c.LastTransitionTime)
		}
	}
	statuses := slices.Concat(in.Status.InitContainerStatuses, in.Status.ContainerStatuses)
	ps := &podState{status: st, inits: len(in.Status.InitContainerStatuses)}
	key := fmt.Sprintf("%#v %d", st, ps.inits)
	for i, c := range statuses {
		state, finished := containerStateOf(c)
		ps.states = append(ps.states, unique.Make(state))
		key += fmt.Sprintf(" %#v", state)
		rare.restarts += int64(max(c.RestartCount, 0))
		if finished.set() {
			if rare.finished == nil {
				rare.finished = make([]stamp, len(statuses))
			}
			rare.finished[i] = finished
		}
	}
	out.state = podStates.intern(key, ps)
	if rare.deleted.set() || rare.finished != nil || rare.restarts > 0 {
		out.rare = rare
	}
	return out
}

func podSpecOf(in *corev1.Pod) *podSpec {
	s := &podSpec{Revision: in.Labels[appsv1.ControllerRevisionHashLabelKey], Gated: len(in.Spec.SchedulingGates) > 0}
	if ref := metav1.GetControllerOfNoCopy(in); ref != nil && ref.Kind == "StatefulSet" {
		s.Owner = in.Namespace + "/" + ref.Name
	}
	for _, v := range in.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		c := podClaim{Name: v.PersistentVolumeClaim.ClaimName}
		if base, ok := strings.CutSuffix(c.Name, "-"+in.Name); ok && base != "" {
			c = podClaim{Name: base, PerPod: true}
		}
		s.Claims = append(s.Claims, c)
	}
	for _, c := range in.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			s.Sidecars = append(s.Sidecars, c.Name)
		}
	}
	if in.Spec.NodeName == "" {
		// What decides which nodes are usable for a pod's volumes; dropped once the pod
		// has a node, so running pods do not carry it.
		s.NodeSelector = in.Spec.NodeSelector
		if a := in.Spec.Affinity; a != nil && a.NodeAffinity != nil {
			s.Affinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		}
		s.Tolerations = in.Spec.Tolerations
	}
	key, err := json.Marshal(s)
	if err != nil {
		return s
	}
	return podSpecs.intern(string(key), s)
}

// containerStateOf returns a container's state and when its last termination finished
// (0 when it has none).
func containerStateOf(c corev1.ContainerStatus) (containerState, stamp) {
	st := containerState{name: c.Name, ready: c.Ready, startedSet: c.Started != nil, started: c.Started != nil && *c.Started}
	if w := c.State.Waiting; w != nil {
		st.waitingSet, st.waiting = true, w.Reason
	}
	st.running = c.State.Running != nil
	if t := c.State.Terminated; t != nil {
		st.terminatedSet, st.terminated = true, t.Reason
	}
	var finished stamp
	if t := c.LastTerminationState.Terminated; t != nil {
		st.lastTerminatedSet, st.lastTerminated = true, t.Reason
		finished = stampOf(&t.FinishedAt)
	}
	return st, finished
}

// GetObjectKind and DeepCopyObject make a Pod a runtime.Object, as informers need; a
// Pod is never modified, so a copy shares its parts.
func (p *Pod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (p *Pod) DeepCopyObject() runtime.Object {
	out := *p
	return &out
}

// Unchanged tells whether old is a Pod equal to p but for its resourceVersion.
func (p *Pod) Unchanged(old any) bool { return unchanged(p, old) }

// NodeName is the name of the pod's node, "" when it has none.
func (p *Pod) NodeName() string { return value(p.node) }

// Terminating tells whether the pod has a deletion timestamp.
func (p *Pod) Terminating() bool { return p.rare != nil && p.rare.deleted.set() }

// RestartCount is the sum of the restart counts of the pod's containers (negative ones
// count 0).
func (p *Pod) RestartCount() int64 {
	if p.rare == nil {
		return 0
	}
	return p.rare.restarts
}

// GetUID is the pod's UID (see UID).
func (p *Pod) GetUID() types.UID { return p.uid.String() }

// UIDKey is the pod's UID in its compact form.
func (p *Pod) UIDKey() UID { return p.uid }

// claimNames calls fn with the name of each PersistentVolumeClaim volume of the pod.
func (p *Pod) claimNames(fn func(name string) bool) {
	for _, c := range p.spec.Claims {
		name := c.Name
		if c.PerPod {
			name += "-" + p.name
		}
		if !fn(name) {
			return
		}
	}
}

func (p *Pod) phase() corev1.PodPhase { return p.state.status.phase }

func (p *Pod) conditions() podStatus { return p.state.status }

// allStates, initStates and states are the states of every container, init containers
// first, of the init containers and of the containers.
func (p *Pod) allStates() []unique.Handle[containerState] { return p.state.states }
func (p *Pod) initStates() []unique.Handle[containerState] {
	return p.state.states[:p.state.inits]
}
func (p *Pod) states() []unique.Handle[containerState] {
	return p.state.states[p.state.inits:]
}

// finishedAt is when the last termination of the i-th container (of allStates) finished,
// the zero time when it has none.
func (p *Pod) finishedAt(i int) time.Time {
	if p.rare == nil || p.rare.finished == nil {
		return time.Time{}
	}
	return p.rare.finished[i].time()
}

// deletedAt is the pod's deletion timestamp, the zero time when it has none.
func (p *Pod) deletedAt() time.Time {
	if p.rare == nil {
		return time.Time{}
	}
	return p.rare.deleted.time()
}
