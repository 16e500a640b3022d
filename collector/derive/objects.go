package derive

import (
	storagev1 "k8s.io/api/storage/v1"
)

// Annotations the derivations read; the informer transforms keep them.
const (
	AnnSelectedNode            = "volume.kubernetes.io/selected-node"
	AnnStorageProvisioner      = "volume.kubernetes.io/storage-provisioner"
	AnnBetaStorageProvisioner  = "volume.beta.kubernetes.io/storage-provisioner"
	AnnDefaultStorageClass     = "storageclass.kubernetes.io/is-default-class"
	AnnBetaDefaultStorageClass = "storageclass.beta.kubernetes.io/is-default-class"
)

// OwnerStatefulSetKey returns namespace/name of the StatefulSet controlling the pod, ""
// when no StatefulSet controls it.
func OwnerStatefulSetKey(p *Pod) string {
	return p.spec.Owner
}

// DefaultStorageClass returns the name of the class Kubernetes uses for claims that
// name none, "" when no class is marked default. Kubernetes picks the newest default
// class when several are marked, the first name when they are equally new.
func DefaultStorageClass(classes []*storagev1.StorageClass) string {
	var def *storagev1.StorageClass
	for _, sc := range classes {
		if !IsDefaultStorageClass(sc) {
			continue
		}
		if def == nil || sc.CreationTimestamp.After(def.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&def.CreationTimestamp) && sc.Name < def.Name) {
			def = sc
		}
	}
	if def == nil {
		return ""
	}
	return def.Name
}

// IsDefaultStorageClass tells whether sc is annotated as a default class: only such
// classes can be DefaultStorageClass's answer.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[AnnDefaultStorageClass] == "true" || sc.Annotations[AnnBetaDefaultStorageClass] == "true"
}
