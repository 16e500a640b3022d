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

func mismatchLine(pod, pvc, volumeZone, nodeZone string) string {
	return fmt.Sprintf(`statefulset_pod_volume_zone_mismatch_info{namespace="ns",node_zone=%q,persistentvolumeclaim=%q,pod=%q,statefulset="web",volume_zone=%q} 1`,
		nodeZone, pvc, pod, volumeZone)
}

func noUsableNodeLine(pod, pvc, volumeZone string) string {
	return fmt.Sprintf(`statefulset_pod_volume_no_usable_node_info{namespace="ns",persistentvolumeclaim=%q,pod=%q,statefulset="web",volume_zone=%q} 1`,
		pvc, pod, volumeZone)
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
				// A match yields no series.
			},
			zoneCase{
				name: "mismatch on " + key,
				objs: func(s *appsv1.StatefulSet) []runtime.Object {
					pvc := newPVC(s, "data", 0, corev1.ClaimBound)
					return []runtime.Object{newNode("node-a", key, "us-east-1b"), newPod(s, 0), pvc, newZonalPV(pvc, key, "us-east-1a")}
				},
				want: mismatchLine("web-0", "data-web-0", "us-east-1a", "us-east-1b"),
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
			want: mismatchLine("web-0", "data-web-0", "rack-1", "rack-2"),
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
				node := newNode("node-a", ebsZoneKey, "a")
				node.Labels[zoneKey] = "b"
				return []runtime.Object{node, newPod(s, 0), pvc, newZonalPV(pvc, ebsZoneKey, "a")}
			},
			want: mismatchLine("web-0", "data-web-0", "a", "b"),
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
			want: mismatchLine("web-1", "data-web-1", "a,c", "d"),
		},
		{
			name: "zone expressions within one term intersect",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc := newPVC(s, "data", 0, corev1.ClaimBound)
				pv := pvTerms(newZonalPV(pvc, ""), term(in(zoneKey, "a", "b"), in(zoneKey, "b", "c")))
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), pvc, pv}
			},
			want: mismatchLine("web-0", "data-web-0", "b", "a"),
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
			want: mismatchLine("web-0", "data-web-0", "us-east-1a,us-east-1c", "us-east-1b"),
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
			want: mismatchLine("web-0", "data-web-0", "a", "b"),
		},
		{
			name: "PV object missing or PVC missing: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newNode("node-a", zoneKey, "a"), newPod(s, 0), newPod(s, 1), newPVC(s, "data", 0, corev1.ClaimBound)}
			},
		},
	}...)
	runZoneCases(t, cases, "statefulset_pod_volume_zone_mismatch_info")
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

func TestVolumeNoUsableNode(t *testing.T) {
	// pending is web-0, unscheduled, with its claim bound to pv, and nodes.
	pending := func(s *appsv1.StatefulSet, pv func(*corev1.PersistentVolumeClaim) *corev1.PersistentVolume, pod func(*corev1.Pod), nodes ...runtime.Object) []runtime.Object {
		pvc := newPVC(s, "data", 0, corev1.ClaimBound)
		p := newPod(s, 0, unscheduled)
		if pod != nil {
			pod(p)
		}
		return append(nodes, p, pvc, pv(pvc))
	}
	inZone := func(zone string) func(*corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
		return func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume { return newZonalPV(c, zoneKey, zone) }
	}
	withTerms := func(terms ...corev1.NodeSelectorTerm) func(*corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
		return func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
			return pvTerms(newZonalPV(c, ""), terms...)
		}
	}
	req := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	label := func(kv ...string) func(*corev1.Node) {
		return func(n *corev1.Node) {
			for i := 0; i < len(kv); i += 2 {
				n.Labels[kv[i]] = kv[i+1]
			}
		}
	}
	taint := func(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
		}
	}
	tolerate := func(key, value string, effect corev1.TaintEffect) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: effect})
		}
	}
	dbAffinity := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{term(req("nodegroup", corev1.NodeSelectorOpIn, "db"))}}}}
	}
	hostname := "kubernetes.io/hostname"
	runZoneCases(t, []zoneCase{
		{
			name: "only a NotReady node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), nil, newNode("n1", zoneKey, "a", nodeReadyStatus(corev1.ConditionFalse)), newNode("n2", zoneKey, "b"))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "only a cordoned node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), nil, newNode("n1", zoneKey, "a", cordoned))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "a cordoned node is usable by a pod tolerating the cordon",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), tolerate(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule),
					newNode("n1", zoneKey, "a", cordoned))
			},
		},
		{
			name: "only an unreachable node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), nil, newNode("n1", zoneKey, "a", unreachableTaint))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "no node at all",
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return pending(s, inZone("a"), nil) },
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "a Ready schedulable node in the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), nil, newNode("n1", zoneKey, "a", cordoned), newNode("n2", zoneKey, "a"))
			},
		},
		{
			// The EBS CSI driver pins volumes with its own key; nodes where the driver does not
			// run lack it, whatever their topology.kubernetes.io/zone says.
			name: "nodes of the zone without the CSI topology label",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume { return newZonalPV(c, ebsZoneKey, "a") }, nil,
					newNode("n1", zoneKey, "a"), newNode("n2", zoneKey, "b", label(ebsZoneKey, "b")))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "a node of the zone with the CSI topology label",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume { return newZonalPV(c, ebsZoneKey, "a") }, nil,
					newNode("n1", zoneKey, "a"), newNode("n2", zoneKey, "a", label(ebsZoneKey, "a")))
			},
		},
		{
			name: "local volume pinned to a node that is gone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(in(hostname, "node-x"))), nil,
					newNode("node-y", zoneKey, "a", label(hostname, "node-y")))
			},
			want: noUsableNodeLine("web-0", "data-web-0", ""),
		},
		{
			name: "local volume pinned to a node that is there",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(in(hostname, "node-x"))), nil,
					newNode("node-y", zoneKey, "a", label(hostname, "node-y")), newNode("node-x", zoneKey, "a", label(hostname, "node-x")))
			},
		},
		{
			name: "local volume in a zone, pinned to a NotReady node",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(in(zoneKey, "a"), in(hostname, "node-x"))), nil,
					newNode("node-x", zoneKey, "a", label(hostname, "node-x"), nodeReadyStatus(corev1.ConditionFalse)),
					newNode("node-y", zoneKey, "a", label(hostname, "node-y")))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "NotIn leaves only excluded zones",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(req(zoneKey, corev1.NodeSelectorOpNotIn, "a"))), nil, newNode("n1", zoneKey, "a"))
			},
			want: noUsableNodeLine("web-0", "data-web-0", ""),
		},
		{
			name: "NotIn with a node elsewhere",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(req(zoneKey, corev1.NodeSelectorOpNotIn, "a"))), nil, newNode("n1", zoneKey, "a"), newNode("n2", zoneKey, "b"))
			},
		},
		{
			name: "Exists on a label no node has",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(req("example.com/local-nvme", corev1.NodeSelectorOpExists))), nil, newNode("n1", zoneKey, "a"))
			},
			want: noUsableNodeLine("web-0", "data-web-0", ""),
		},
		{
			name: "terms are ORed: one term a node matches is enough",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, withTerms(term(in(zoneKey, "c")), term(in(zoneKey, "a"))), nil, newNode("n1", zoneKey, "a"))
			},
		},
		{
			name: "the only node of the zone has a taint the pod does not tolerate",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), tolerate("dedicated", "web", corev1.TaintEffectNoSchedule),
					newNode("n1", zoneKey, "a", taint("dedicated", "db", corev1.TaintEffectNoSchedule)), newNode("n2", zoneKey, "b"))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "a tolerated taint, or a PreferNoSchedule one, leaves the node usable",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc1 := newPVC(s, "data", 1, corev1.ClaimBound)
				return append(pending(s, inZone("a"), tolerate("dedicated", "db", corev1.TaintEffectNoSchedule),
					newNode("n1", zoneKey, "a", taint("dedicated", "db", corev1.TaintEffectNoSchedule)),
					newNode("n2", zoneKey, "b", taint("spot", "", corev1.TaintEffectPreferNoSchedule))),
					newPod(s, 1, unscheduled), pvc1, newZonalPV(pvc1, zoneKey, "b"))
			},
		},
		{
			name: "the pod's nodeSelector excludes the zone's nodes",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"nodegroup": "db"} },
					newNode("n1", zoneKey, "a", label("nodegroup", "web")), newNode("n2", zoneKey, "b", label("nodegroup", "db")))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "the pod's required node affinity excludes the zone's nodes",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), dbAffinity, newNode("n1", zoneKey, "a", label("nodegroup", "web")), newNode("n2", zoneKey, "b", label("nodegroup", "db")))
			},
			want: noUsableNodeLine("web-0", "data-web-0", "a"),
		},
		{
			name: "the pod's required node affinity keeps a node of the zone",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, inZone("a"), dbAffinity, newNode("n1", zoneKey, "a", label("nodegroup", "web")), newNode("n2", zoneKey, "a", label("nodegroup", "db")))
			},
		},
		{
			name: "a scheduled, a terminating or a gated pod yields no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				pvc0 := newPVC(s, "data", 0, corev1.ClaimBound)
				pvc1 := newPVC(s, "data", 1, corev1.ClaimBound)
				pvc2 := newPVC(s, "data", 2, corev1.ClaimBound)
				gated := newPod(s, 2, unscheduled)
				gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
				gated.Status.Conditions[0].Reason = corev1.PodReasonSchedulingGated
				return []runtime.Object{
					newPod(s, 0, onNode("")), // no node, but Running
					newPod(s, 1, unscheduled, deletedAt(0, nil, nil)),
					gated,
					pvc0, newZonalPV(pvc0, zoneKey, "a"), pvc1, newZonalPV(pvc1, zoneKey, "a"), pvc2, newZonalPV(pvc2, zoneKey, "a"),
				}
			},
		},
		{
			name: "PV without node affinity: no sample",
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return pending(s, func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume { return newZonalPV(c, "") }, nil)
			},
		},
	}, "statefulset_pod_volume_no_usable_node_info")
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
	names := []string{"statefulset_volume_attachment_error_info"}
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
		statefulset_volume_attachment_error_info{namespace="ns",node="node-a",operation="attach",persistentvolumeclaim="data-web-0",statefulset="web"} 1
		statefulset_volume_attachment_error_info{namespace="ns",node="node-old",operation="detach",persistentvolumeclaim="data-web-0",statefulset="web"} 1
		statefulset_volume_attachment_error_info{namespace="ns",node="node-b",operation="attach",persistentvolumeclaim="data-web-1",statefulset="web"} 1
		statefulset_volume_attachment_error_info{namespace="ns",node="node-b",operation="detach",persistentvolumeclaim="data-web-1",statefulset="web"} 1
	`, names...)
	// The error text is never a label value.
	if got := exposition(t, env.collector); strings.Contains(got, "attached elsewhere") || strings.Contains(got, "timed out") {
		t.Errorf("error text leaked into the exposition:\n%s", got)
	}
}

// TestAttachmentErrorsOfTwoAttachers: two failing VolumeAttachments of one PV on one node
// (two attachers) give one sample per labels, which the registry requires.
func TestAttachmentErrorsOfTwoAttachers(t *testing.T) {
	set := newStatefulSet("ns", "db", 1, withClaimTemplates("data"))
	pvc := newPVC(set, "data", 0, corev1.ClaimBound)
	pv := newZonalPV(pvc, "topology.kubernetes.io/zone", "a")
	env := newTestEnv(t, nil, set, pvc, pv,
		newAttachment("csi-1", pv.Name, "node-a", true, false),
		newAttachment("csi-2", pv.Name, "node-a", true, false))
	env.expect(`
		statefulset_volume_attachment_error_info{namespace="ns",node="node-a",operation="attach",persistentvolumeclaim="data-db-0",statefulset="db"} 1
	`, "statefulset_volume_attachment_error_info")
}
