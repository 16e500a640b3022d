package collector

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// riskLines returns the statefulset_ha_risk_info samples of ns/web for risks, the only
// ones that apply.
func riskLines(risks ...string) string {
	out := make([]string, 0, len(risks))
	for _, r := range risks {
		out = append(out, fmt.Sprintf(`statefulset_ha_risk_info{namespace="ns",risk=%q,statefulset="web"} 1`, r))
	}
	return lines(out...)
}

// matchingPDB selects the pods of web.
func matchingPDB() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func withRetention(whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenScaled: whenScaled, WhenDeleted: whenDeleted}
	}
}

func TestHARisks(t *testing.T) {
	twoContainers := func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers = append(s.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar"})
	}
	noContainers := func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers = nil }
	nilReplicas := func(s *appsv1.StatefulSet) { s.Spec.Replicas = nil }
	noServiceName := func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }
	zoneNodes := []runtime.Object{newNode("a1", zoneKey, "a"), newNode("a2", zoneKey, "a"), newNode("b1", zoneKey, "b"), newNode("nz", "", "")}
	pdb := func(name string, sel *metav1.LabelSelector) runtime.Object { return newPDB("ns", name, sel) }
	// covered has a PDB and the headless governing Service: no risk from them.
	covered := func(s *appsv1.StatefulSet, objs ...runtime.Object) []runtime.Object {
		return append(objs, pdb("web", matchingPDB()), governing(s))
	}
	del, retain := appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType

	cases := []struct {
		name string
		set  *appsv1.StatefulSet
		objs func(s *appsv1.StatefulSet) []runtime.Object
		want string
	}{
		{
			name: "healthy: three replicas in two zones, PDB, headless Service, grace, probes, claims retained",
			set:  newStatefulSet("ns", "web", 3, withClaimTemplates("data"), withRetention(retain, retain)),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("a1")), newPod(s, 1, onNode("b1")), newPod(s, 2, onNode("a2")))...)
			},
			want: "",
		},
		{
			name: "singleton with no ready pod: singleton only",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("a1"), notReady))...)
			},
			want: riskLines("singleton"),
		},
		{
			name: "singleton in one zone is not single_zone",
			set:  newStatefulSet("ns", "web", 1),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("a1")))...)
			},
			want: riskLines("singleton"),
		},
		{
			name: "every ready pod in one zone; not-ready pods elsewhere do not count",
			set:  newStatefulSet("ns", "web", 3),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("a1")), newPod(s, 1, onNode("a2")), newPod(s, 2, onNode("b1"), notReady))...)
			},
			want: riskLines("single_zone"),
		},
		{
			name: "ready pods only on nodes without zone: no single_zone",
			set:  newStatefulSet("ns", "web", 3),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("nz")), newPod(s, 1, onNode("nz")))...)
			},
			want: "",
		},
		{
			name: "no PDB and no Service at all",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(*appsv1.StatefulSet) []runtime.Object { return nil },
			want: riskLines("no_pdb", "no_governing_service"),
		},
		{
			name: "PDBs that do not select the pods: other labels, nil selector, other namespace",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{
					governing(s),
					pdb("other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}),
					pdb("extra-label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}),
					pdb("nil", nil),
					pdb("bad", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}),
					newPDB("elsewhere", "web", matchingPDB()),
				}
			},
			want: riskLines("no_pdb"),
		},
		{
			name: "an empty selector selects every pod",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{governing(s), pdb("nil", nil), pdb("all", &metav1.LabelSelector{})}
			},
			want: "",
		},
		{
			name: "a match expression selecting the template labels",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{governing(s), pdb("expr", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db", "web"}}}})}
			},
			want: "",
		},
		{
			name: "zero grace period and a container without readiness probe",
			set:  newStatefulSet("ns", "web", 2, withPodGrace(ptr.To[int64](0)), twoContainers),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: riskLines("zero_grace_period", "no_readiness_probe"),
		},
		{
			name: "explicit grace period; no containers in the template: no probe risk",
			set:  newStatefulSet("ns", "web", 2, withPodGrace(ptr.To[int64](30)), noContainers),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: "",
		},
		{
			name: "nil replicas: no singleton and no single_zone",
			set:  newStatefulSet("ns", "web", 2, nilReplicas),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return covered(s, append(zoneNodes, newPod(s, 0, onNode("a1")))...)
			},
			want: "",
		},
		{
			name: "the governing Service is a ClusterIP Service",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("web", matchingPDB()), newService("ns", "web", "10.100.12.7")}
			},
			want: riskLines("governing_service_not_headless"),
		},
		{
			name: "the governing Service is an ExternalName Service (no cluster IP)",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("web", matchingPDB()), newService("ns", "web", "")}
			},
			want: riskLines("governing_service_not_headless"),
		},
		{
			name: "a headless Service of the same name in another namespace, and one of another name",
			set:  newStatefulSet("ns", "web", 2),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("web", matchingPDB()),
					newService("other", "web", corev1.ClusterIPNone), newService("ns", "web-headless", corev1.ClusterIPNone)}
			},
			want: riskLines("no_governing_service"),
		},
		{
			name: "an empty serviceName has no governing Service, whatever Services exist",
			set:  newStatefulSet("ns", "web", 2, noServiceName),
			objs: func(s *appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{pdb("web", matchingPDB()), newService("ns", "web", corev1.ClusterIPNone)}
			},
			want: riskLines("no_governing_service"),
		},
		{
			name: "scaled to 0: no pod loses its name, nothing to disrupt",
			set:  newStatefulSet("ns", "web", 0),
			objs: func(*appsv1.StatefulSet) []runtime.Object {
				return []runtime.Object{newService("ns", "web", "10.100.12.7")}
			},
			want: "",
		},
		{
			name: "claims deleted on scale-down and with the StatefulSet",
			set:  newStatefulSet("ns", "web", 3, withClaimTemplates("data"), withRetention(del, del)),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: riskLines("claims_deleted_on_scale_down", "claims_deleted_with_statefulset"),
		},
		{
			name: "claims deleted with the StatefulSet only",
			set:  newStatefulSet("ns", "web", 3, withClaimTemplates("data"), withRetention(retain, del)),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: riskLines("claims_deleted_with_statefulset"),
		},
		{
			name: "claims deleted on scale-down only, scaled to 0 as well",
			set:  newStatefulSet("ns", "web", 0, withClaimTemplates("data"), withRetention(del, retain)),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: riskLines("claims_deleted_on_scale_down"),
		},
		{
			name: "a Delete policy without claim templates deletes nothing",
			set:  newStatefulSet("ns", "web", 3, withRetention(del, del)),
			objs: func(s *appsv1.StatefulSet) []runtime.Object { return covered(s) },
			want: "",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil, append([]runtime.Object{tc.set}, tc.objs(tc.set)...)...)
			env.expect(tc.want, "statefulset_ha_risk_info")
		})
	}
}

// TestGoverningServiceFollowsChanges: the risk follows the Service as it is created,
// turned into a ClusterIP Service, and deleted (the memo must not keep a stale answer).
func TestGoverningServiceFollowsChanges(t *testing.T) {
	set := newStatefulSet("ns", "web", 2)
	env := newTestEnv(t, nil, set, newPDB("ns", "web", matchingPDB()))
	services := env.client.CoreV1().Services("ns")
	env.expect(riskLines("no_governing_service"), "statefulset_ha_risk_info")

	if _, err := services.Create(t.Context(), governing(set), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually("", "statefulset_ha_risk_info")

	if err := services.Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := services.Create(t.Context(), newService("ns", "web", "10.100.12.7"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(riskLines("governing_service_not_headless"), "statefulset_ha_risk_info")

	if err := services.Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(riskLines("no_governing_service"), "statefulset_ha_risk_info")
}

// TestServicesFollowNamespaceScope: Services are listed and watched like the other
// namespaced kinds: in the one namespace of --namespaces, or cluster-wide without the
// excluded namespaces.
func TestServicesFollowNamespaceScope(t *testing.T) {
	cases := []struct {
		name          string
		cfg           *Config
		wantNamespace string
		wantField     string
		watched       []string
	}{
		{"one namespace", configWith(func(c *Config) { c.Namespaces = []string{"b"} }), "b", "", []string{"b"}},
		{"excluded namespace", configWith(func(c *Config) { c.ExcludeNamespaces = []string{"b"} }), "", "metadata.namespace!=b", []string{"a", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []string
			record := func(a k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				field := ""
				switch a := a.(type) {
				case k8stesting.ListAction:
					field = a.GetListRestrictions().Fields.String()
				case k8stesting.WatchAction:
					field = a.GetWatchRestrictions().Fields.String()
				}
				calls = append(calls, fmt.Sprintf("%s ns=%q fields=%q", a.GetVerb(), a.GetNamespace(), field))
				return false, nil, nil
			}
			objs := scopeObjects()
			for _, ns := range []string{"a", "b", "c"} {
				objs = append(objs, newService(ns, "db", corev1.ClusterIPNone))
			}
			env := newTestEnvWith(t, tc.cfg, envOptions{reactors: []envReactor{
				{verb: "list", resource: "services", fn: record}, {verb: "watch", resource: "services", fn: record}}}, objs...)
			// Every governing Service found: singleton and no_pdb only.
			var want []string
			for _, ns := range tc.watched {
				for _, r := range []string{"no_pdb", "singleton"} {
					want = append(want, fmt.Sprintf(`statefulset_ha_risk_info{namespace=%q,risk=%q,statefulset="db"} 1`, ns, r))
				}
			}
			env.expect(lines(want...), "statefulset_ha_risk_info")
			mu.Lock()
			defer mu.Unlock()
			if len(calls) == 0 {
				t.Fatal("Services were never listed")
			}
			for _, c := range calls {
				if !strings.Contains(c, fmt.Sprintf("ns=%q fields=%q", tc.wantNamespace, tc.wantField)) {
					t.Errorf("call %s, want namespace %q and field selector %q", c, tc.wantNamespace, tc.wantField)
				}
			}
		})
	}
}
