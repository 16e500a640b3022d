package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
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
	resLeases               = "leases"
)

// allResources lists every watched resource in a stable order.
var allResources = []string{
	resStatefulSets, resPods, resPVCs, resPVs, resNodes, resStorageClasses,
	resVolumeAttachments, resPodDisruptionBudgets, resLeases,
}

// optionalResources may be switched off when RBAC forbids them; the rest keeps working.
var optionalResources = map[string]bool{resVolumeAttachments: true, resPodDisruptionBudgets: true, resLeases: true}

// Indexer names.
const (
	byStatefulSet = "statefulset" // pods by their controlling StatefulSet namespace/name
	byClaimBase   = "claimbase"   // PVCs by namespace/<template>-<statefulset>; StatefulSets by each of theirs
	byVolume      = "volume"      // VolumeAttachments by PersistentVolume name
)

// ownerStatefulSetKey returns namespace/name of the StatefulSet controlling the pod.
func ownerStatefulSetKey(p *corev1.Pod) string {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != "StatefulSet" {
		return ""
	}
	return p.Namespace + "/" + ref.Name
}

func podByStatefulSet(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if key := ownerStatefulSetKey(p); key != "" {
		return []string{key}, nil
	}
	return nil, nil
}

func pvcByClaimBase(obj any) ([]string, error) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, nil
	}
	if base, ok := claimBase(c.Name); ok {
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
		if key := s.Namespace + "/" + t.Name + "-" + s.Name; !contains(keys, key) {
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

// buildInformers creates one informer per resource from two factories: one for
// namespaced kinds (scoped by --namespaces/--namespaces-exclude) and one for
// cluster-scoped kinds, plus one scoped to --lease.namespace for Leases.
func (c *Collector) buildInformers() error {
	cfg := &c.cfg
	var namespacedOpts []informers.SharedInformerOption
	if len(cfg.Namespaces) == 1 {
		namespacedOpts = append(namespacedOpts, informers.WithNamespace(cfg.Namespaces[0]))
	}
	if exclude := excludeSelector(cfg.ExcludeNamespaces); exclude != "" {
		namespacedOpts = append(namespacedOpts, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = exclude
		}))
	}
	c.namespaced = informers.NewSharedInformerFactoryWithOptions(c.client, 0, namespacedOpts...)
	c.cluster = informers.NewSharedInformerFactory(c.client, 0)
	c.leaseFactory = informers.NewSharedInformerFactory(c.client, 0)

	// StatefulSets get their own informer so that --statefulset.selector applies to them
	// alone (pods are tied to their StatefulSet by owner reference, not by labels).
	selector := cfg.StatefulSetSelector
	exclude := excludeSelector(cfg.ExcludeNamespaces)
	ns := metav1.NamespaceAll
	if len(cfg.Namespaces) == 1 {
		ns = cfg.Namespaces[0]
	}
	client := c.client
	stsInformer := c.slimInformer(resStatefulSets, c.namespaced, client, &appsv1.StatefulSet{}, transformStatefulSet,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.AppsV1().StatefulSets(ns).List(ctx, o)
		}, client.AppsV1().StatefulSets(ns).Watch,
		func(o *metav1.ListOptions) {
			o.LabelSelector = selector
			o.FieldSelector = exclude
		})

	// The kinds with an object per pod (or per node) list in slimmed pages (listpages.go).
	excludeNamespaces := func(o *metav1.ListOptions) { o.FieldSelector = exclude }
	podInformer := c.slimInformer(resPods, c.namespaced, client, &corev1.Pod{}, transformPod,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoreV1().Pods(ns).List(ctx, o)
		}, client.CoreV1().Pods(ns).Watch, excludeNamespaces)
	pvcInformer := c.slimInformer(resPVCs, c.namespaced, client, &corev1.PersistentVolumeClaim{}, transformPVC,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
		}, client.CoreV1().PersistentVolumeClaims(ns).Watch, excludeNamespaces)
	zt := zoneTransforms{zoneKeys: cfg.ZoneLabels}
	pvInformer := c.slimInformer(resPVs, c.cluster, client, &corev1.PersistentVolume{}, zt.transformPV,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoreV1().PersistentVolumes().List(ctx, o)
		}, client.CoreV1().PersistentVolumes().Watch, nil)
	nodeInformer := c.slimInformer(resNodes, c.cluster, client, &corev1.Node{}, zt.transformNode,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoreV1().Nodes().List(ctx, o)
		}, client.CoreV1().Nodes().Watch, nil)
	vaInformer := c.slimInformer(resVolumeAttachments, c.cluster, client, &storagev1.VolumeAttachment{}, transformVolumeAttachment,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.StorageV1().VolumeAttachments().List(ctx, o)
		}, client.StorageV1().VolumeAttachments().Watch, nil)
	scInformer := c.slimInformer(resStorageClasses, c.cluster, client, &storagev1.StorageClass{}, transformStorageClass,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.StorageV1().StorageClasses().List(ctx, o)
		}, client.StorageV1().StorageClasses().Watch, nil)
	pdbInformer := c.slimInformer(resPodDisruptionBudgets, c.namespaced, client, &policyv1.PodDisruptionBudget{}, transformPDB,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, o)
		}, client.PolicyV1().PodDisruptionBudgets(ns).Watch, excludeNamespaces)
	leaseSelector := cfg.LeaseSelector
	leaseField := ""
	if len(cfg.LeaseNames) == 1 {
		leaseField = fields.OneTermEqualSelector("metadata.name", cfg.LeaseNames[0]).String()
	}
	leaseNamespace := cfg.LeaseNamespace
	leaseInformer := c.slimInformer(resLeases, c.leaseFactory, client, &coordinationv1.Lease{}, transformLease,
		func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoordinationV1().Leases(leaseNamespace).List(ctx, o)
		}, client.CoordinationV1().Leases(leaseNamespace).Watch,
		func(o *metav1.ListOptions) {
			o.LabelSelector = leaseSelector
			o.FieldSelector = leaseField
		})

	specs := []struct {
		name      string
		informer  cache.SharedIndexInformer
		transform cache.TransformFunc
		indexers  cache.Indexers
	}{
		{resStatefulSets, stsInformer, transformStatefulSet, cache.Indexers{byClaimBase: statefulSetByClaimBase}},
		{resPods, podInformer, transformPod, cache.Indexers{byStatefulSet: podByStatefulSet}},
		{resPVCs, pvcInformer, transformPVC, cache.Indexers{byClaimBase: pvcByClaimBase}},
		{resPVs, pvInformer, zt.transformPV, nil},
		{resNodes, nodeInformer, zt.transformNode, nil},
		{resStorageClasses, scInformer, transformStorageClass, nil},
		{resVolumeAttachments, vaInformer, transformVolumeAttachment, cache.Indexers{byVolume: attachmentByVolume}},
		{resPodDisruptionBudgets, pdbInformer, transformPDB, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}},
		{resLeases, leaseInformer, transformLease, nil},
	}
	c.resources = map[string]*watchedResource{}
	for _, s := range specs {
		transform := s.transform
		if s.name != resLeases { // the lease tracker wants every renewal
			transform = keepUnchanged(s.informer.GetIndexer(), transform)
		}
		if err := s.informer.SetTransform(transform); err != nil {
			return fmt.Errorf("%s informer: %w", s.name, err)
		}
		if len(s.indexers) > 0 {
			if err := s.informer.AddIndexers(s.indexers); err != nil {
				return fmt.Errorf("%s informer: %w", s.name, err)
			}
		}
		name := s.name
		if err := s.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			c.recordWatchError(name, err)
		}); err != nil {
			return fmt.Errorf("%s informer: %w", s.name, err)
		}
		if _, err := s.informer.AddEventHandler(c.eventHandler(name)); err != nil {
			return fmt.Errorf("%s informer: %w", s.name, err)
		}
		c.resources[name] = &watchedResource{name: name, informer: s.informer, optional: optionalResources[name]}
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

// recordRetriedError counts a transient list or watch failure that resilientListWatch
// retries in place. It logs at debug level only: the API probe already warns while the
// API server is unreachable, and a failover must not flood the log.
func (c *Collector) recordRetriedError(resource string, err error) {
	reason := classifyAPIError(err)
	c.self.apiErrors.WithLabelValues(resource, reason).Inc()
	c.logger.Debug("list/watch failed, retrying", "resource", resource, "reason", reason, "err", err)
}

// recordWatchError counts a failed list or watch. Watches that end normally (EOF) or
// whose resource version expired are part of normal operation and not counted.
func (c *Collector) recordWatchError(resource string, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return
	}
	reason := classifyAPIError(err)
	c.self.apiErrors.WithLabelValues(resource, reason).Inc()
	// An optional kind that RBAC forbids, or that the API server does not serve, is
	// switched off rather than holding readiness back.
	if (reason == reasonForbidden || apierrors.IsNotFound(err)) && c.resources[resource].markForbidden() {
		c.logger.Warn("optional resource switched off until RBAC allows it: the metrics that need it are not exported",
			"resource", resource, "reason", reason, "err", err)
		return
	}
	c.logger.Warn("list/watch failed", "resource", resource, "reason", reason, "err", err)
}

// eventHandler keeps the trackers and the last-event timestamps up to date.
func (c *Collector) eventHandler(resource string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			c.touch(resource)
			c.onUpsert(obj)
		},
		UpdateFunc: func(_, obj any) {
			c.touch(resource)
			c.onUpsert(obj)
		},
		DeleteFunc: func(obj any) {
			c.touch(resource)
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			c.onDelete(obj)
		},
	}
}

func (c *Collector) touch(resource string) {
	c.self.lastEvent.WithLabelValues(resource).Set(float64(c.now().UnixNano()) / 1e9)
}

func (c *Collector) onUpsert(obj any) {
	switch o := obj.(type) {
	case *corev1.Pod:
		c.restarts.observe(o)
	case *corev1.PersistentVolumeClaim:
		if d, ok := c.binds.observe(o, c.now()); ok {
			for _, set := range c.statefulSetsOfClaim(o) {
				c.bindDurations.WithLabelValues(set.Namespace, set.Name).Observe(d.Seconds())
			}
		}
	case *coordinationv1.Lease:
		c.leases.observe(o, c.now())
	}
}

func (c *Collector) onDelete(obj any) {
	switch o := obj.(type) {
	case *corev1.Pod:
		c.restarts.forgetPod(o.UID)
	case *corev1.PersistentVolumeClaim:
		c.binds.forget(o.UID)
	case *appsv1.StatefulSet:
		c.restarts.forgetSet(o.Namespace + "/" + o.Name)
		c.bindDurations.DeleteLabelValues(o.Namespace, o.Name)
	case *coordinationv1.Lease:
		c.leases.forget(o.Namespace, o.Name)
	}
}

// statefulSetsOfClaim finds the StatefulSets whose volume claim templates name the PVC,
// in the watched namespaces (the informers see every namespace when several are
// watched).
func (c *Collector) statefulSetsOfClaim(pvc *corev1.PersistentVolumeClaim) []*appsv1.StatefulSet {
	base, ok := claimBase(pvc.Name)
	if !ok || !c.cfg.watchesNamespace(pvc.Namespace) {
		return nil
	}
	objs, err := c.resources[resStatefulSets].informer.GetIndexer().ByIndex(byClaimBase, pvc.Namespace+"/"+base)
	if err != nil {
		return nil
	}
	var sets []*appsv1.StatefulSet
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok {
			sets = append(sets, s)
		}
	}
	return sets
}
