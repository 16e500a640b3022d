package chart

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
)

// clusterScoped are the watched kinds without a namespace: with rbac.namespaced the
// ClusterRole grants these alone.
var clusterScoped = []string{"nodes", "persistentvolumes", "storageclasses", "volumeattachments"}

// TestRenderNamespacedRBAC: with rbac.namespaced and namespaces listed, the chart passes
// --namespaces and grants every watched kind exactly once where the exporter reads it:
// the namespaced kinds by a Role in each listed namespace, the Leases by a Role in the
// lease namespace, the cluster-scoped kinds and /version by the ClusterRole. Nothing
// namespaced is granted cluster-wide. Without namespaces, or without rbac.namespaced,
// the ClusterRole stays that of deploy/.
func TestRenderNamespacedRBAC(t *testing.T) {
	watched := []string{"databases", "queues"}
	for _, c := range []struct {
		name, leaseNS string
		extraArgs     []any
	}{
		{name: "default lease namespace", leaseNS: "kube-system"},
		{name: "--lease.namespace", leaseNS: "control-plane", extraArgs: []any{"--lease.namespace=control-plane"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			vals := map[string]any{
				"namespaces": []any{watched[0], watched[1]},
				"rbac":       map[string]any{"namespaced": true},
				"extraArgs":  c.extraArgs,
			}
			objs, _ := render(t, loadChart(t), "sx", "monitoring", vals)
			var d appsv1.Deployment
			find(t, objs, "Deployment", &d)
			if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--namespaces=databases,queues") {
				t.Errorf("args %v lack --namespaces=databases,queues", args)
			}
			sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: "monitoring"}

			// Where each kind is granted: "" for the ClusterRole, else the Role's namespace.
			granted := map[string][]string{}
			var cr rbacv1.ClusterRole
			find(t, objs, "ClusterRole", &cr)
			var crb rbacv1.ClusterRoleBinding
			find(t, objs, "ClusterRoleBinding", &crb)
			checkBinding(t, "ClusterRoleBinding", crb.RoleRef, crb.Subjects, "ClusterRole", cr.Name, sa)
			collect(t, cr.Rules, "", granted)
			if !slices.ContainsFunc(cr.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Equal(r.NonResourceURLs, deploy.NonResourceURLs()) && slices.Equal(r.Verbs, []string{"get"})
			}) {
				t.Errorf("ClusterRole %v does not grant get on %v", cr.Rules, deploy.NonResourceURLs())
			}
			roles := map[string]rbacv1.Role{}
			for _, o := range byKinds(objs, "Role") {
				var r rbacv1.Role
				convert(t, o, &r)
				roles[r.Namespace+"/"+r.Name] = r
				collect(t, r.Rules, r.Namespace, granted)
			}
			bound := 0
			for _, o := range byKinds(objs, "RoleBinding") {
				var rb rbacv1.RoleBinding
				convert(t, o, &rb)
				role, ok := roles[rb.Namespace+"/"+rb.RoleRef.Name]
				if !ok {
					t.Errorf("RoleBinding %s/%s refers to no Role of its namespace", rb.Namespace, rb.Name)
					continue
				}
				checkBinding(t, "RoleBinding "+rb.Namespace+"/"+rb.Name, rb.RoleRef, rb.Subjects, "Role", role.Name, sa)
				bound++
			}
			if bound != len(roles) || len(roles) != len(watched)+1 {
				t.Errorf("%d Roles, %d bound; want %d, one per watched namespace and the lease namespace", len(roles), bound, len(watched)+1)
			}

			want := map[string][]string{}
			for _, gr := range deploy.WatchedResources() {
				switch {
				case slices.Contains(clusterScoped, gr.Resource):
					want[gr.String()] = []string{""}
				case gr.Resource == "leases":
					want[gr.String()] = []string{c.leaseNS}
				default:
					want[gr.String()] = watched
				}
			}
			for _, where := range granted {
				slices.Sort(where)
			}
			if diff := cmp.Diff(want, granted); diff != "" {
				t.Errorf("where each kind is granted (\"\" = cluster-wide) (-want +got):\n%s", diff)
			}
		})
	}

	// rbac.namespaced has no effect without namespaces; namespaces alone keep the
	// ClusterRole.
	shipped, err := deploy.ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{
		"namespaced without namespaces": {"rbac": map[string]any{"namespaced": true}},
		"namespaces without namespaced": {"namespaces": []any{"databases"}},
	} {
		t.Run(name, func(t *testing.T) {
			objs, _ := render(t, loadChart(t), "sx", "monitoring", vals)
			if roles := byKinds(objs, "Role"); len(roles) > 0 {
				t.Errorf("%d Roles rendered", len(roles))
			}
			var cr rbacv1.ClusterRole
			find(t, objs, "ClusterRole", &cr)
			if diff := cmp.Diff(shipped.Rules, cr.Rules); diff != "" {
				t.Errorf("ClusterRole rules differ from deploy/clusterrole.yaml (-deploy +chart):\n%s", diff)
			}
		})
	}
}

// collect records in granted, for each group/resource the rules grant, where: after
// checking that they grant exactly the read verbs on watched kinds.
func collect(t *testing.T, rules []rbacv1.PolicyRule, where string, granted map[string][]string) {
	t.Helper()
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			continue
		}
		if !slices.Equal(r.Verbs, deploy.ReadVerbs()) {
			t.Errorf("rule %+v grants %v, want %v", r, r.Verbs, deploy.ReadVerbs())
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				gr := res
				if g != "" {
					gr += "." + g
				}
				granted[gr] = append(granted[gr], where)
			}
		}
	}
}

func checkBinding(t *testing.T, what string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, kind, name string, sa rbacv1.Subject) {
	t.Helper()
	if ref.Kind != kind || ref.Name != name || len(subjects) != 1 || subjects[0] != sa {
		t.Errorf("%s binds %s %s to %v, want %s %s to %v", what, ref.Kind, ref.Name, subjects, kind, name, sa)
	}
}

func byKinds(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func convert(t *testing.T, o *unstructured.Unstructured, into runtime.Object) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}
