package collector

import (
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
)

// Informer transform functions. Each one replaces a listed or watched object with a copy
// that keeps only what the derivations read, so the caches stay small on large clusters.
// Every transform keeps the identity fields informers need (name, namespace, UID,
// resourceVersion) and drops managedFields, annotations and labels unless listed.

func slimMeta(in metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              in.Name,
		Namespace:         in.Namespace,
		UID:               in.UID,
		ResourceVersion:   in.ResourceVersion,
		Generation:        in.Generation,
		CreationTimestamp: in.CreationTimestamp,
	}
}

func keepKeys(in map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := in[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

// transformStatefulSet replaces a StatefulSet with its compact form,
// derive.StatefulSet.
func transformStatefulSet(obj any) (any, error) {
	if in, ok := obj.(*appsv1.StatefulSet); ok {
		return derive.StatefulSetFrom(in), nil
	}
	return obj, nil
}

// transformPod replaces a pod with its compact form, derive.Pod.
func transformPod(obj any) (any, error) {
	if in, ok := obj.(*corev1.Pod); ok {
		return derive.PodFrom(in), nil
	}
	return obj, nil
}

// transformPVC replaces a claim with its compact form, derive.PVC.
func transformPVC(obj any) (any, error) {
	if in, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		return derive.PVCFrom(in), nil
	}
	return obj, nil
}

// zoneTransforms builds the transforms that read zone labels, which depend on the
// configured zone keys.
type zoneTransforms struct{ zoneKeys []string }

// transformPV replaces a volume with its compact form, derive.PV, keeping its zone
// labels.
func (z zoneTransforms) transformPV(obj any) (any, error) {
	if in, ok := obj.(*corev1.PersistentVolume); ok {
		return derive.PVFrom(in, z.zoneKeys), nil
	}
	return obj, nil
}

// transformNode replaces a node with its compact form, derive.Node.
func (z zoneTransforms) transformNode(obj any) (any, error) {
	if in, ok := obj.(*corev1.Node); ok {
		return derive.NodeFrom(in), nil
	}
	return obj, nil
}

// transformStorageClass keeps the default-class annotations, the provisioner and the
// volume binding mode.
func transformStorageClass(obj any) (any, error) {
	in, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return obj, nil
	}
	out := &storagev1.StorageClass{ObjectMeta: slimMeta(in.ObjectMeta)}
	out.Annotations = keepKeys(in.Annotations, derive.AnnDefaultStorageClass, derive.AnnBetaDefaultStorageClass)
	out.Provisioner = in.Provisioner
	out.VolumeBindingMode = in.VolumeBindingMode
	return out, nil
}

// transformVolumeAttachment keeps the volume name, the node and whether an attach or
// detach error is set (its time, not its message).
func transformVolumeAttachment(obj any) (any, error) {
	in, ok := obj.(*storagev1.VolumeAttachment)
	if !ok {
		return obj, nil
	}
	out := &storagev1.VolumeAttachment{ObjectMeta: slimMeta(in.ObjectMeta)}
	out.Spec.NodeName = in.Spec.NodeName
	out.Spec.Source.PersistentVolumeName = in.Spec.Source.PersistentVolumeName
	out.Status.Attached = in.Status.Attached
	if e := in.Status.AttachError; e != nil {
		out.Status.AttachError = &storagev1.VolumeError{Time: e.Time}
	}
	if e := in.Status.DetachError; e != nil {
		out.Status.DetachError = &storagev1.VolumeError{Time: e.Time}
	}
	return out, nil
}

// transformPDB keeps the selector.
func transformPDB(obj any) (any, error) {
	in, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return obj, nil
	}
	out := &policyv1.PodDisruptionBudget{ObjectMeta: slimMeta(in.ObjectMeta)}
	out.Spec.Selector = in.Spec.Selector
	return out, nil
}

// transformService replaces a Service with its compact form, derive.Service.
func transformService(obj any) (any, error) {
	if in, ok := obj.(*corev1.Service); ok {
		return derive.ServiceFrom(in), nil
	}
	return obj, nil
}

// transformLease keeps the whole spec, which is small.
func transformLease(obj any) (any, error) {
	in, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return obj, nil
	}
	return &coordinationv1.Lease{ObjectMeta: slimMeta(in.ObjectMeta), Spec: in.Spec}, nil
}
