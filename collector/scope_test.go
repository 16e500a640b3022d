package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// scopeObjects is one StatefulSet per namespace a, b and c, each with a pod (3 restarts)
// and a Pending PVC.
func scopeObjects(extra ...func(*appsv1.StatefulSet)) []runtime.Object {
	var objs []runtime.Object
	for _, ns := range []string{"a", "b", "c"} {
		set := newStatefulSet(ns, "db", 1, append([]func(*appsv1.StatefulSet){withClaimTemplates("data")}, extra...)...)
		// UIDs are unique across the cluster, which the trackers rely on.
		objs = append(objs, set, newPod(set, 0, restarts(3), withUID("uid-"+ns+"-db-0")),
			newPVC(set, "data", 0, corev1.ClaimPending, pvcUID(ns)))
	}
	return objs
}

func pvcUID(ns string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.UID = types.UID("uid-" + ns + "-" + c.Name) }
}

func desiredLines(namespaces ...string) string {
	var out []string
	for _, ns := range namespaces {
		out = append(out,
			fmt.Sprintf(`statefulset_replicas_desired{namespace=%q,statefulset="db"} 1`, ns),
			fmt.Sprintf(`statefulset_container_restarts_total{namespace=%q,statefulset="db"} 3`, ns))
	}
	return lines(out...)
}

func TestFakeClientsetSelectors(t *testing.T) {
	// What the scope tests below rely on. The StatefulSet transform drops labels, so
	// --statefulset.selector works only if the List honours label selectors, which the
	// fake clientset does. The fake ignores field selectors, so the excluded-namespace
	// tests exercise the collector's own namespace filter.
	objs := scopeObjects()
	objs = append(objs, newStatefulSet("a", "labelled", 1, withLabels("tier", "db")))
	client := fake.NewClientset(objs...)
	list, err := client.AppsV1().StatefulSets("").List(context.Background(), metav1.ListOptions{LabelSelector: "tier=db"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "labelled" {
		t.Fatalf("label selector not honoured: %d items", len(list.Items))
	}
	list, err = client.AppsV1().StatefulSets("").List(context.Background(), metav1.ListOptions{FieldSelector: excludeSelector([]string{"b"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("field selector %q: the fake lists %d of 4 StatefulSets", excludeSelector([]string{"b"}), len(list.Items))
}

func TestNamespaceScope(t *testing.T) {
	names := []string{"statefulset_replicas_desired", "statefulset_container_restarts_total"}
	cases := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"all namespaces", nil, desiredLines("a", "b", "c")},
		{"one namespace", configWith(func(c *Config) { c.Namespaces = []string{"b"} }), desiredLines("b")},
		{"two namespaces", configWith(func(c *Config) { c.Namespaces = []string{"a,c"} }), desiredLines("a", "c")},
		{"excluded namespace", configWith(func(c *Config) { c.ExcludeNamespaces = []string{"b"} }), desiredLines("a", "c")},
		{"two excluded namespaces", configWith(func(c *Config) { c.ExcludeNamespaces = []string{"a", "c"} }), desiredLines("b")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, tc.cfg, scopeObjects()...)
			env.expect(tc.want, names...)
		})
	}
}

func TestNamespaceScopeOfBindDurations(t *testing.T) {
	// Bind durations of StatefulSets outside the watched namespaces are not exported
	// either, also when several namespaces are watched (the informers then see all).
	cases := []struct {
		name string
		cfg  *Config
		want []string
	}{
		{"two namespaces", configWith(func(c *Config) { c.Namespaces, c.BindDurationHistogram = []string{"a", "c"}, true }), []string{"a", "c"}},
		{"excluded namespace", configWith(func(c *Config) { c.ExcludeNamespaces, c.BindDurationHistogram = []string{"b"}, true }), []string{"a", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, tc.cfg, scopeObjects()...)
			env.clock.Advance(10 * time.Second)
			for _, ns := range []string{"a", "b", "c"} {
				pvc := newPVC(newStatefulSet(ns, "db", 1), "data", 0, corev1.ClaimBound, pvcUID(ns))
				if _, err := env.client.CoreV1().PersistentVolumeClaims(ns).Update(context.Background(), pvc, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// c is updated last and is in scope in both cases: once it is observed, a and b are.
			eventually(t, "binds observed", func() bool {
				return strings.Contains(exposition(t, env.collector, "statefulset_pvc_bind_duration_seconds"), `namespace="c"`)
			})
			var want []string
			for _, ns := range tc.want {
				want = append(want, bindLines(ns, "db", 20*60+10))
			}
			env.expect(lines(want...), "statefulset_pvc_bind_duration_seconds")
		})
	}
}

func TestStatefulSetSelector(t *testing.T) {
	tier := func(v string) func(*appsv1.StatefulSet) { return withLabels("tier", v) }
	objs := []runtime.Object{
		newStatefulSet("a", "pg", 1, tier("db")),
		newStatefulSet("a", "web", 1, tier("frontend")),
		newStatefulSet("b", "redis", 1, tier("db")),
		newStatefulSet("b", "plain", 1),
	}
	cases := []struct {
		name, selector, want string
	}{
		{"equality", "tier=db", `
			statefulset_replicas_desired{namespace="a",statefulset="pg"} 1
			statefulset_replicas_desired{namespace="b",statefulset="redis"} 1`},
		{"inequality", "tier!=db", `
			statefulset_replicas_desired{namespace="a",statefulset="web"} 1
			statefulset_replicas_desired{namespace="b",statefulset="plain"} 1`},
		{"exists", "tier", `
			statefulset_replicas_desired{namespace="a",statefulset="pg"} 1
			statefulset_replicas_desired{namespace="a",statefulset="web"} 1
			statefulset_replicas_desired{namespace="b",statefulset="redis"} 1`},
		{"set", "tier in (frontend, cache)", `
			statefulset_replicas_desired{namespace="a",statefulset="web"} 1`},
		{"nothing matches", "tier=none", ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, configWith(func(c *Config) { c.StatefulSetSelector = tc.selector }), objs...)
			env.expect(tc.want, "statefulset_replicas_desired")
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		fn   func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"namespace both watched and excluded", func(c *Config) { c.Namespaces, c.ExcludeNamespaces = []string{"a,b"}, []string{"b"} }, false},
		{"bad selector", func(c *Config) { c.StatefulSetSelector = "tier in (" }, false},
		{"no zone label", func(c *Config) { c.ZoneLabels = []string{" , "} }, false},
		{"zero stall", func(c *Config) { c.RolloutStallAfter = 0 }, false},
		{"negative stuck-after", func(c *Config) { c.TerminatingStuckAfter = -time.Second }, false},
		{"zero stuck-after", func(c *Config) { c.TerminatingStuckAfter = 0 }, true},
		{"probe too often", func(c *Config) { c.APIProbeInterval = 10 * time.Millisecond }, false},
		{"empty lease namespace", func(c *Config) { c.LeaseNamespace = "" }, false},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.fn(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	c := DefaultConfig()
	c.Namespaces = []string{" a, b", "a", ""}
	c.ZoneLabels = []string{"x,y", " y "}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Namespaces, "|") != "a|b" || strings.Join(c.ZoneLabels, "|") != "x|y" {
		t.Errorf("split lists: namespaces %q, zone labels %q", c.Namespaces, c.ZoneLabels)
	}
}
