package collector

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func riskLine(risk string, v int) string {
	return fmt.Sprintf(`statefulset_ha_risk{namespace="ns",risk=%q,statefulset="web"} %d`, risk, v)
}

// matchingPDB selects the pods of web.
func matchingPDB() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func TestHARisks(t *testing.T) {
	twoContainers := func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers = append(s.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar"})
	}
	noContainers := func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers = nil }
	nilReplicas := func(s *appsv1.StatefulSet) { s.Spec.Replicas = nil }
	zoneNodes := []runtime.Object{newNode("a1", zoneKey, "a"), newNode("a2", zoneKey, "a"), newNode("b1", zoneKey, "b"), newNode("nz", "", "")}
	pdb := func(name string, sel *metav1.LabelSelector) runtime.Object { return newPDB("ns", name, sel) }

	cases := []struct {
		name string
		set  *appsv1.StatefulSet
		objs func(s *appsv1.StatefulSet) []runtime.Object
		want string
	}{
		{
			name: "healthy: three replicas in two zones, PDB, grace, probes",
			set:  newStatefulSet("ns", "web", 3),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()),
					newPod(s, 0, onNode("a1")), newPod(s, 1, onNode("b1")), newPod(s, 2, onNode("a2")))
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0), riskLine("single_zone", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "singleton with no ready pod: no single_zone sample",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()), newPod(s, 0, onNode("a1"), notReady))
			},
			want: lines(riskLine("singleton", 1), riskLine("no_pdb", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "singleton in one zone is not single_zone",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()), newPod(s, 0, onNode("a1")))
			},
			want: lines(riskLine("singleton", 1), riskLine("no_pdb", 0), riskLine("single_zone", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "every ready pod in one zone; not-ready pods elsewhere do not count",
			set:  newStatefulSet("ns", "web", 3),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()),
					newPod(s, 0, onNode("a1")), newPod(s, 1, onNode("a2")), newPod(s, 2, onNode("b1"), notReady))
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0), riskLine("single_zone", 1),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "ready pods only on nodes without zone: no single_zone sample",
			set:  newStatefulSet("ns", "web", 3),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()), newPod(s, 0, onNode("nz")), newPod(s, 1, onNode("nz")))
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "no PDB at all",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(*appsv1.StatefulSet) []runtime.Object { return nil },
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 1),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "PDBs that do not select the pods: other labels, nil selector, other namespace",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(*appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{
					pdb("other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}),
					pdb("extra-label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}),
					pdb("nil", nil),
					pdb("bad", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}),
					newPDB("elsewhere", "web", matchingPDB()),
				}
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 1),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "an empty selector selects every pod",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(*appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("nil", nil), pdb("all", &metav1.LabelSelector{})}
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "a match expression selecting the template labels",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(*appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("expr", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db", "web"}}}})}
			},
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0),
				riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
		{
			name: "zero grace period and a container without readiness probe",
			set:  newStatefulSet("ns", "web", 2, withPodGrace(ptr.To[int64](0)), twoContainers),
			objs: func(*appsv1.StatefulSet) []runtime.Object { return []runtime.Object{pdb("web", matchingPDB())} },
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0),
				riskLine("zero_grace_period", 1), riskLine("no_readiness_probe", 1)),
		},
		{
			name: "explicit grace period; no containers in the template: no probe sample",
			set:  newStatefulSet("ns", "web", 2, withPodGrace(ptr.To[int64](30)), noContainers),
			objs: func(*appsv1.StatefulSet) []runtime.Object { return []runtime.Object{pdb("web", matchingPDB())} },
			want: lines(riskLine("singleton", 0), riskLine("no_pdb", 0), riskLine("zero_grace_period", 0)),
		},
		{
			name: "nil replicas: no singleton and no single_zone sample",
			set:  newStatefulSet("ns", "web", 2, nilReplicas),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return append(zoneNodes, pdb("web", matchingPDB()), newPod(s, 0, onNode("a1")))
			},
			want: lines(riskLine("no_pdb", 0), riskLine("zero_grace_period", 0), riskLine("no_readiness_probe", 0)),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil, append([]runtime.Object{tc.set}, tc.objs(tc.set)...)...)
			env.expect(tc.want, "statefulset_ha_risk")
		})
	}
}
