package collector

import (
	"fmt"
	"math"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// renamed gives the pod another name (and UID).
func renamed(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Name = name
		p.UID = types.UID("uid-" + p.Namespace + "-" + name)
	}
}

func TestNilReplicasYieldNoFakeZeros(t *testing.T) {
	set := newStatefulSet("ns", "odd", 2, func(s *appsv1.StatefulSet) { s.Spec.Replicas = nil })
	env := newTestEnv(t, nil, set, newPod(set, 0), newNode("node-a", zoneKey, "a"))
	// No desired, ratio, rollout, singleton or single_zone samples; the rest is real.
	env.expect(`
		statefulset_replicas_ready{namespace="ns",statefulset="odd"} 2
		statefulset_ha_risk_info{namespace="ns",risk="no_pdb",statefulset="odd"} 1
		statefulset_ha_risk_info{namespace="ns",risk="no_governing_service",statefulset="odd"} 1
	`, "statefulset_replicas_desired", "statefulset_ready_ratio", "statefulset_replicas_ready",
		"statefulset_rollout_in_progress", "statefulset_rollout_partition", "statefulset_rollout_stalled",
		"statefulset_rollout_last_progress_timestamp_seconds", "statefulset_rollout_blocking_pod_info",
		"statefulset_pods_outdated", "statefulset_ha_risk_info")
}

func TestOddPodNames(t *testing.T) {
	// Pods owned by the StatefulSet but with names the controller never makes count
	// towards the pod metrics, never as an ordinal of the rollout.
	cases := []struct {
		name   string
		policy appsv1.PodManagementPolicyType
		want   string
	}{
		{"OrderedReady", appsv1.OrderedReadyPodManagement,
			`statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-1",reason="Missing",statefulset="web"} 1`},
		{"Parallel", appsv1.ParallelPodManagement,
			`statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-2",reason="Missing",statefulset="web"} 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := newStatefulSet("ns", "web", 3, withStatus(1, 1, 0, "web-rev1", "web-rev2"),
				func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = tc.policy })
			objs := []runtime.Object{set,
				newPod(set, 0),
				newPod(set, 0, renamed("web-x"), notReady),
				newPod(set, 0, renamed("web-01"), notReady),
				newPod(set, 0, renamed("web-+1"), notReady),
				newPod(set, 0, renamed("web-"), notReady),
				newPod(set, 0, renamed("web-2-1"), notReady),
			}
			env := newTestEnv(t, nil, objs...)
			env.expect(tc.want, "statefulset_rollout_blocking_pod_info")
			env.expect(`
				statefulset_pods{namespace="ns",phase="Running",statefulset="web"} 6
			`, "statefulset_pods")
		})
	}
}

func TestHugeReplicasAndOrdinals(t *testing.T) {
	const maxOrd = math.MaxInt32
	cases := []struct {
		name   string
		policy appsv1.PodManagementPolicyType
		start  int32
		want   string
	}{
		{"OrderedReady", appsv1.OrderedReadyPodManagement, 0,
			`statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-1",reason="Missing",statefulset="web"} 1`},
		{"Parallel", appsv1.ParallelPodManagement, 0,
			fmt.Sprintf(`statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-%d",reason="Missing",statefulset="web"} 1`, maxOrd-1)},
		{"Parallel with a start ordinal", appsv1.ParallelPodManagement, 5,
			fmt.Sprintf(`statefulset_rollout_blocking_pod_info{namespace="ns",pod="web-%d",reason="Missing",statefulset="web"} 1`, maxOrd-1+5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := newStatefulSet("ns", "web", maxOrd, withStatus(2, 2, 0, "web-rev1", "web-rev2"), func(s *appsv1.StatefulSet) {
				s.Spec.PodManagementPolicy = tc.policy
				if tc.start > 0 {
					s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: tc.start}
				}
			})
			objs := []runtime.Object{set,
				newPod(set, int(tc.start)),
				newPod(set, 0, renamed(fmt.Sprintf("web-%d", maxOrd)), notReady),
				newPod(set, 0, renamed("web-99999999999999999999"), notReady),
			}
			env := newTestEnv(t, nil, objs...)
			env.expect(fmt.Sprintf(`
				statefulset_replicas_desired{namespace="ns",statefulset="web"} %s
				statefulset_ready_ratio{namespace="ns",statefulset="web"} %s
				statefulset_rollout_in_progress{namespace="ns",statefulset="web"} 1
				statefulset_rollout_partition{namespace="ns",statefulset="web"} 0
				statefulset_pods_outdated{namespace="ns",statefulset="web"} 0
				%s
			`, fv(maxOrd), fv(2.0/maxOrd), tc.want), "statefulset_replicas_desired", "statefulset_ready_ratio",
				"statefulset_rollout_in_progress", "statefulset_rollout_partition", "statefulset_pods_outdated",
				"statefulset_rollout_blocking_pod_info")
		})
	}
}

func TestBareObjects(t *testing.T) {
	// Objects with almost every field unset: no panic, and nothing invented.
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bare"}}
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bare-0", UID: "p",
		OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "bare", Controller: ptrTrue()}}}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "-bare-0", UID: "c"}}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"}}
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	env := newTestEnv(t, nil, set, pod, pvc, pv, node)
	env.expect(`
		statefulset_replicas_current{namespace="ns",statefulset="bare"} 0
		statefulset_replicas_ready{namespace="ns",statefulset="bare"} 0
		statefulset_replicas_available{namespace="ns",statefulset="bare"} 0
		statefulset_replicas_updated{namespace="ns",statefulset="bare"} 0
		statefulset_generation_lag{namespace="ns",statefulset="bare"} 0
		statefulset_info{namespace="ns",pod_management_policy="OrderedReady",service_name="",statefulset="bare",update_strategy="RollingUpdate"} 1
		statefulset_pods_unschedulable{namespace="ns",statefulset="bare"} 0
		statefulset_pods_terminating{namespace="ns",statefulset="bare"} 0
		statefulset_pod_not_ready_info{container="",last_termination_reason="",namespace="ns",pod="bare-0",reason="Pending",statefulset="bare"} 1
		statefulset_pods_on_unready_nodes{namespace="ns",statefulset="bare"} 0
		statefulset_container_restarts_total{namespace="ns",statefulset="bare"} 0
		statefulset_pvcs_retained{namespace="ns",statefulset="bare"} 0
		statefulset_ready_zones{namespace="ns",statefulset="bare"} 0
		statefulset_ha_risk_info{namespace="ns",risk="no_pdb",statefulset="bare"} 1
		statefulset_ha_risk_info{namespace="ns",risk="no_governing_service",statefulset="bare"} 1
	`, workloadFamilyNames()...)
}

// workloadFamilyNames lists every per-StatefulSet family.
func workloadFamilyNames() []string {
	names := []string{"statefulset_container_restarts_total"}
	for _, f := range workloadFamilies {
		names = append(names, descName(f.desc))
	}
	return names
}

func ptrTrue() *bool { b := true; return &b }
