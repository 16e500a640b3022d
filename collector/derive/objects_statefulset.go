package derive

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// StatefulSet is what the derivations and families read of a StatefulSet: its identity,
// generation and creation time, the parts of its spec below (of the pod template, the
// labels, the grace period and which containers have a readiness probe) and its status
// without conditions. An appsv1.StatefulSet with its pod template takes kilobytes; a
// StatefulSet a few hundred bytes. Like the other compact objects it is built by
// StatefulSetFrom and never modified.
type StatefulSet struct {
	metav1.ObjectMeta
	Spec   StatefulSetSpec
	Status appsv1.StatefulSetStatus
}

// StatefulSetSpec is what StatefulSet keeps of appsv1.StatefulSetSpec, under the same
// names where it keeps a field whole.
type StatefulSetSpec struct {
	Replicas                             *int32
	ServiceName                          string
	PodManagementPolicy                  appsv1.PodManagementPolicyType
	UpdateStrategy                       appsv1.StatefulSetUpdateStrategy
	Ordinals                             *appsv1.StatefulSetOrdinals
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy
	// VolumeClaimTemplates are the names of the volume claim templates.
	VolumeClaimTemplates []string
	// PodLabels are the pod template's labels.
	PodLabels                     map[string]string
	TerminationGracePeriodSeconds *int64
	// ReadinessProbes tells, per container of the pod template, whether it has a
	// readiness probe.
	ReadinessProbes []bool
}

// StatefulSetFrom returns the compact form of in.
func StatefulSetFrom(in *appsv1.StatefulSet) *StatefulSet {
	out := &StatefulSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: in.Name, Namespace: in.Namespace, UID: in.UID, ResourceVersion: in.ResourceVersion,
			Generation: in.Generation, CreationTimestamp: in.CreationTimestamp,
		},
		Status: in.Status,
	}
	out.Status.Conditions = nil
	s, spec := &out.Spec, &in.Spec
	s.Replicas = spec.Replicas
	s.ServiceName = spec.ServiceName
	s.PodManagementPolicy = spec.PodManagementPolicy
	s.UpdateStrategy = spec.UpdateStrategy
	s.Ordinals = spec.Ordinals
	s.PersistentVolumeClaimRetentionPolicy = spec.PersistentVolumeClaimRetentionPolicy
	if n := len(spec.VolumeClaimTemplates); n > 0 {
		s.VolumeClaimTemplates = make([]string, 0, n)
		for _, t := range spec.VolumeClaimTemplates {
			s.VolumeClaimTemplates = append(s.VolumeClaimTemplates, t.Name)
		}
	}
	s.PodLabels = spec.Template.Labels
	s.TerminationGracePeriodSeconds = spec.Template.Spec.TerminationGracePeriodSeconds
	if n := len(spec.Template.Spec.Containers); n > 0 {
		s.ReadinessProbes = make([]bool, 0, n)
		for _, c := range spec.Template.Spec.Containers {
			s.ReadinessProbes = append(s.ReadinessProbes, c.ReadinessProbe != nil)
		}
	}
	return out
}

// GetObjectKind and DeepCopyObject make a StatefulSet a runtime.Object, as informers
// need; a StatefulSet is never modified, so a copy shares its parts.
func (s *StatefulSet) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (s *StatefulSet) DeepCopyObject() runtime.Object {
	out := *s
	return &out
}

// Service is what the derivations read of a Service, a StatefulSet's governing Service:
// its name and whether it is headless. Like the other compact objects it is built by
// ServiceFrom and never modified.
type Service struct {
	objectMeta
	headless bool
}

// ServiceFrom returns the compact form of in.
func ServiceFrom(in *corev1.Service) *Service {
	return &Service{objectMeta: metaOf(&in.ObjectMeta), headless: in.Spec.ClusterIP == corev1.ClusterIPNone}
}

// Headless tells whether the Service has no cluster IP ("None"), which gives the pods of
// its StatefulSet their DNS names.
func (s *Service) Headless() bool { return s.headless }

func (s *Service) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (s *Service) DeepCopyObject() runtime.Object {
	out := *s
	return &out
}

// Unchanged tells whether old is a Service equal to s but for its resourceVersion.
func (s *Service) Unchanged(old any) bool { return unchanged(s, old) }
