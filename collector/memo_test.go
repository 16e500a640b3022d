package collector

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/tests/bench/fixture"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// TestMemoMatchesFreshDerivation checks the memoised collection (memo.go)
// against one that derives every StatefulSet on every collection: two collectors hold
// the same fixture cluster, receive the same random changes of every kind the
// derivations read, and their clocks advance past the rollout-stall and stuck-terminating
// thresholds. After every step their whole expositions must be equal. The clusters are
// dense (a node hosts pods of every namespace) or sparse (one StatefulSet per namespace,
// a few pods per node), where a change of a node or a volume that dirty tracking takes
// to the wrong namespaces shows.
func TestMemoMatchesFreshDerivation(t *testing.T) {
	for _, c := range []struct {
		name string
		spec fixture.Spec
	}{
		{"dense", fixture.Spec{Pods: 400}},
		{"sparse", fixture.Spec{Pods: 400, Nodes: 100, SetsPerNamespace: 1}},
	} {
		t.Run(c.name, func(t *testing.T) { testMemoMatchesFreshDerivation(t, c.spec) })
	}
}

func testMemoMatchesFreshDerivation(t *testing.T, spec fixture.Spec) {
	clock := &testClock{t: benchNow}
	pair := newEnvPair(t, spec, clock)
	memo := pair.memo
	rnd := rand.New(rand.NewPCG(1, 2))
	change, add := pair.change, pair.add
	keys := func(resource string) []string {
		return memo.c.watch.resources[resource].informer.GetIndexer().ListKeys()
	}
	pick := func(resource string) string {
		ks := keys(resource)
		if len(ks) == 0 {
			return ""
		}
		return ks[rnd.IntN(len(ks))]
	}

	steps := []func(){
		func() { // a pod restarts and crash-loops, or recovers
			// Finished up to 70 minutes ago: the clock steps carry it out of the window.
			finished := metav1.NewTime(clock.Now().Add(-time.Duration(rnd.IntN(4200)) * time.Second))
			change(resPods, pick(resPods), func(o any) any {
				p := o.(*corev1.Pod)
				if len(p.Status.ContainerStatuses) == 0 {
					return p
				}
				cs := &p.Status.ContainerStatuses[0]
				if cs.State.Waiting == nil {
					cs.RestartCount++
					cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
					cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: finished}
				} else {
					cs.State.Waiting = nil
				}
				return p
			})
		},
		func() { // a pod turns NotReady or Ready
			change(resPods, pick(resPods), func(o any) any {
				p := o.(*corev1.Pod)
				for i := range p.Status.Conditions {
					if p.Status.Conditions[i].Type == corev1.PodReady {
						p.Status.Conditions[i].Status = map[bool]corev1.ConditionStatus{true: corev1.ConditionFalse, false: corev1.ConditionTrue}[p.Status.Conditions[i].Status == corev1.ConditionTrue]
					}
				}
				return p
			})
		},
		func() { // a pod starts terminating
			ago, grace := time.Duration(rnd.IntN(600))*time.Second, int64(rnd.IntN(120))
			change(resPods, pick(resPods), func(o any) any {
				p := o.(*corev1.Pod)
				if p.DeletionTimestamp == nil {
					p.DeletionTimestamp = &metav1.Time{Time: clock.Now().Add(-ago)}
					p.DeletionGracePeriodSeconds = ptr.To(grace)
				}
				return p
			})
		},
		func() { change(resPods, pick(resPods), func(any) any { return nil }) }, // a pod is deleted
		func() { // a pod is rescheduled on another node
			nodes := keys(resNodes)
			if len(nodes) == 0 {
				return
			}
			node := nodes[rnd.IntN(len(nodes))]
			change(resPods, pick(resPods), func(o any) any {
				p := o.(*corev1.Pod)
				p.Spec.NodeName = node
				return p
			})
		},
		func() { // a pod is evicted: Pending again, without a node (its volume may have none usable)
			change(resPods, pick(resPods), func(o any) any {
				p := o.(*corev1.Pod)
				p.Spec.NodeName = ""
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
				return p
			})
		},
		func() { // a volume becomes local to one node (which may be gone)
			nodes := keys(resNodes)
			if len(nodes) == 0 {
				return
			}
			node := nodes[rnd.IntN(len(nodes))]
			change(resPVs, pick(resPVs), func(o any) any {
				pv := o.(*corev1.PersistentVolume)
				pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}}}
				return pv
			})
		},
		func() { // a node's Ready condition flips, it is cordoned or becomes unreachable
			what := rnd.IntN(3)
			change(resNodes, pick(resNodes), func(o any) any {
				n := o.(*corev1.Node)
				switch what {
				case 0:
					for i := range n.Status.Conditions {
						n.Status.Conditions[i].Status = map[bool]corev1.ConditionStatus{true: corev1.ConditionFalse, false: corev1.ConditionTrue}[n.Status.Conditions[i].Status == corev1.ConditionTrue]
					}
				case 1:
					n.Spec.Unschedulable = !n.Spec.Unschedulable
				case 2:
					n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
				}
				return n
			})
		},
		func() { // a node moves zone, or is deleted
			del, zone := rnd.IntN(3) == 0, fixture.Zones[rnd.IntN(len(fixture.Zones))]
			change(resNodes, pick(resNodes), func(o any) any {
				if del {
					return nil
				}
				n := o.(*corev1.Node)
				n.Labels = map[string]string{fixture.NodeZoneKey: zone}
				return n
			})
		},
		func() { // a volume's zone changes, or the volume is deleted
			del, zone := rnd.IntN(4) == 0, fixture.Zones[rnd.IntN(len(fixture.Zones))]
			change(resPVs, pick(resPVs), func(o any) any {
				if del {
					return nil
				}
				pv := o.(*corev1.PersistentVolume)
				pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: fixture.VolumeZoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
				}}}}
				return pv
			})
		},
		func() { // a volume is Released or Failed, its claim deleted or not, or bound again
			phase := []corev1.PersistentVolumePhase{corev1.VolumeReleased, corev1.VolumeFailed, corev1.VolumeBound}[rnd.IntN(3)]
			volume := pick(resPVs)
			claim := ""
			change(resPVs, volume, func(o any) any {
				pv := o.(*corev1.PersistentVolume)
				pv.Status.Phase = phase
				pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
				if ref := pv.Spec.ClaimRef; ref != nil && rnd.IntN(2) == 0 {
					claim = ref.Namespace + "/" + ref.Name
				}
				return pv
			})
			if claim != "" && phase != corev1.VolumeBound {
				change(resPVCs, claim, func(any) any { return nil })
			}
		},
		func() { // a claim goes Pending, loses its volume, or is deleted
			what := rnd.IntN(3)
			change(resPVCs, pick(resPVCs), func(o any) any {
				c := o.(*corev1.PersistentVolumeClaim)
				switch what {
				case 0:
					c.Status.Phase = corev1.ClaimPending
				case 1:
					c.Spec.VolumeName = ""
				case 2:
					return nil
				}
				return c
			})
		},
		func() { // the default storage class moves, a class's binding mode flips, or a class is deleted
			what := rnd.IntN(8)
			change(resStorageClasses, pick(resStorageClasses), func(o any) any {
				sc := o.(*storagev1.StorageClass)
				switch {
				case what == 0:
					return nil
				case what < 4:
					if sc.Annotations[derive.AnnDefaultStorageClass] == "true" {
						sc.Annotations = nil
					} else {
						sc.Annotations = map[string]string{derive.AnnDefaultStorageClass: "true"}
					}
					sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
				default: // the annotations kept: a class that is not the default marks its own questions
					mode := storagev1.VolumeBindingImmediate
					if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == mode {
						mode = storagev1.VolumeBindingWaitForFirstConsumer
					}
					sc.VolumeBindingMode = &mode
				}
				return sc
			})
		},
		func() { // a PDB is deleted, or one is added
			if rnd.IntN(2) == 0 {
				change(resPodDisruptionBudgets, pick(resPodDisruptionBudgets), func(any) any { return nil })
				return
			}
			set := pick(resStatefulSets)
			ns, name, _ := cacheSplit(set)
			add(resPodDisruptionBudgets, &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("pdb-%d", rnd.Int())},
				Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}}},
			})
		},
		func() { // a governing Service is deleted, turns into a ClusterIP Service, or is added
			switch rnd.IntN(3) {
			case 0:
				change(resServices, pick(resServices), func(any) any { return nil })
			case 1:
				change(resServices, pick(resServices), func(o any) any {
					svc := o.(*corev1.Service)
					svc.Spec.ClusterIP = "10.100.0.1"
					return svc
				})
			default:
				obj, ok, _ := memo.c.watch.resources[resStatefulSets].informer.GetIndexer().GetByKey(pick(resStatefulSets))
				if !ok {
					return
				}
				set := obj.(*derive.StatefulSet)
				add(resServices, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Namespace: set.Namespace, Name: set.Spec.ServiceName},
					Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone},
				})
			}
		},
		func() { // a volume attachment fails
			pv := pick(resPVs)
			if pv == "" {
				return
			}
			// One node per attachment: two failing attachments of one volume to one node
			// would make duplicate series (a case of its own, not the memo's).
			id := rnd.Int()
			add(resVolumeAttachments, &storagev1.VolumeAttachment{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("csi-%d", id)},
				Spec:       storagev1.VolumeAttachmentSpec{NodeName: fmt.Sprintf("node-%d", id), Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}},
				Status:     storagev1.VolumeAttachmentStatus{AttachError: &storagev1.VolumeError{Time: metav1.Time{Time: clock.Now()}}},
			})
		},
		func() { // a StatefulSet starts a rollout, or is deleted
			del := rnd.IntN(40) == 0
			change(resStatefulSets, pick(resStatefulSets), func(o any) any {
				if del {
					return nil
				}
				s := o.(*appsv1.StatefulSet)
				s.Status.UpdateRevision += "-next"
				s.Status.UpdatedReplicas = 0
				return s
			})
		},
		func() { clock.Advance(time.Duration(rnd.IntN(300)) * time.Second) }, // time passes
		func() { // a StatefulSet is scaled up or down
			replicas := int32(rnd.IntN(5))
			change(resStatefulSets, pick(resStatefulSets), func(o any) any {
				s := o.(*appsv1.StatefulSet)
				s.Spec.Replicas = ptr.To(replicas)
				s.Status.Replicas = min(s.Status.Replicas, replicas)
				s.Status.ReadyReplicas = min(s.Status.ReadyReplicas, replicas)
				return s
			})
		},
		func() { // a StatefulSet is added, in its namespace or a new one, without pods yet
			key := pick(resStatefulSets)
			obj, ok, _ := memo.c.watch.resources[resStatefulSets].informer.GetIndexer().GetByKey(key)
			if !ok {
				return
			}
			s := memo.rawOf(resStatefulSets, key, obj).DeepCopyObject().(*appsv1.StatefulSet)
			s.Name = fmt.Sprintf("%s-copy-%d", s.Name, rnd.IntN(1000))
			if rnd.IntN(2) == 0 {
				s.Namespace = fmt.Sprintf("added-%d", rnd.IntN(5))
			}
			add(resStatefulSets, s)
		},
		func() { // a pod is added to a StatefulSet
			key := pick(resPods)
			obj, ok, _ := memo.c.watch.resources[resPods].informer.GetIndexer().GetByKey(key)
			if !ok {
				return
			}
			p := memo.rawOf(resPods, key, obj).DeepCopyObject().(*corev1.Pod)
			p.Name = fmt.Sprintf("%s-%d", p.Name, 100+rnd.IntN(1000))
			p.UID = types.UID(p.Name)
			add(resPods, p)
		},
	}

	for step := range memoTestSteps {
		steps[rnd.IntN(len(steps))]()
		if got, want := pair.expositions(); got != want {
			t.Fatalf("step %d: memoised exposition differs from a fresh derivation\n%s", step, firstDiff(got, want))
		}
	}

	// With nothing changed, a collection reuses every memo.
	before := map[string]*setMemo{}
	for k, m := range memo.c.memos {
		before[k] = m
	}
	benchExposition(t, memo.c)
	reused := 0
	for k, m := range memo.c.memos {
		if before[k] == m {
			reused++
		}
	}
	if reused != len(before) || reused == 0 {
		t.Errorf("a collection without changes reused %d of %d memos", reused, len(before))
	}
}

// envPair is two collectors over the same cluster, receiving the same changes: one
// memoises, the other derives everything on every collection.
type envPair struct {
	t           *testing.T
	memo, fresh *benchEnv
}

func newEnvPair(t *testing.T, spec fixture.Spec, clock *testClock) *envPair {
	p := &envPair{t: t, memo: newRawBenchEnvOf(t, spec, WithClock(clock.Now)), fresh: newRawBenchEnvOf(t, spec, WithClock(clock.Now))}
	p.fresh.c.noMemo = true
	return p
}

// change applies fn to a copy of the object of resource at key (as decoded, before the
// transform), in both envs; fn returning nil deletes it.
func (p *envPair) change(resource, key string, fn func(obj any) any) {
	for _, e := range []*benchEnv{p.memo, p.fresh} {
		old, ok, _ := e.c.watch.resources[resource].informer.GetIndexer().GetByKey(key)
		if !ok {
			continue
		}
		obj := fn(e.rawOf(resource, key, old).DeepCopyObject())
		if obj == nil {
			if err := e.c.watch.resources[resource].informer.GetIndexer().Delete(old); err != nil {
				p.t.Fatal(err)
			}
			e.handler(resource).OnDelete(old)
			continue
		}
		e.update(p.t, resource, old, e.transform(p.t, resource, obj.(k8sruntime.Object)))
	}
}

// add adds obj in both envs.
func (p *envPair) add(resource string, obj any) {
	for _, e := range []*benchEnv{p.memo, p.fresh} {
		slim := e.transform(p.t, resource, obj.(k8sruntime.Object))
		if err := e.c.watch.resources[resource].informer.GetIndexer().Add(slim); err != nil {
			p.t.Fatal(err)
		}
		e.handler(resource).OnAdd(slim, false)
	}
}

// expositions collects both: the memoised exposition and the fresh one.
func (p *envPair) expositions() (memo, fresh string) {
	return benchExposition(p.t, p.memo.c), benchExposition(p.t, p.fresh.c)
}

// TestClusterScopedChangesReachAskingNamespaces: a change of a node or a volume must
// reach the StatefulSets whose derivations read it, here in a namespace with no pod on
// that node and no claim of that volume left: a Pending pod whose volume only one node
// can host, that node then cordoned; a claim deleted, its volume Released afterwards; a
// claim Pending for a class that is not the default, whose binding mode then flips, and
// which then becomes the default of a claim without a class.
func TestClusterScopedChangesReachAskingNamespaces(t *testing.T) {
	clock := &testClock{t: benchNow}
	pair := newEnvPair(t, fixture.Spec{Pods: 400, Nodes: 100, SetsPerNamespace: 1}, clock)
	pods := pair.memo.c.watch.resources[resPods].informer.GetIndexer()
	pod := pods.List()[0].(*derive.Pod)
	ns := pod.GetNamespace()
	var node string
	for _, n := range pair.memo.c.watch.resources[resNodes].informer.GetIndexer().ListKeys() {
		if !namespacesWithPodsOn(pair.memo, n)[ns] {
			node = n
			break
		}
	}
	var claim, other *derive.PVC
	for _, o := range pair.memo.c.watch.resources[resPVCs].informer.GetIndexer().List() {
		switch c := o.(*derive.PVC); {
		case c.GetNamespace() != ns:
		case strings.HasSuffix(c.GetName(), "-"+pod.GetName()):
			claim = c
		default:
			other = c
		}
	}
	if node == "" || claim == nil || claim.VolumeName() == "" || other == nil {
		t.Fatalf("fixture: no node without pods of %s (%q), or no bound claim of %s and another", ns, node, pod.GetName())
	}
	step := func(what string, changes func()) {
		t.Helper()
		before, _ := pair.expositions()
		changes()
		got, want := pair.expositions()
		if got != want {
			t.Fatalf("%s: memoised exposition differs from a fresh derivation\n%s", what, firstDiff(got, want))
		}
		if got == before {
			t.Fatalf("%s: the exposition did not change; the test shows nothing", what)
		}
	}

	step("pod Pending, its volume pinned to one node", func() {
		pair.change(resPVs, claim.VolumeName(), func(o any) any {
			pv := o.(*corev1.PersistentVolume)
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}}
			return pv
		})
		pair.change(resPods, ns+"/"+pod.GetName(), func(o any) any {
			p := o.(*corev1.Pod)
			p.Spec.NodeName = ""
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
			return p
		})
	})
	step("that node cordoned", func() {
		pair.change(resNodes, node, func(o any) any {
			n := o.(*corev1.Node)
			n.Spec.Unschedulable = true
			return n
		})
	})
	step("claim deleted", func() {
		pair.change(resPVCs, ns+"/"+claim.GetName(), func(any) any { return nil })
	})
	step("its volume Released, to be retained", func() {
		pair.change(resPVs, claim.VolumeName(), func(o any) any {
			pv := o.(*corev1.PersistentVolume)
			pv.Status.Phase = corev1.VolumeReleased
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
			return pv
		})
	})
	step("another claim Pending, of a class that is not the default", func() {
		pair.change(resPVCs, ns+"/"+other.GetName(), func(o any) any {
			c := o.(*corev1.PersistentVolumeClaim)
			c.Spec.StorageClassName, c.Spec.VolumeName, c.Annotations = ptr.To("gp2"), "", nil // no node selected yet
			c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			c.CreationTimestamp = metav1.NewTime(benchNow.Add(-time.Hour)) // its reason is exported with its creation time
			return c
		})
	})
	step("that class's binding mode flips", func() {
		pair.change(resStorageClasses, "gp2", func(o any) any {
			sc := o.(*storagev1.StorageClass)
			mode := storagev1.VolumeBindingWaitForFirstConsumer
			if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == mode {
				mode = storagev1.VolumeBindingImmediate
			}
			sc.VolumeBindingMode = &mode
			return sc
		})
	})
	step("that claim's class left to the default", func() {
		pair.change(resPVCs, ns+"/"+other.GetName(), func(o any) any {
			c := o.(*corev1.PersistentVolumeClaim)
			c.Spec.StorageClassName = nil
			return c
		})
	})
	step("that class annotated as the default too (the first by name of two)", func() {
		pair.change(resStorageClasses, "gp2", func(o any) any {
			sc := o.(*storagev1.StorageClass)
			sc.Annotations = map[string]string{derive.AnnDefaultStorageClass: "true"}
			return sc
		})
	})
}

// TestDirtyTrackingRevisitsChangedNamespacesOnly checks that a collection revalidates
// the memos of the namespaces where something changed, of every namespace after a change
// of a cluster-scoped kind, and of none when nothing changed or an update changed nothing.
func TestDirtyTrackingRevisitsChangedNamespacesOnly(t *testing.T) {
	clock := &testClock{t: benchNow} // the time stands still: no time-dependent answer changes
	e := newRawBenchEnv(t, 2000, WithClock(clock.Now))
	benchExposition(t, e.c)
	total := len(e.c.memos)
	revalidated := func() int {
		e.c.valids = 0
		benchExposition(t, e.c)
		return e.c.valids
	}
	if n := revalidated(); n != 0 {
		t.Errorf("a collection without changes revalidated %d memos, want 0", n)
	}

	// A pod turns NotReady: its namespace is revisited, the others are not.
	indexer := e.c.watch.resources[resPods].informer.GetIndexer()
	key := e.podKeys[len(e.podKeys)/2]
	old, _, _ := indexer.GetByKey(key)
	raw := e.rawOf(resPods, key, old).(*corev1.Pod).DeepCopy()
	notReady(raw)
	e.update(t, resPods, old, e.transform(t, resPods, raw))
	memosIn := func(namespace string) int {
		n := 0
		for k := range e.c.memos {
			if ns, _, _ := cacheSplit(k); ns == namespace {
				n++
			}
		}
		return n
	}
	inNamespace := memosIn(raw.Namespace)
	if n := revalidated(); n != inNamespace || n >= total {
		t.Errorf("after a pod change, a collection revalidated %d memos, want the %d of namespace %s (of %d)", n, inNamespace, raw.Namespace, total)
	}

	// A node update that changes nothing the exporter keeps hands back the cached node.
	nodes := e.c.watch.resources[resNodes].informer.GetIndexer()
	nodeKey := nodes.ListKeys()[0]
	node, _, _ := nodes.GetByKey(nodeKey)
	e.update(t, resNodes, node, node)
	if n := revalidated(); n != 0 {
		t.Errorf("after a no-op node update, a collection revalidated %d memos, want 0", n)
	}

	// A volume attachment fails: the namespace of the claim of its volume is revisited,
	// the others are not.
	claims := e.c.watch.resources[resPVCs].informer.GetIndexer().List()
	claim := claims[len(claims)/3].(*derive.PVC)
	volume := claim.VolumeName()
	attachment := e.transform(t, resVolumeAttachments, &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-failing"},
		Spec:       storagev1.VolumeAttachmentSpec{NodeName: "node-x", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &volume}},
		Status:     storagev1.VolumeAttachmentStatus{AttachError: &storagev1.VolumeError{Message: "rpc error"}},
	})
	if err := e.c.watch.resources[resVolumeAttachments].informer.GetIndexer().Add(attachment); err != nil {
		t.Fatal(err)
	}
	e.handler(resVolumeAttachments).OnAdd(attachment, false)
	if n, want := revalidated(), memosIn(claim.GetNamespace()); n != want || n >= total {
		t.Errorf("after a failed attachment of %s, a collection revalidated %d memos, want the %d of namespace %s (of %d)", volume, n, want, claim.GetNamespace(), total)
	}

	// A node turns unschedulable: the namespaces with a pod on it are revisited (and
	// those that asked which nodes are usable), each memo at most once, and none is
	// derived again needlessly.
	rawNode := e.rawOf(resNodes, nodeKey, node).(*corev1.Node).DeepCopy()
	rawNode.Spec.Unschedulable = !rawNode.Spec.Unschedulable
	e.update(t, resNodes, node, e.transform(t, resNodes, rawNode))
	onNode := 0
	for ns := range namespacesWithPodsOn(e, rawNode.Name) {
		onNode += memosIn(ns)
	}
	if n := revalidated(); n < onNode || n > total || onNode == 0 {
		t.Errorf("after a node change, a collection revalidated %d memos, want at least the %d of the namespaces with pods on %s (of %d)", n, onNode, rawNode.Name, total)
	}
	if n := revalidated(); n != 0 {
		t.Errorf("a collection after that revalidated %d memos, want 0", n)
	}
}

func namespacesWithPodsOn(e *benchEnv, node string) map[string]bool {
	out := map[string]bool{}
	for _, o := range e.c.watch.resources[resPods].informer.GetIndexer().List() {
		if p := o.(*derive.Pod); p.NodeName() == node {
			out[p.GetNamespace()] = true
		}
	}
	return out
}

// memoTestSteps is the number of random changes of TestMemoMatchesFreshDerivation.
var memoTestSteps = 300

func cacheSplit(key string) (namespace, name string, ok bool) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", key, false
}

// benchExposition is the text exposition of the collector's workload families.
func benchExposition(t testing.TB, c *Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if mf.GetName() == "statefulset_exporter_collect_duration_seconds" || mf.GetName() == "statefulset_exporter_last_event_timestamp_seconds" {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func firstDiff(got, want string) string {
	gl, wl := bytes.Split([]byte(got), []byte("\n")), bytes.Split([]byte(want), []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			return fmt.Sprintf("line %d\n--- memoised\n%s\n--- fresh\n%s", i, gl[i], wl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d memoised lines, %d fresh", len(gl), len(wl))
}

// TestPairTableForgetsUnusedPairs: label values come and go (here a StatefulSet's
// zone, made again 10,000 times with a new one); the shared pairs of the values no memo
// uses any more are forgotten, those in use kept and shared with the next memo.
func TestPairTableForgetsUnusedPairs(t *testing.T) {
	var zones *descShape
	for _, f := range workloadFamilies {
		if f.shape.name == "statefulset_pods_ready_per_zone" {
			zones = f.shape
		}
	}
	s := newMemoStore()
	s.build.shared = &s.pairs
	memoWith := func(zone string) *setMemo {
		s.build.labelSet(restartsFamilies[0].shape, []string{"ns", "db"}, 2)
		s.build.add(zones, 1, []string{"ns", "db", zone}, 2)
		_, sets := s.build.finish()
		return &setMemo{sets: sets}
	}
	for i := range 10000 {
		s.memos["ns/db"] = memoWith(fmt.Sprintf("zone-%d", i))
		s.sweepPairs()
	}
	if n := len(s.pairs.pairs); n > 300 {
		t.Errorf("the pair table holds %d pairs for a memo that uses 2", n)
	}
	m := s.memos["ns/db"]
	next := memoWith("zone-9999")
	if got := next.sets[1]; got[0] != m.sets[1][0] || got[1] != m.sets[1][1] || got[2] == m.sets[1][2] {
		t.Error("a memo made again shares not the namespace and zone pairs of its previous one, or shares its per-StatefulSet pair")
	}
}
