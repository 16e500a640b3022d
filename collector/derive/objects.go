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

// StorageClass is what derivations read of a storage class, the zero value for a class
// that does not exist. It is a comparable value, so that a view's answer stays the same
// while these fields do, whatever else of the class changes: when the default moves
// from one class to another, the claims that name either class are not derived again.
type StorageClass struct {
	Provisioner          string
	WaitForFirstConsumer bool // its volume binding mode
}

// StorageClassOf returns what derivations read of sc (nil: the zero value).
func StorageClassOf(sc *storagev1.StorageClass) StorageClass {
	if sc == nil {
		return StorageClass{}
	}
	return StorageClass{
		Provisioner:          sc.Provisioner,
		WaitForFirstConsumer: sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer,
	}
}

// IsDefaultStorageClass tells whether sc is annotated as a default class: only such
// classes can be DefaultStorageClass's answer.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[AnnDefaultStorageClass] == "true" || sc.Annotations[AnnBetaDefaultStorageClass] == "true"
}
