package collector

import (
	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Which claims, and which volumes left behind by earlier claims, are a StatefulSet's.
// Claims are found by name, <template>-<statefulset>-<ordinal>, through the claim-base
// indexes; when two StatefulSets' templates produce the same name, derive.ClaimOwner
// gives the claim to one of them only.

// pvByClaimBase indexes the PersistentVolumes in phase Released or Failed by their claim
// reference's namespace/<template>-<statefulset>, as pvcByClaimBase indexes claims. Bound
// and Available volumes are left out: the index stays small, and their changes do not
// touch the memos.
func pvByClaimBase(obj any) ([]string, error) {
	pv, ok := obj.(*derive.PV)
	if !ok {
		return nil, nil
	}
	ns, name, _, ok := pv.ClaimRef() // of Released and Failed volumes only
	if !ok {
		return nil, nil
	}
	if base, ok := derive.ClaimBase(name); ok {
		return []string{ns + "/" + base}, nil
	}
	return nil, nil
}

// claimsOf returns the claims of set and the Released or Failed volumes that earlier
// claims of its claim names left behind, both sorted by name.
func (w *watcher) claimsOf(set *derive.StatefulSet) ([]*derive.PVC, []*derive.PV) {
	pvcIndex := w.resources[resPVCs].informer.GetIndexer()
	pvIndex := w.resources[resPVs].informer.GetIndexer()
	var claims []*derive.PVC
	var volumes []*derive.PV
	bases, _ := statefulSetByClaimBase(set)
	for _, base := range bases {
		rivals := w.statefulSetsOfBase(base)
		objs, _ := pvcIndex.ByIndex(byClaimBase, base)
		if claims == nil { // sized for the usual single template: the memo keeps the slice
			claims = make([]*derive.PVC, 0, len(objs))
		}
		for _, o := range objs {
			c := o.(*derive.PVC)
			if w.owns(set, rivals, c.GetName(), c) {
				claims = append(claims, c)
			}
		}
		objs, _ = pvIndex.ByIndex(byClaimBase, base)
		for _, o := range objs {
			pv := o.(*derive.PV)
			if len(rivals) <= 1 {
				volumes = append(volumes, pv)
				continue
			}
			// Owned as the claim of its name is, or would be when it is gone.
			ns, name, _, _ := pv.ClaimRef()
			c := getter[*derive.PVC](pvcIndex)(ns + "/" + name)
			if w.owns(set, rivals, name, c) {
				volumes = append(volumes, pv)
			}
		}
	}
	sortByName(claims)
	sortByName(volumes)
	return claims, volumes
}

// ownerOfClaim returns the StatefulSet a claim belongs to, nil when none in the watched
// namespaces.
func (w *watcher) ownerOfClaim(pvc *derive.PVC) *derive.StatefulSet {
	base, ok := derive.ClaimBase(pvc.GetName())
	if !ok || !w.cfg.watchesNamespace(pvc.GetNamespace()) {
		return nil
	}
	return derive.ClaimOwner(pvc.GetName(), pvc, w.statefulSetsOfBase(pvc.GetNamespace()+"/"+base), w.podsOf)
}

// owns tells whether the claim name (claim when it exists) is set's, of the rivals whose
// templates produce the name; set is among them.
func (w *watcher) owns(set *derive.StatefulSet, rivals []*derive.StatefulSet, name string, claim *derive.PVC) bool {
	if len(rivals) <= 1 {
		return true
	}
	owner := derive.ClaimOwner(name, claim, rivals, w.podsOf)
	return owner.Namespace == set.Namespace && owner.Name == set.Name
}

// statefulSetsOfBase returns the StatefulSets with a volume claim template producing the
// claim base namespace/<template>-<statefulset>.
func (w *watcher) statefulSetsOfBase(base string) []*derive.StatefulSet {
	objs, _ := w.resources[resStatefulSets].informer.GetIndexer().ByIndex(byClaimBase, base)
	sets := make([]*derive.StatefulSet, 0, len(objs))
	for _, o := range objs {
		sets = append(sets, o.(*derive.StatefulSet))
	}
	return sets
}

// podsOf returns the pods set controls.
func (w *watcher) podsOf(set *derive.StatefulSet) []*derive.Pod {
	return indexed[derive.Pod](w.resources[resPods].informer.GetIndexer(), byStatefulSet)(set.Namespace + "/" + set.Name)
}
