package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Watched resources, as named in the resource label of the self-metrics.
const (
	resStatefulSets         = "statefulsets"
	resPods                 = "pods"
	resPVCs                 = "persistentvolumeclaims"
	resPVs                  = "persistentvolumes"
	resNodes                = "nodes"
	resStorageClasses       = "storageclasses"
	resVolumeAttachments    = "volumeattachments"
	resPodDisruptionBudgets = "poddisruptionbudgets"
	resServices             = "services"
	resLeases               = "leases"
)

// allResources lists every watched resource in a stable order.
var allResources = []string{
	resStatefulSets, resPods, resPVCs, resPVs, resNodes, resStorageClasses,
	resVolumeAttachments, resPodDisruptionBudgets, resServices, resLeases,
}

// optionalResources may be switched off when RBAC forbids them; the rest keeps working.
var optionalResources = map[string]bool{resVolumeAttachments: true, resPodDisruptionBudgets: true, resServices: true, resLeases: true}

// dirtyScopes is what a change of each kind the derivations read marks (dirty.go).
var dirtyScopes = map[string]int{
	resStatefulSets: dirtyNamespace, resPods: dirtyNamespace, resPVCs: dirtyNamespace,
	resPodDisruptionBudgets: dirtyNamespace, resServices: dirtyNamespace,
	resPVs: dirtyQuestions, resNodes: dirtyQuestions, resVolumeAttachments: dirtyQuestions,
	resStorageClasses: dirtyQuestions,
}

// The names of the view's lookups that are not named after a kind (clusterView).
const (
	lookupUsableNodes        = "usable nodes"
	lookupCordonedCandidates = "cordoned candidates"
)

// questionsOf is the dirty tracker's: the view questions a change of obj, a node, a
// volume, a VolumeAttachment or a storage class, may answer differently (dirty.go).
func questionsOf(obj any, ask func(lookup, key string), namespace func(string)) bool {
	switch o := obj.(type) {
	case *derive.Node:
		ask(resNodes, o.GetName())
		// Which nodes are usable, or cordoned candidates, is asked of all of them.
		ask(lookupUsableNodes, anyKey)
		ask(lookupCordonedCandidates, anyKey)
	case *derive.PV:
		ask(resPVs, o.GetName())
		// A Released or Failed volume is an input of the StatefulSets of the namespace
		// of the claim it names (claimsOf), not an answer of the view.
		if ns, _, _, ok := o.ClaimRef(); ok {
			namespace(ns)
		}
	case *storagev1.VolumeAttachment:
		if pv := o.Spec.Source.PersistentVolumeName; pv != nil {
			ask(resVolumeAttachments, *pv)
		}
	case *storagev1.StorageClass:
		ask(resStorageClasses, o.GetName())
		// Only a class annotated as the default (before or after the change) can be,
		// or stop being, the default class.
		if derive.IsDefaultStorageClass(o) {
			ask(derive.DefaultClassLookup, anyKey)
		}
	default:
		return false
	}
	return true
}

// Indexer names.
const (
	byStatefulSet = "statefulset" // pods by their controlling StatefulSet namespace/name
	byClaimBase   = "claimbase"   // PVCs (and Released or Failed PVs by claim reference) by namespace/<template>-<statefulset>; StatefulSets by each of theirs
	byVolume      = "volume"      // VolumeAttachments by PersistentVolume name
)

func podByStatefulSet(obj any) ([]string, error) {
	p, ok := obj.(*derive.Pod)
	if !ok {
		return nil, nil
	}
	if key := derive.OwnerStatefulSetKey(p); key != "" {
		return []string{key}, nil
	}
	return nil, nil
}

func pvcByClaimBase(obj any) ([]string, error) {
	c, ok := obj.(*derive.PVC)
	if !ok {
		return nil, nil
	}
	if base, ok := derive.ClaimBase(c.GetName()); ok {
		return []string{c.GetNamespace() + "/" + base}, nil
	}
	return nil, nil
}

func statefulSetByClaimBase(obj any) ([]string, error) {
	s, ok := obj.(*derive.StatefulSet)
	if !ok {
		return nil, nil
	}
	keys := make([]string, 0, len(s.Spec.VolumeClaimTemplates))
	for _, t := range s.Spec.VolumeClaimTemplates {
		// The API accepts two templates of the same name (they make one volume); their
		// PVCs must be counted once.
		if key := s.Namespace + "/" + t + "-" + s.Name; !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func attachmentByVolume(obj any) ([]string, error) {
	va, ok := obj.(*storagev1.VolumeAttachment)
	if !ok || va.Spec.Source.PersistentVolumeName == nil {
		return nil, nil
	}
	return []string{*va.Spec.Source.PersistentVolumeName}, nil
}

// watchedResource is one watched kind, its informers and what the exporter knows about
// it. A kind has one informer, or with several --namespaces one per namespace
// (nsinformers.go); its self-metrics are per kind: synced when every informer is,
// failing while any is, off while any is forbidden.
type watchedResource struct {
	name string
	// informer is what the collector reads: the only shard's informer, or the merged
	// view of the shards'.
	informer resourceCache
	shards   []*shard
	optional bool

	// mu guards the shards' states.
	mu sync.Mutex
}

// shard is the informer of a resource in one namespace, or in all ("") for a
// cluster-scoped kind, the Leases, and one or all --namespaces.
type shard struct {
	namespace string
	informer  cache.SharedIndexInformer

	// forbidden is set while an optional kind's list or watch answers Forbidden;
	// forbiddenAt is the informer's resource version at that moment.
	forbidden   bool
	forbiddenAt string
	// failing is set by a failed list or watch and cleared by the next list that
	// succeeds or watch that is established: while it is set, the cache is not being
	// kept up to date.
	failing bool
}

// setShardFailing records whether the shard's last list or watch call failed.
func (r *watchedResource) setShardFailing(s *shard, failing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.failing = failing
}

// isFailing tells whether the last list or watch call of any shard failed.
func (r *watchedResource) isFailing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.shards {
		if s.failing {
			return true
		}
	}
	return false
}

// markForbidden switches an optional kind off until the shard's informer syncs again.
// It reports whether this switched the kind off.
func (r *watchedResource) markForbidden(s *shard) bool {
	if !r.optional {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	was := false
	for _, o := range r.shards {
		was = was || o.forbidden
	}
	s.forbidden = true
	s.forbiddenAt = s.informer.LastSyncResourceVersion()
	return !was
}

// enabled tells whether the resource's metrics are exported. An optional kind that RBAC
// forbids is off; the informer keeps retrying with backoff, and the kind comes back on
// as soon as a list or watch succeeds again (its resource version moves), so neither a
// start during an API outage nor a passing 403 during a failover switches it off for
// good. With several namespaces, one forbidden namespace switches the kind off: half
// of its objects would make wrong metrics (a StatefulSet without its PDB).
func (r *watchedResource) enabled() bool {
	if !r.optional {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	on := true
	for _, s := range r.shards {
		if s.forbidden && s.informer.LastSyncResourceVersion() != s.forbiddenAt {
			s.forbidden = false
		}
		on = on && !s.forbidden
	}
	return on
}

// watchSpec is how one resource is watched: listed in slimmed pages and watched with
// the calls calls returns for a namespace, both with tweak applied, cached after
// transform, with indexers. Only a namespaced spec is watched per namespace.
type watchSpec struct {
	name       string
	obj        k8sruntime.Object
	transform  cache.TransformFunc
	namespaced bool
	calls      func(namespace string) (listFunc, watchFunc)
	tweak      func(*metav1.ListOptions)
	indexers   cache.Indexers
}

// watchSpecs lists every watched resource. Namespaced kinds are scoped by --namespaces
// (watched in each namespace, see nsinformers.go) and --namespaces-exclude;
// cluster-scoped kinds are not; Leases are read in --lease.namespace only.
func watchSpecs(client kubernetes.Interface, cfg *Config) []watchSpec {
	exclude := excludeSelector(cfg.ExcludeNamespaces)
	excludeNamespaces := func(o *metav1.ListOptions) { o.FieldSelector = exclude }
	// --statefulset.selector applies to StatefulSets alone: pods are tied to their
	// StatefulSet by owner reference, not by labels.
	selector := cfg.StatefulSetSelector
	leaseSelector, leaseField := cfg.LeaseSelector, ""
	if len(cfg.LeaseNames) == 1 {
		leaseField = fields.OneTermEqualSelector("metadata.name", cfg.LeaseNames[0]).String()
	}
	zt := zoneTransforms{zoneKeys: cfg.ZoneLabels}
	apps, core, storage := client.AppsV1(), client.CoreV1(), client.StorageV1()
	policy, coordination := client.PolicyV1(), client.CoordinationV1()
	const namespaced, clusterScoped = true, false
	return []watchSpec{
		{resStatefulSets, &appsv1.StatefulSet{}, transformStatefulSet, namespaced,
			func(ns string) (listFunc, watchFunc) {
				return lister(apps.StatefulSets(ns).List), apps.StatefulSets(ns).Watch
			},
			func(o *metav1.ListOptions) { o.LabelSelector, o.FieldSelector = selector, exclude },
			cache.Indexers{byClaimBase: statefulSetByClaimBase, cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}},
		{resPods, &corev1.Pod{}, transformPod, namespaced,
			func(ns string) (listFunc, watchFunc) { return lister(core.Pods(ns).List), core.Pods(ns).Watch },
			excludeNamespaces, cache.Indexers{byStatefulSet: podByStatefulSet}},
		{resPVCs, &corev1.PersistentVolumeClaim{}, transformPVC, namespaced,
			func(ns string) (listFunc, watchFunc) {
				return lister(core.PersistentVolumeClaims(ns).List), core.PersistentVolumeClaims(ns).Watch
			},
			excludeNamespaces, cache.Indexers{byClaimBase: pvcByClaimBase}},
		{resPVs, &corev1.PersistentVolume{}, zt.transformPV, clusterScoped,
			func(string) (listFunc, watchFunc) {
				return lister(core.PersistentVolumes().List), core.PersistentVolumes().Watch
			},
			nil, cache.Indexers{byClaimBase: pvByClaimBase}},
		{resNodes, &corev1.Node{}, zt.transformNode, clusterScoped,
			func(string) (listFunc, watchFunc) { return lister(core.Nodes().List), core.Nodes().Watch },
			nil, nil},
		{resStorageClasses, &storagev1.StorageClass{}, transformStorageClass, clusterScoped,
			func(string) (listFunc, watchFunc) {
				return lister(storage.StorageClasses().List), storage.StorageClasses().Watch
			},
			nil, nil},
		{resVolumeAttachments, &storagev1.VolumeAttachment{}, transformVolumeAttachment, clusterScoped,
			func(string) (listFunc, watchFunc) {
				return lister(storage.VolumeAttachments().List), storage.VolumeAttachments().Watch
			},
			nil, cache.Indexers{byVolume: attachmentByVolume}},
		{resPodDisruptionBudgets, &policyv1.PodDisruptionBudget{}, transformPDB, namespaced,
			func(ns string) (listFunc, watchFunc) {
				return lister(policy.PodDisruptionBudgets(ns).List), policy.PodDisruptionBudgets(ns).Watch
			},
			excludeNamespaces, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}},
		// Looked up by namespace/name, the store's own key: no index.
		{resServices, &corev1.Service{}, transformService, namespaced,
			func(ns string) (listFunc, watchFunc) { return lister(core.Services(ns).List), core.Services(ns).Watch },
			excludeNamespaces, nil},
		// In --lease.namespace, whatever --namespaces says.
		{resLeases, &coordinationv1.Lease{}, transformLease, clusterScoped,
			func(string) (listFunc, watchFunc) {
				return lister(coordination.Leases(cfg.LeaseNamespace).List), coordination.Leases(cfg.LeaseNamespace).Watch
			},
			func(o *metav1.ListOptions) { o.LabelSelector, o.FieldSelector = leaseSelector, leaseField },
			nil},
	}
}

// lister adapts a typed clientset List method to a listFunc.
func lister[L k8sruntime.Object](list func(context.Context, metav1.ListOptions) (L, error)) listFunc {
	return func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) { return list(ctx, o) }
}

// watcher keeps one informer per watched resource and feeds every change to the
// trackers.
type watcher struct {
	trackers
	client    kubernetes.Interface
	cfg       *Config
	logger    *slog.Logger
	now       func() time.Time
	self      *selfMetrics
	recovery  *recoverySignal // fired when the API probe succeeds after failing
	resources map[string]*watchedResource
	dirty     *dirtyTracker // what changed since the last collection (dirty.go)
}

// buildInformers creates the informers of every watched resource: one, or one per
// namespace of a namespaced kind when several --namespaces are watched.
func (w *watcher) buildInformers() error {
	w.resources = map[string]*watchedResource{}
	for _, s := range watchSpecs(w.client, w.cfg) {
		res := &watchedResource{name: s.name, optional: optionalResources[s.name]}
		w.resources[s.name] = res
		namespaces := []string{metav1.NamespaceAll}
		if s.namespaced && len(w.cfg.Namespaces) > 0 {
			namespaces = w.cfg.Namespaces
		}
		informers := make([]cache.SharedIndexInformer, 0, len(namespaces))
		for _, ns := range namespaces {
			sh, err := w.buildShard(res, s, ns)
			if err != nil {
				return err
			}
			res.shards = append(res.shards, sh)
			informers = append(informers, sh.informer)
		}
		if len(informers) == 1 {
			res.informer = informers[0]
		} else {
			res.informer = newNamespaceCaches(namespaces, informers)
		}
	}
	return nil
}

// buildShard creates the informer of resource res in namespace ns.
func (w *watcher) buildShard(res *watchedResource, s watchSpec, ns string) (*shard, error) {
	name := s.name
	sh := &shard{namespace: ns}
	list, watchFn := s.calls(ns)
	lw := cache.ToListWatcherWithWatchListSemantics(slimListWatch(list, watchFn, s.tweak, s.transform, w.cfg.ListPageSize), w.client)
	rlw := newResilientListWatch(lw, func(err error) { w.recordRetriedError(res, sh, err) }, w.recovery.wait)
	rlw.onSuccess = func() { res.setShardFailing(sh, false) }
	informer := cache.NewSharedIndexInformer(rlw, s.obj, 0, cache.Indexers{})
	sh.informer = informer
	transform := s.transform
	if name != resLeases { // the lease tracker wants every renewal
		transform = keepUnchanged(informer.GetIndexer(), transform)
	}
	if err := informer.SetTransform(transform); err != nil {
		return nil, fmt.Errorf("%s informer: %w", name, err)
	}
	if len(s.indexers) > 0 {
		if err := informer.AddIndexers(s.indexers); err != nil {
			return nil, fmt.Errorf("%s informer: %w", name, err)
		}
	}
	if err := informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.recordShardError(res, sh, err)
	}); err != nil {
		return nil, fmt.Errorf("%s informer: %w", name, err)
	}
	if _, err := informer.AddEventHandler(w.eventHandler(name)); err != nil {
		return nil, fmt.Errorf("%s informer: %w", name, err)
	}
	return sh, nil
}

// excludeSelector is the field selector that leaves out the excluded namespaces.
func excludeSelector(namespaces []string) string {
	if len(namespaces) == 0 {
		return ""
	}
	sel := make([]fields.Selector, 0, len(namespaces))
	for _, ns := range namespaces {
		sel = append(sel, fields.OneTermNotEqualSelector("metadata.namespace", ns))
	}
	return fields.AndSelectors(sel...).String()
}

// start runs every informer until ctx is done.
func (w *watcher) start(ctx context.Context) {
	for _, name := range allResources {
		for _, sh := range w.resources[name].shards {
			go sh.informer.RunWithContext(ctx)
		}
	}
}

// ready tells whether every enabled informer has completed its first list. An optional
// kind that RBAC forbids does not hold readiness back.
func (w *watcher) ready() bool {
	for _, r := range w.resources {
		if r.enabled() && !r.informer.HasSynced() {
			return false
		}
	}
	return true
}

// states reports whether each resource is on and synced.
func (w *watcher) states() []resourceState {
	states := make([]resourceState, 0, len(allResources))
	for _, name := range allResources {
		r := w.resources[name]
		states = append(states, resourceState{name: name, enabled: r.enabled(), synced: r.informer.HasSynced(), failing: r.isFailing()})
	}
	return states
}

// recordRetriedError counts a transient list or watch failure that resilientListWatch
// retries in place. It logs at debug level only: the API probe already warns while the
// API server is unreachable, and a failover must not flood the log.
func (w *watcher) recordRetriedError(res *watchedResource, sh *shard, err error) {
	reason := classifyAPIError(err)
	w.self.countAPIError(res.name, reason)
	res.setShardFailing(sh, true)
	w.logger.Debug("list/watch failed, retrying", append(logScope(res, sh), "reason", reason, "err", err)...)
}

// recordShardError counts a failed list or watch of one of res's informers. Watches
// that end normally (EOF) or whose resource version expired are part of normal
// operation and not counted.
func (w *watcher) recordShardError(res *watchedResource, sh *shard, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return
	}
	reason := classifyAPIError(err)
	w.self.countAPIError(res.name, reason)
	res.setShardFailing(sh, true)
	// An optional kind that RBAC forbids, or that the API server does not serve, is
	// switched off rather than holding readiness back.
	if (reason == reasonForbidden || apierrors.IsNotFound(err)) && res.markForbidden(sh) {
		w.logger.Warn("optional resource switched off until RBAC allows it: the metrics that need it are not exported",
			append(logScope(res, sh), "reason", reason, "err", err)...)
		return
	}
	w.logger.Warn("list/watch failed", append(logScope(res, sh), "reason", reason, "err", err)...)
}

// eventHandler keeps the trackers and the last-event timestamps up to date.
func (w *watcher) eventHandler(resource string) cache.ResourceEventHandler {
	scope := dirtyScopes[resource]
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			w.touch(resource)
			w.onUpsert(nil, obj)
			w.dirty.mark(scope, obj) // after the trackers: see dirty.go
		},
		UpdateFunc: func(old, obj any) {
			w.touch(resource)
			w.onUpsert(old, obj)
			if old != obj { // keepUnchanged hands back the cached object of a no-op update
				w.dirty.mark(scope, old, obj)
			}
		},
		DeleteFunc: func(obj any) {
			w.touch(resource)
			tomb := obj
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			w.onDelete(obj)
			w.dirty.mark(scope, tomb)
		},
	}
}

func (w *watcher) touch(resource string) {
	w.self.touch(resource, w.now())
}

// onUpsert feeds an added or updated object to the trackers; old is the object it
// replaces in the cache, nil for an addition.
func (w *watcher) onUpsert(old, obj any) {
	switch o := obj.(type) {
	case *derive.Pod:
		prev, _ := old.(*derive.Pod)
		w.restarts.observe(prev, o)
	case *derive.PVC:
		if d, ok := w.binds.observe(o, w.now()); ok {
			if set := w.ownerOfClaim(o); set != nil {
				w.binds.record(set.Namespace+"/"+set.Name, d)
			}
		}
	case *coordinationv1.Lease:
		w.leases.observe(o, w.now())
	}
}

func (w *watcher) onDelete(obj any) {
	switch o := obj.(type) {
	case *derive.PVC:
		w.binds.forget(o.UIDKey())
	case *derive.StatefulSet:
		w.restarts.forgetSet(o.Namespace + "/" + o.Name)
		w.binds.forgetSet(o.Namespace + "/" + o.Name)
	case *coordinationv1.Lease:
		w.leases.forget(o.Namespace, o.Name)
	}
}

// logScope names the resource, and the namespace of a per-namespace informer, in a log
// line.
func logScope(res *watchedResource, sh *shard) []any {
	if len(res.shards) > 1 {
		return []any{"resource", res.name, "namespace", sh.namespace}
	}
	return []any{"resource", res.name}
}
