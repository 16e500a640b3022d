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

// Indexer names.
const (
	byStatefulSet = "statefulset" // pods by their controlling StatefulSet namespace/name
	byClaimBase   = "claimbase"   // PVCs (and Released or Failed PVs by claim reference) by namespace/<template>-<statefulset>; StatefulSets by each of theirs
	byVolume      = "volume"      // VolumeAttachments by PersistentVolume name
)

func podByStatefulSet(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if key := derive.OwnerStatefulSetKey(p); key != "" {
		return []string{key}, nil
	}
	return nil, nil
}

func pvcByClaimBase(obj any) ([]string, error) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, nil
	}
	if base, ok := derive.ClaimBase(c.Name); ok {
		return []string{c.Namespace + "/" + base}, nil
	}
	return nil, nil
}

func statefulSetByClaimBase(obj any) ([]string, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil, nil
	}
	keys := make([]string, 0, len(s.Spec.VolumeClaimTemplates))
	for _, t := range s.Spec.VolumeClaimTemplates {
		// The API accepts two templates of the same name (they make one volume); their
		// PVCs must be counted once.
		if key := s.Namespace + "/" + t.Name + "-" + s.Name; !slices.Contains(keys, key) {
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

// watchedResource is one informer and what the exporter knows about it.
type watchedResource struct {
	name     string
	informer cache.SharedIndexInformer
	optional bool

	mu sync.Mutex
	// forbidden is set while an optional kind's list or watch answers Forbidden;
	// forbiddenAt is the informer's resource version at that moment.
	forbidden   bool
	forbiddenAt string
	// failing is set by a failed list or watch and cleared by the next list that
	// succeeds or watch that is established: while it is set, the cache is not being
	// kept up to date.
	failing bool
}

// setFailing records whether the last list or watch call failed.
func (r *watchedResource) setFailing(failing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = failing
}

// isFailing tells whether the resource's last list or watch call failed.
func (r *watchedResource) isFailing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failing
}

// markForbidden switches an optional kind off until its informer syncs again. It
// reports whether this switched it off.
func (r *watchedResource) markForbidden() bool {
	if !r.optional {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.forbidden
	r.forbidden = true
	r.forbiddenAt = r.informer.LastSyncResourceVersion()
	return !was
}

// enabled tells whether the resource's metrics are exported. An optional kind that RBAC
// forbids is off; the informer keeps retrying with backoff, and the kind comes back on
// as soon as a list or watch succeeds again (its resource version moves), so neither a
// start during an API outage nor a passing 403 during a failover switches it off for
// good.
func (r *watchedResource) enabled() bool {
	if !r.optional {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forbidden && r.informer.LastSyncResourceVersion() != r.forbiddenAt {
		r.forbidden = false
	}
	return !r.forbidden
}

// watchSpec is how one resource is watched: listed in slimmed pages with list, watched
// with watch, both with tweak applied, cached after transform, with indexers.
type watchSpec struct {
	name      string
	obj       k8sruntime.Object
	transform cache.TransformFunc
	list      listFunc
	watch     watchFunc
	tweak     func(*metav1.ListOptions)
	indexers  cache.Indexers
}

// watchSpecs lists every watched resource. Namespaced kinds are scoped by --namespaces
// (one namespace scopes the calls, several are filtered in the exporter) and
// --namespaces-exclude; cluster-scoped kinds are not; Leases are read in
// --lease.namespace only.
func watchSpecs(client kubernetes.Interface, cfg *Config) []watchSpec {
	ns := metav1.NamespaceAll
	if len(cfg.Namespaces) == 1 {
		ns = cfg.Namespaces[0]
	}
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
	return []watchSpec{
		{resStatefulSets, &appsv1.StatefulSet{}, transformStatefulSet,
			lister(apps.StatefulSets(ns).List), apps.StatefulSets(ns).Watch,
			func(o *metav1.ListOptions) { o.LabelSelector, o.FieldSelector = selector, exclude },
			cache.Indexers{byClaimBase: statefulSetByClaimBase}},
		{resPods, &corev1.Pod{}, transformPod,
			lister(core.Pods(ns).List), core.Pods(ns).Watch, excludeNamespaces,
			cache.Indexers{byStatefulSet: podByStatefulSet}},
		{resPVCs, &corev1.PersistentVolumeClaim{}, transformPVC,
			lister(core.PersistentVolumeClaims(ns).List), core.PersistentVolumeClaims(ns).Watch, excludeNamespaces,
			cache.Indexers{byClaimBase: pvcByClaimBase}},
		{resPVs, &corev1.PersistentVolume{}, zt.transformPV,
			lister(core.PersistentVolumes().List), core.PersistentVolumes().Watch, nil,
			cache.Indexers{byClaimBase: pvByClaimBase}},
		{resNodes, &corev1.Node{}, zt.transformNode,
			lister(core.Nodes().List), core.Nodes().Watch, nil, nil},
		{resStorageClasses, &storagev1.StorageClass{}, transformStorageClass,
			lister(storage.StorageClasses().List), storage.StorageClasses().Watch, nil, nil},
		{resVolumeAttachments, &storagev1.VolumeAttachment{}, transformVolumeAttachment,
			lister(storage.VolumeAttachments().List), storage.VolumeAttachments().Watch, nil,
			cache.Indexers{byVolume: attachmentByVolume}},
		{resPodDisruptionBudgets, &policyv1.PodDisruptionBudget{}, transformPDB,
			lister(policy.PodDisruptionBudgets(ns).List), policy.PodDisruptionBudgets(ns).Watch, excludeNamespaces,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}},
		// Looked up by namespace/name, the store's own key: no index.
		{resServices, &corev1.Service{}, transformService,
			lister(core.Services(ns).List), core.Services(ns).Watch, excludeNamespaces, nil},
		{resLeases, &coordinationv1.Lease{}, transformLease,
			lister(coordination.Leases(cfg.LeaseNamespace).List), coordination.Leases(cfg.LeaseNamespace).Watch,
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
}

// buildInformers creates one informer per watched resource.
func (w *watcher) buildInformers() error {
	w.resources = map[string]*watchedResource{}
	for _, s := range watchSpecs(w.client, w.cfg) {
		name := s.name
		res := &watchedResource{name: name, optional: optionalResources[name]}
		w.resources[name] = res
		lw := cache.ToListWatcherWithWatchListSemantics(slimListWatch(s.list, s.watch, s.tweak, s.transform), w.client)
		rlw := newResilientListWatch(lw, func(err error) { w.recordRetriedError(name, err) }, w.recovery.wait)
		rlw.onSuccess = func() { res.setFailing(false) }
		informer := cache.NewSharedIndexInformer(rlw, s.obj, 0, cache.Indexers{})
		res.informer = informer
		transform := s.transform
		if name != resLeases { // the lease tracker wants every renewal
			transform = keepUnchanged(informer.GetIndexer(), transform)
		}
		if err := informer.SetTransform(transform); err != nil {
			return fmt.Errorf("%s informer: %w", name, err)
		}
		if len(s.indexers) > 0 {
			if err := informer.AddIndexers(s.indexers); err != nil {
				return fmt.Errorf("%s informer: %w", name, err)
			}
		}
		if err := informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			w.recordWatchError(name, err)
		}); err != nil {
			return fmt.Errorf("%s informer: %w", name, err)
		}
		if _, err := informer.AddEventHandler(w.eventHandler(name)); err != nil {
			return fmt.Errorf("%s informer: %w", name, err)
		}
	}
	return nil
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
		go w.resources[name].informer.RunWithContext(ctx)
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
func (w *watcher) recordRetriedError(resource string, err error) {
	reason := classifyAPIError(err)
	w.self.countAPIError(resource, reason)
	w.resources[resource].setFailing(true)
	w.logger.Debug("list/watch failed, retrying", "resource", resource, "reason", reason, "err", err)
}

// recordWatchError counts a failed list or watch. Watches that end normally (EOF) or
// whose resource version expired are part of normal operation and not counted.
func (w *watcher) recordWatchError(resource string, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return
	}
	reason := classifyAPIError(err)
	w.self.countAPIError(resource, reason)
	w.resources[resource].setFailing(true)
	// An optional kind that RBAC forbids, or that the API server does not serve, is
	// switched off rather than holding readiness back.
	if (reason == reasonForbidden || apierrors.IsNotFound(err)) && w.resources[resource].markForbidden() {
		w.logger.Warn("optional resource switched off until RBAC allows it: the metrics that need it are not exported",
			"resource", resource, "reason", reason, "err", err)
		return
	}
	w.logger.Warn("list/watch failed", "resource", resource, "reason", reason, "err", err)
}

// eventHandler keeps the trackers and the last-event timestamps up to date.
func (w *watcher) eventHandler(resource string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			w.touch(resource)
			w.onUpsert(obj)
		},
		UpdateFunc: func(_, obj any) {
			w.touch(resource)
			w.onUpsert(obj)
		},
		DeleteFunc: func(obj any) {
			w.touch(resource)
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			w.onDelete(obj)
		},
	}
}

func (w *watcher) touch(resource string) {
	w.self.touch(resource, w.now())
}

func (w *watcher) onUpsert(obj any) {
	switch o := obj.(type) {
	case *corev1.Pod:
		w.restarts.observe(o)
	case *corev1.PersistentVolumeClaim:
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
	case *corev1.Pod:
		w.restarts.forgetPod(o.UID)
	case *corev1.PersistentVolumeClaim:
		w.binds.forget(o.UID)
	case *appsv1.StatefulSet:
		w.restarts.forgetSet(o.Namespace + "/" + o.Name)
		w.binds.forgetSet(o.Namespace + "/" + o.Name)
	case *coordinationv1.Lease:
		w.leases.forget(o.Namespace, o.Name)
	}
}
