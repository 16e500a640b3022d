// Package simscenario breaks StatefulSets on the simulated EKS cluster of
// internal/simcluster the way they break in production, through the real controllers:
// it only creates and changes specs (StatefulSets and their Services, StorageClasses,
// nodes, annotations that tell kwok or the EBS simulation what to fail) and never writes
// a status.
//
// The seeds (Seeds) are shared by the demo and the end-to-end pipeline test; the
// building blocks (Workload, CrashLooping, DedicatedNode, ...) by every test on the
// simulated cluster.
package simscenario

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster/kwok"
)

// Workload is a StatefulSet of replicas pods with a gp3 claim each, as a database runs
// on EKS: resource requests, a readiness probe, a short grace period (the simulated
// containers stop at once).
func Workload(name string, replicas int32, podAnnotations, podLabels map[string]string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	for k, v := range podLabels {
		labels[k] = v
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name: "db", Image: "postgres:17",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
						}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready"}}}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
				},
			}},
		},
	}
}

// CrashLooping returns the pod annotations and labels of a container that exits one
// second after each start and is restarted on kubelet's back-off, starting at backOff
// and doubling up to 30 times backOff (kubelet: 10s to 5m).
func CrashLooping(backOff time.Duration) (annotations, labels map[string]string) {
	return map[string]string{kwok.BackOffAnnotation: backOff.String(), kwok.CrashAfterAnnotation: "1s"},
		map[string]string{kwok.BehaviorLabel: kwok.BehaviorCrashLoop}
}

// Create makes the namespace ns and the StatefulSet in it, with its headless governing
// Service.
func Create(ctx context.Context, client kubernetes.Interface, ns string, sts *appsv1.StatefulSet) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return CreateIn(ctx, client, ns, sts)
}

// CreateIn makes the StatefulSet, with its headless governing Service, in the existing
// namespace ns.
func CreateIn(ctx context.Context, client kubernetes.Interface, ns string, sts *appsv1.StatefulSet) error {
	if err := CreateService(ctx, client, ns, sts.Spec.ServiceName, sts.Spec.Selector.MatchLabels, true); err != nil {
		return err
	}
	return CreateOnly(ctx, client, ns, sts)
}

// CreateOnly makes the StatefulSet in the existing namespace ns, and nothing else.
func CreateOnly(ctx context.Context, client kubernetes.Interface, ns string, sts *appsv1.StatefulSet) error {
	if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("StatefulSet %s/%s: %w", ns, sts.Name, err)
	}
	return nil
}

// CreateService makes the Service name selecting the pods labelled selector: headless
// (clusterIP None), as a StatefulSet's governing Service must be, or a ClusterIP Service
// with one port.
func CreateService(ctx context.Context, client kubernetes.Interface, ns, name string, selector map[string]string, headless bool) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "db", Port: 5432, TargetPort: intstr.FromInt32(5432)}}},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("Service %s/%s: %w", ns, name, err)
	}
	return nil
}

// CreatePDB gives the StatefulSet name (pods labelled app=name) a PodDisruptionBudget
// allowing one pod down, as a production StatefulSet has.
func CreatePDB(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("PodDisruptionBudget %s/%s: %w", ns, name, err)
	}
	return nil
}

// Patch applies a strategic merge patch to the StatefulSet.
func Patch(ctx context.Context, client kubernetes.Interface, ns, name, patch string) error {
	if _, err := client.AppsV1().StatefulSets(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching StatefulSet %s/%s: %w", ns, name, err)
	}
	return nil
}

// Scale sets the StatefulSet's replicas.
func Scale(ctx context.Context, client kubernetes.Interface, ns, name string, replicas int32) error {
	return Patch(ctx, client, ns, name, fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
}

// PatchPodTemplateMetadata adds annotations and labels to the pod template, which
// starts a rollout.
func PatchPodTemplateMetadata(ctx context.Context, client kubernetes.Interface, ns, name string, annotations, labels map[string]string) error {
	metadata := map[string]any{}
	if len(annotations) > 0 {
		metadata["annotations"] = annotations
	}
	if len(labels) > 0 {
		metadata["labels"] = labels
	}
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": metadata}}}
	return Patch(ctx, client, ns, name, MustJSON(patch))
}

// AnnotateNode sets an annotation on a node; an empty value removes it.
func AnnotateNode(ctx context.Context, client kubernetes.Interface, name, key, value string) error {
	var v any = value
	if value == "" {
		v = nil
	}
	patch := MustJSON(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: v}}})
	if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating node %s: %w", name, err)
	}
	return nil
}

// DedicatedNodeTaint is the taint key of the nodes DedicatedNode adds.
const DedicatedNodeTaint = "dedicated"

// DedicatedNode adds a Ready node in zone, tainted for the pods of owner only, so that
// what is done to the node (losing it, failing its attachments) touches no other
// workload. It returns once the node is Ready.
func DedicatedNode(ctx context.Context, c *simcluster.Cluster, owner, name, zone string) error {
	node := simcluster.NodeSpec{Name: name, Zone: zone,
		Taints: []corev1.Taint{{Key: DedicatedNodeTaint, Value: owner, Effect: corev1.TaintEffectNoSchedule}}}
	if err := c.AddNode(ctx, node); err != nil {
		return err
	}
	return c.WaitForNode(ctx, node.Name, corev1.ConditionTrue, 2*time.Minute)
}

// Dedicate places the StatefulSet's pods on owner's dedicated node.
func Dedicate(sts *appsv1.StatefulSet, owner, node string) {
	sts.Spec.Template.Spec.NodeSelector = map[string]string{simcluster.LabelHostname: node}
	sts.Spec.Template.Spec.Tolerations = append(sts.Spec.Template.Spec.Tolerations,
		corev1.Toleration{Key: DedicatedNodeTaint, Value: owner, Effect: corev1.TaintEffectNoSchedule})
}

// EvictAfter makes the pods leave a node that turned unreachable or NotReady after
// seconds instead of the default 300s (the tolerations the DefaultTolerationSeconds
// admission plugin would add).
func EvictAfter(sts *appsv1.StatefulSet, seconds int64) {
	sts.Spec.Template.Spec.Tolerations = append(sts.Spec.Template.Spec.Tolerations,
		corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(seconds)},
		corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(seconds)})
}

// WaitReady waits until the StatefulSet controller reports every replica Ready and
// updated, polling every half second up to timeout.
func WaitReady(ctx context.Context, client kubernetes.Interface, ns, name string, timeout time.Duration) error {
	return WaitStatus(ctx, client, ns, name, timeout, "Ready", func(sts *appsv1.StatefulSet) bool {
		want := ptr.Deref(sts.Spec.Replicas, 1)
		return sts.Status.ReadyReplicas == want && sts.Status.Replicas == want && sts.Status.UpdatedReplicas == want
	})
}

// WaitStatus waits until the StatefulSet controller has observed the latest spec and
// the StatefulSet satisfies done, polling every half second up to timeout; what names
// the state for the error.
func WaitStatus(ctx context.Context, client kubernetes.Interface, ns, name string, timeout time.Duration, what string, done func(*appsv1.StatefulSet) bool) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		sts, err := client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			last = "not found"
			return false, nil
		}
		if err != nil {
			return false, err
		}
		st := sts.Status
		last = fmt.Sprintf("%d replicas, %d ready, %d updated (of %d desired), observed generation %d of %d",
			st.Replicas, st.ReadyReplicas, st.UpdatedReplicas, ptr.Deref(sts.Spec.Replicas, 1), st.ObservedGeneration, sts.Generation)
		return st.ObservedGeneration == sts.Generation && done(sts), nil
	})
	if err != nil {
		return fmt.Errorf("StatefulSet %s/%s not %s within %s (%s): %w", ns, name, what, timeout, last, err)
	}
	return nil
}

// MustJSON is v as JSON, for merge patches of maps of strings, which always marshal.
func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings are marshalled
	}
	return string(b)
}
