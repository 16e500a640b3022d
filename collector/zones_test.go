package collector

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	zoneKey       = "topology.kubernetes.io/zone"
	legacyZoneKey = "failure-domain.beta.kubernetes.io/zone"
	ebsZoneKey    = "topology.ebs.csi.aws.com/zone"
	customZoneKey = "example.com/rack-zone"
)

func mismatchLine(pod, pvc, volumeZone, nodeZone string, v int) string {
	return fmt.Sprintf(`statefulset_pod_volume_zone_mismatch{namespace="ns",node_zone=%q,persistentvolumeclaim=%q,pod=%q,statefulset="web",volume_zone=%q} %d`,
		nodeZone, pvc, pod, volumeZone, v)
}

func withoutNodesLine(pod, pvc, volumeZone string, v int) string {
	return fmt.Sprintf(`statefulset_pod_volume_zone_without_nodes{namespace="ns",persistentvolumeclaim=%q,pod=%q,statefulset="web",volume_zone=%q} %d`,
		pvc, pod, volumeZone, v)
}

// pvLabel adds a label to a PV.
func pvLabel(pv *corev1.PersistentVolume, key, value string) *corev1.PersistentVolume {
	if pv.Labels == nil {
		pv.Labels = map[string]string{}
	}
	pv.Labels[key] = value
	return pv
}

// pvTerms replaces the PV's node selector terms.
func pvTerms(pv *corev1.PersistentVolume, terms ...corev1.NodeSelectorTerm) *corev1.PersistentVolume {
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: terms}}
	return pv
}

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

func in(key string, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

type zoneCase struct {
	name string
	cfg  *Config
	// objs returns the objects besides the StatefulSet web (replicas 1, template data).
	objs func(set *appsv1.StatefulSet) []runtime.Object
	want string
}

func TestVolumeZoneMismatch(t *testing.T) {
	var cases []zoneCase
	for _, key := range DefaultZoneLabels {
		cases = append(cases,
			zoneCase{
				name: "match on " + key,
				objs: func(s *appsv1.StatefulSet) []runtime.Object {
					pvc := newPVC(s, "data", 0, corev1.ClaimBound)
					return []runtime.Object{newNode("node-a", key, "us-east-1a"), newPod(s, 0), pvc, newZonalPV(pvc, key, "us-east-1a")}
				},
				want: mismatchLine("web-0", "data-web-0", "us-east-1a", "us-east-1a", 0),
			},
			zoneCase{
				name: "mismatch on " + key,
				objs: func(s *appsv1.StatefulSet) []runtime.Object {
					pvc := newPVC(s, "data", 0, corev1.ClaimBound)
					return []runtime.Object{newNode("node-a", key, "us-east-1b"), newPod(s, 0), pvc, newZonalPV(pvc, key, "us-east-1a")}
				},
				want: mismatchLine("web-0", "data-web-0", "us-east-1a", "us-east-1b", 1),
			})
	}
	cases = append(cases, []zoneCase{
		{
			name: "custom --zone.label key",
			cfg:  configWith(func(c *Config) { c.ZoneLabels = []string{customZoneKey} }),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newNode("node-a", customZoneKey, "rack-2"), newPod(s, 0), pvc, newZonalPV(pvc, customZoneKey, "rack-1")}
			},
			want: mismatchLine("web-0", "data-web-0", "rack-1", "rack-2", 1),
		},
		{
			name: "default keys are ignored when --zone.label names another key",
			cfg:  configWith(func(c *Config) { c.ZoneLabels = []string{customZoneKey} }),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newNode("node-a", zoneKey, "b"), newPod(s, 0), pvc, newZonalPV(pvc, zoneKey, "a")}
			},
		},
		{
			name: "the first configured key of the node wins",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				node := newNode("node-a", ebsZoneKey, "b")
				node.Labels[zoneKey] = "a"
				return []runtime.Object{node, newPod(s, 0), pvc, newZonalPV(pvc, ebsZoneKey, "a")}
			},
			want: mismatchLine("web-0", "data-web-0", "a", "a", 0),
		},
		{
			name: "PV in several zones: joined sorted, match when the node is in any",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pvc1 := newPVC(s, "data", 1, corev1.ClaimBound)
				pv1 := pvTerms(newZonalPV(pvc1, ""), term(in(zoneKey, "c")), term(in(zoneKey, "a", "c")))
				return []runtime.Object{newNode("node-a", zoneKey, "b"), newNode("node-d", zoneKey, "d"),
					newPod(s, 0), pvc, newZonalPV(pvc, zoneKey, "c", "b", "a", "b"),
					newPod(s, 1, onNode("node-d")), pvc1, pv1}
			},
			want: lines(mismatchLine("web-0", "data-web-0", "a,b,c", "b", 0),
				mismatchLine("web-1", "data-web-1", "a,c", "d", 1)),
		},
		{
			name: "zone expressions within one term intersect",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pv := pvTerms(newZonalPV(pvc, ""), term(in(zoneKey, "a", "b"), in(zoneKey, "b", "c")))
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), pvc, pv}
			},
			want: mismatchLine("web-0", "data-web-0", "b", "a", 1),
		},
		{
			name: "a term that does not restrict the zone leaves the PV unpinned",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pv := pvTerms(newZonalPV(pvc, ""),
					term(in(zoneKey, "a")),
					term(in("kubernetes.io/hostname", "node-x")))
				return []runtime.Object{newNode("node-a", zoneKey, "b"), newPod(s, 0), pvc, pv}
			},
		},
		{
			name: "NotIn does not pin",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pv := pvTerms(newZonalPV(pvc, ""), term(corev1.NodeSelectorRequirement{Key: zoneKey, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a"}}))
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), pvc, pv}
			},
		},
		{
			name: "legacy zone label with several zones joined by __",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pv := pvLabel(newZonalPV(pvc, ""), legacyZoneKey, "us-east-1c__us-east-1a")
				return []runtime.Object{newNode("node-a", zoneKey, "us-east-1b"), newPod(s, 0), pvc, pv}
			},
			want: mismatchLine("web-0", "data-web-0", "us-east-1a,us-east-1c", "us-east-1b", 1),
		},
		{
			name: "node without a zone label: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newNode("node-a", "", ""), newPod(s, 0), pvc, newZonalPV(pvc, zoneKey, "a")}
			},
		},
		{
			name: "node object missing: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newPod(s, 0), pvc, newZonalPV(pvc, zoneKey, "a")}
			},
		},
		{
			name: "PV without nodeAffinity or zone label: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), pvc, newZonalPV(pvc, "")}
			},
		},
		{
			name: "PVC without volumeName: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimPending)
				pv := newZonalPV(newPVC(s, "data", 0, corev1.ClaimBound), zoneKey, "b")
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), pvc, pv}
			},
		},
		{
			// Volume names are unique in a pod, claim names need not be: one sample per claim.
			name: "two volumes of the pod mount the same claim",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pod := newPod(s, 0)
				pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "again", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name, ReadOnly: true}}})
				unsched := newPod(s, 1, unscheduled)
				unsched.Spec.Volumes = append(unsched.Spec.Volumes, unsched.Spec.Volumes[0])
				unsched.Spec.Volumes[1].Name = "again"
				pvc1 := newPVC(s, "data", 1, corev1.ClaimBound)
				return []runtime.Object{newNode("node-a", zoneKey, "b"), pod, pvc, newZonalPV(pvc, zoneKey, "a"),
					unsched, pvc1, newZonalPV(pvc1, zoneKey, "a")}
			},
			want: mismatchLine("web-0", "data-web-0", "a", "b", 1),
		},
		{
			name: "PV object missing or PVC missing: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), newPod(s, 1), newPVC(s, "data", 0, corev1.ClaimBound)}
			},
		},
	}...)
	runZoneCases(t, cases, "statefulset_pod_volume_zone_mismatch")
}

func runZoneCases(t *testing.T, cases []zoneCase, names ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := newStatefulSet("ns", "web", 2, withClaimTemplates("data"))
			env := newTestEnv(t, tc.cfg, append([]runtime.Object{set}, tc.objs(set)...)...)
			env.expect(tc.want, names...)
		})
	}
}

func TestVolumeZoneWithoutNodes(t *testing.T) {
	pending := func(s *appsv1.StatefulSet, zone string, nodes ...runtime.Object) []runtime.Object {
		pvc := newPVC(s, "data", 0, corev1.ClaimBound)
		return append(nodes, newPod(s, 0, unscheduled), pvc, newZonalPV(pvc, zoneKey, zone))
	}
	runZoneCases(t, []zoneCase{
		{
			name: "only a NotReady node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, "a", newNode("n1", zoneKey, "a", nodeReadyStatus(corev1.ConditionFalse)), newNode("n2", zoneKey, "b"))
			},
			want: withoutNodesLine("web-0", "data-web-0", "a", 1),
		},
		{
			name: "only a cordoned node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, "a", newNode("n1", zoneKey, "a", cordoned))
			},
			want: withoutNodesLine("web-0", "data-web-0", "a", 1),
		},
		{
			name: "only an unreachable node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, "a", newNode("n1", zoneKey, "a", unreachableTaint))
			},
			want: withoutNodesLine("web-0", "data-web-0", "a", 1),
		},
		{
			name: "no node at all",
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return pending(s, "a") },
			want: withoutNodesLine("web-0", "data-web-0", "a", 1),
		},
		{
			name: "a Ready schedulable node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, "a", newNode("n1", zoneKey, "a", cordoned), newNode("n2", zoneKey, "a"))
			},
			want: withoutNodesLine("web-0", "data-web-0", "a", 0),
		},
		{
			name: "a Ready node whose zone is under another configured key",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, "a", newNode("n1", ebsZoneKey, "a"))
			},
			want: withoutNodesLine("web-0", "data-web-0", "a", 0),
		},
		{
			name: "a scheduled pod or a terminating one yields no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc0 := newPVC(s, "data", 0, corev1.ClaimBound)
				pvc1 := newPVC(s, "data", 1, corev1.ClaimBound)
				return []runtime.Object{
					newPod(s, 0, onNode("")), // no node, but Running
					newPod(s, 1, unscheduled, deletedAt(0, nil, nil)),
					pvc0, newZonalPV(pvc0, zoneKey, "a"), pvc1, newZonalPV(pvc1, zoneKey, "a"),
				}
			},
		},
		{
			name: "unpinned PV: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				return []runtime.Object{newPod(s, 0, unscheduled), pvc, newZonalPV(pvc, "")}
			},
		},
	}, "statefulset_pod_volume_zone_without_nodes")
}

func TestReadyPodsPerZone(t *testing.T) {
	set := newStatefulSet("ns", "web", 7)
	env := newTestEnv(t, nil, set,
		newNode("a1", zoneKey, "a"), newNode("a2", legacyZoneKey, "a"), newNode("b1", zoneKey, "b"),
		newNode("c1", zoneKey, "c"), newNode("nozone", "", ""),
		newPod(set, 0, onNode("a1")), newPod(set, 1, onNode("a2")), newPod(set, 2, onNode("b1")),
		newPod(set, 3, onNode("c1"), notReady),
		newPod(set, 4, onNode("c1"), deletedAt(0, nil, nil)),
		newPod(set, 5, onNode("nozone")),
		newPod(set, 6, onNode("missing")),
	)
	env.expect(`
		statefulset_pods_ready_per_zone{namespace="ns",node_zone="a",statefulset="web"} 2
		statefulset_pods_ready_per_zone{namespace="ns",node_zone="b",statefulset="web"} 1
		statefulset_ready_zones{namespace="ns",statefulset="web"} 2
	`, "statefulset_pods_ready_per_zone", "statefulset_ready_zones")

	empty := newStatefulSet("ns", "empty", 0)
	env = newTestEnv(t, nil, empty)
	env.expect(`statefulset_ready_zones{namespace="ns",statefulset="empty"} 0`,
		"statefulset_pods_ready_per_zone", "statefulset_ready_zones")
}

func TestVolumeAttachmentErrors(t *testing.T) {
	names := []string{"statefulset_volume_attachment_errors", "statefulset_volume_attachment_error"}
	web := newStatefulSet("ns", "web", 3, withClaimTemplates("data"))
	quiet := newStatefulSet("ns", "quiet", 1, withClaimTemplates("data"))
	pvc0 := newPVC(web, "data", 0, corev1.ClaimBound)
	pvc1 := newPVC(web, "data", 1, corev1.ClaimBound)
	pvc2 := newPVC(web, "data", 2, corev1.ClaimBound)
	pending := newPVC(web, "data", 3, corev1.ClaimPending)
	quietPVC := newPVC(quiet, "data", 0, corev1.ClaimBound)
	env := newTestEnv(t, nil, web, quiet, pvc0, pvc1, pvc2, pending, quietPVC,
		newAttachment("va-0", pvc0.Spec.VolumeName, "node-a", true, false),
		newAttachment("va-0-old", pvc0.Spec.VolumeName, "node-old", false, true),
		newAttachment("va-1", pvc1.Spec.VolumeName, "node-b", true, true),
		newAttachment("va-2", pvc2.Spec.VolumeName, "node-c", false, false),
		newAttachment("va-quiet", quietPVC.Spec.VolumeName, "node-a", false, false),
		newAttachment("va-other", "pv-unrelated", "node-a", true, false),
		func() *storagev1.VolumeAttachment { // an inline-volume attachment has no PV name
			va := newAttachment("va-inline", "", "node-a", true, false)
			va.Spec.Source.PersistentVolumeName = nil
			return va
		}(),
	)
	env.expect(`
		statefulset_volume_attachment_errors{namespace="ns",statefulset="quiet"} 0
		statefulset_volume_attachment_errors{namespace="ns",statefulset="web"} 3
		statefulset_volume_attachment_error{namespace="ns",node="node-a",operation="attach",persistentvolumeclaim="data-web-0",statefulset="web"} 1
		statefulset_volume_attachment_error{namespace="ns",node="node-old",operation="detach",persistentvolumeclaim="data-web-0",statefulset="web"} 1
		statefulset_volume_attachment_error{namespace="ns",node="node-b",operation="attach",persistentvolumeclaim="data-web-1",statefulset="web"} 1
		statefulset_volume_attachment_error{namespace="ns",node="node-b",operation="detach",persistentvolumeclaim="data-web-1",statefulset="web"} 1
	`, names...)
	// The error text is never a label value.
	if got := exposition(t, env.collector); strings.Contains(got, "attached elsewhere") || strings.Contains(got, "timed out") {
		t.Errorf("error text leaked into the exposition:\n%s", got)
	}
}

// TestAttachmentErrorsOfTwoAttachers: two failing VolumeAttachments of one PV on one node
// (two attachers) count as two failing attachments but give one sample per labels, which
// the registry requires.
func TestAttachmentErrorsOfTwoAttachers(t *testing.T) {
	set := newStatefulSet("ns", "db", 1, withClaimTemplates("data"))
	pvc := newPVC(set, "data", 0, corev1.ClaimBound)
	pv := newZonalPV(pvc, "topology.kubernetes.io/zone", "a")
	env := newTestEnv(t, nil, set, pvc, pv,
		newAttachment("csi-1", pv.Name, "node-a", true, false),
		newAttachment("csi-2", pv.Name, "node-a", true, false))
	env.expect(`
		statefulset_volume_attachment_errors{namespace="ns",statefulset="db"} 2
		statefulset_volume_attachment_error{namespace="ns",node="node-a",operation="attach",persistentvolumeclaim="data-db-0",statefulset="db"} 1
	`, "statefulset_volume_attachment_errors", "statefulset_volume_attachment_error")
}
