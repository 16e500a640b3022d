package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/statefulset-exporter/statefulset-exporter/collector/derive"
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
	// either, also when several namespaces are watched.
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
			// Wait for every in-scope namespace's bind. With several --namespaces each namespace
			// has its own informer, so a's update may be seen after c's. b is updated before c,
			// and with one informer (the excluded case) it has been seen once c has.
			eventually(t, "binds observed", func() bool {
				got := exposition(t, env.collector, "statefulset_pvc_bind_duration_seconds")
				for _, ns := range tc.want {
					if !strings.Contains(got, fmt.Sprintf("namespace=%q", ns)) {
						return false
					}
				}
				return true
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

// namespacedResources are the kinds watched per namespace with several --namespaces.
var namespacedResources = []string{resStatefulSets, resPods, resPVCs, resPodDisruptionBudgets, resServices}

// onlyNamespaces refuses, as RBAC with a Role in each of namespaces would, every list
// of a namespaced kind outside them, also cluster-wide. (The fake clientset's watches
// do not pass through reactors; the test checks them in the recorded actions.)
func onlyNamespaces(namespaces ...string) envReactor {
	return envReactor{verb: "list", resource: "*", fn: func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !slices.Contains(namespacedResources, a.GetResource().Resource) || slices.Contains(namespaces, a.GetNamespace()) {
			return false, nil, nil
		}
		gr := a.GetResource().GroupResource()
		return true, nil, apierrors.NewForbidden(gr, "", fmt.Errorf("cannot list %s in namespace %q", gr, a.GetNamespace()))
	}}
}

func TestSeveralNamespacesWatchedOneByOne(t *testing.T) {
	// --namespaces=a,c with RBAC that allows the namespaced kinds in a and c only: every
	// namespaced list and watch is made in a or c, never cluster-wide; the exporter is
	// ready with nothing forbidden, exports a and c, and never caches an object of b.
	objs := append(scopeObjects(),
		newPDB("a", "db", nil), newPDB("b", "db", nil), newPDB("c", "db", nil),
		newService("a", "db", "None"), newService("b", "db", "None"), newService("c", "db", "None"))
	env := newTestEnvWith(t, configWith(func(c *Config) { c.Namespaces = []string{"a", "c"} }),
		envOptions{reactors: []envReactor{onlyNamespaces("a", "c")}}, objs...)
	c := env.collector
	env.expect(desiredLines("a", "c"), "statefulset_replicas_desired", "statefulset_container_restarts_total")

	// Objects made after the start: b's must not reach the caches either.
	for _, ns := range []string{"b", "a"} {
		set := newStatefulSet(ns, "late", 1)
		if _, err := env.client.AppsV1().StatefulSets(ns).Create(context.Background(), set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.client.CoreV1().Pods(ns).Create(context.Background(), newPod(set, 0, withUID("uid-"+ns+"-late-0")), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a's late StatefulSet and pod cached", func() bool {
		// Two informers: one does not wait for the other.
		_, setCached, _ := c.watch.resources[resStatefulSets].informer.GetStore().GetByKey("a/late")
		_, podCached, _ := c.watch.resources[resPods].informer.GetStore().GetByKey("a/late-0")
		return setCached && podCached
	})
	env.expect(lines(
		`statefulset_replicas_desired{namespace="a",statefulset="db"} 1`,
		`statefulset_replicas_desired{namespace="a",statefulset="late"} 1`,
		`statefulset_replicas_desired{namespace="c",statefulset="db"} 1`), "statefulset_replicas_desired")

	for _, name := range allResources {
		r := c.watch.resources[name]
		for _, obj := range r.informer.GetStore().List() {
			if m, _ := meta.Accessor(obj); m.GetNamespace() == "b" {
				t.Errorf("%s: %s/%s of namespace b is cached", name, m.GetNamespace(), m.GetName())
			}
		}
		want := 1
		if slices.Contains(namespacedResources, name) {
			want = 2
		}
		if len(r.shards) != want {
			t.Errorf("%s: %d informers, want %d", name, len(r.shards), want)
		}
	}
	if n := len(c.watch.resources[resPodDisruptionBudgets].informer.GetIndexer().List()); n != 2 {
		t.Errorf("%d PDBs cached, want a's and c's", n)
	}
	calls := map[string]bool{}
	for _, a := range env.client.Actions() {
		verb, res, ns := a.GetVerb(), a.GetResource().Resource, a.GetNamespace()
		if verb != "list" && verb != "watch" {
			continue
		}
		calls[verb+" "+res+" "+ns] = true
		switch {
		case slices.Contains(namespacedResources, res) && ns != "a" && ns != "c":
			t.Errorf("%s %s in namespace %q: namespaced kinds must be watched in a and c only", verb, res, ns)
		case res == resLeases && ns != "kube-system":
			t.Errorf("%s leases in namespace %q, want kube-system", verb, ns)
		}
	}
	for _, res := range namespacedResources {
		for _, key := range []string{"list " + res + " a", "list " + res + " c", "watch " + res + " a", "watch " + res + " c"} {
			if !calls[key] {
				t.Errorf("no %s call", key)
			}
		}
	}
	// One series per kind, whatever the number of namespaces.
	var self []string
	for _, name := range allResources {
		self = append(self, fmt.Sprintf(`statefulset_exporter_cache_synced{resource=%q} 1`, name))
	}
	env.expect(lines(self...), "statefulset_exporter_cache_synced")
	for _, name := range allResources {
		if n := selfValue(c, func(m *selfMetrics) float64 { return m.apiErrors[[2]string{name, reasonForbidden}] }); n != 0 {
			t.Errorf("%s: %v Forbidden errors", name, n)
		}
	}
}

func TestSeveralNamespacesOneForbidden(t *testing.T) {
	// PodDisruptionBudgets forbidden in c alone switch the kind off (half of them would
	// raise no_pdb in c), counted once per refusal under the kind, not the namespace;
	// the exporter is ready.
	pdbs := schema.GroupResource{Group: "policy", Resource: resPodDisruptionBudgets}
	forbiddenInC := envReactor{verb: "list", resource: resPodDisruptionBudgets, fn: func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != "c" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(pdbs, "", errors.New("RBAC: access denied"))
	}}
	env := newTestEnvWith(t, configWith(func(c *Config) { c.Namespaces = []string{"a", "c"} }),
		envOptions{reactors: []envReactor{forbiddenInC}}, append(scopeObjects(), newPDB("a", "db", nil))...)
	c := env.collector
	eventually(t, "PDBs switched off", func() bool { return !c.watch.resources[resPodDisruptionBudgets].enabled() })
	if !c.Ready() {
		t.Fatal("not ready")
	}
	var want []string
	for _, family := range []string{"statefulset_exporter_cache_synced", "statefulset_exporter_resource_enabled"} {
		for _, name := range slices.Sorted(slices.Values(allResources)) {
			want = append(want, fmt.Sprintf(`%s{resource=%q} %v`, family, name, boolFloat(name != resPodDisruptionBudgets)))
		}
	}
	env.expect(lines(want...), "statefulset_exporter_cache_synced", "statefulset_exporter_resource_enabled")
	if n := selfValue(c, func(m *selfMetrics) float64 { return m.apiErrors[[2]string{resPodDisruptionBudgets, reasonForbidden}] }); n < 1 {
		t.Errorf("%v Forbidden errors counted for poddisruptionbudgets, want at least 1", n)
	}
}

func TestMergedIndexer(t *testing.T) {
	// The view over one indexer per namespace answers as one indexer holding them all.
	indexers := cache.Indexers{byStatefulSet: podByStatefulSet}
	a, c := cache.NewIndexer(cache.MetaNamespaceKeyFunc, indexers), cache.NewIndexer(cache.MetaNamespaceKeyFunc, indexers)
	m := &mergedIndexer{indexers: []cache.Indexer{a, c}, byNamespace: map[string]cache.Indexer{"a": a, "c": c}}
	setA, setC := newStatefulSet("a", "db", 2), newStatefulSet("c", "db", 1)
	for _, p := range []*corev1.Pod{newPod(setA, 0), newPod(setA, 1), newPod(setC, 0)} {
		if err := m.Add(derive.PodFrom(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Add(derive.PodFrom(newPod(newStatefulSet("b", "db", 1), 0))); err == nil {
		t.Error("added a pod of namespace b, which is not watched")
	}
	if len(a.List()) != 2 || len(c.List()) != 1 {
		t.Fatalf("pods went to the wrong namespace: a %d, c %d", len(a.List()), len(c.List()))
	}
	if got := len(m.List()); got != 3 {
		t.Errorf("List: %d pods, want 3", got)
	}
	keys := m.ListKeys()
	slices.Sort(keys)
	if want := []string{"a/db-0", "a/db-1", "c/db-0"}; !slices.Equal(keys, want) {
		t.Errorf("ListKeys = %q, want %q", keys, want)
	}
	if _, ok, _ := m.GetByKey("c/db-0"); !ok {
		t.Error("c/db-0 not found")
	}
	for _, key := range []string{"a/db-9", "b/db-0", "db-0"} {
		if _, ok, _ := m.GetByKey(key); ok {
			t.Errorf("%s found", key)
		}
	}
	for value, want := range map[string]int{"a/db": 2, "c/db": 1, "b/db": 0} {
		if got, err := m.ByIndex(byStatefulSet, value); err != nil || len(got) != want {
			t.Errorf("ByIndex(%s) = %d objects, %v; want %d", value, len(got), err, want)
		}
	}
	values := m.ListIndexFuncValues(byStatefulSet)
	slices.Sort(values)
	if !slices.Equal(values, []string{"a/db", "c/db"}) {
		t.Errorf("ListIndexFuncValues = %q", values)
	}
	if err := m.Replace([]any{derive.PodFrom(newPod(setC, 3))}, "7"); err != nil {
		t.Fatal(err)
	}
	if keys := m.ListKeys(); !slices.Equal(keys, []string{"c/db-3"}) {
		t.Errorf("after Replace: %q, want [c/db-3]", keys)
	}
}
