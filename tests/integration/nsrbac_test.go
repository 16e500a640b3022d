package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
)

// clusterScoped are the watched kinds that have no namespace: with several --namespaces
// a ClusterRole grants these alone.
var clusterScoped = []string{"nodes", "persistentvolumes", "storageclasses", "volumeattachments"}

// TestNamespacedRBAC runs the exporter with --namespaces=healthy,scaled-to-zero as a
// ServiceAccount that may read the namespaced kinds in those two namespaces only (a Role
// and RoleBinding in each, the Leases by a Role in kube-system) and the cluster-scoped
// kinds through a ClusterRole: no cluster-wide grant of a namespaced kind. The exporter
// must watch each namespace on its own: ready, nothing forbidden, both namespaces'
// StatefulSets exported as with full rights, nothing of a third namespace.
func TestNamespacedRBAC(t *testing.T) {
	t.Parallel()
	f := env(t)
	watched := []string{"healthy", "scaled-to-zero"}
	for _, ns := range append(watched, "unschedulable") {
		f.apply(t, ns)
	}
	ctx := t.Context()
	const name = "statefulset-exporter-namespaced"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: deploy.Namespace}}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}
	cluster, namespaced, leases := splitClusterRole(t)
	cluster.Name = name
	objs := []any{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: deploy.Namespace}}, sa, cluster,
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   subjects,
		}}
	for ns, rules := range map[string][]rbacv1.PolicyRule{"healthy": namespaced, "scaled-to-zero": namespaced, "kube-system": leases} {
		objs = append(objs,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   subjects,
			})
	}
	f.create(t, objs...)

	token, err := f.admin.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", sa.Namespace, sa.Name, err)
	}
	kubeconfig := f.writeKubeconfig(t, name, token.Status.Token)
	restricted := clientFor(t, kubeconfig)
	begin := time.Now()
	for _, gr := range deploy.WatchedResources() {
		var namespaces []string
		switch {
		case slices.Contains(clusterScoped, gr.Resource):
			namespaces = []string{""}
		case gr.Resource == "leases":
			namespaces = []string{"kube-system"}
		default:
			namespaces = watched
			// The point of the test: no cluster-wide grant, none in another namespace.
			for _, ns := range []string{"", "unschedulable"} {
				if allowed(t, restricted, authorizationv1.ResourceAttributes{Verb: "list", Group: gr.Group, Resource: gr.Resource, Namespace: ns}) {
					t.Fatalf("list %s in namespace %q is allowed, want denied", gr, ns)
				}
			}
		}
		for _, ns := range namespaces {
			waitAllowedIn(t, restricted, begin, authorizationv1.ResourceAttributes{Verb: "list", Group: gr.Group, Resource: gr.Resource, Namespace: ns})
		}
	}

	x := f.startExporter(t, "namespaced-rbac", "--kubeconfig="+kubeconfig,
		"--namespaces="+strings.Join(watched, ","), "--api.probe-interval="+rbacProbeInterval.String())
	waitReady(t, x)
	f.waitSelected(t, x, "self metrics: every resource watched, nothing forbidden", expectedSelf(t), selfFamilies)
	for _, ns := range watched {
		f.waitGolden(t, x, ns, ns, nil, nil)
	}
	s, err := x.scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, smp := range s.samples {
		if ns := smp.labels["namespace"]; ns != "" && !slices.Contains(watched, ns) && ns != "kube-system" {
			t.Errorf("sample of namespace %s, which is not watched: %s", ns, smp.name)
		}
	}
	if log := x.Log(); strings.Contains(log, "Forbidden") || strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("the exporter logged refusals, warnings or errors:\n%s", log)
	}
}

// splitClusterRole splits the shipped ClusterRole into the rules of a ClusterRole for
// the cluster-scoped kinds and the API probe, the rules of a Role for the namespaced
// kinds, and those of a Role for the Leases.
func splitClusterRole(t *testing.T) (cluster *rbacv1.ClusterRole, namespaced, leases []rbacv1.PolicyRule) {
	t.Helper()
	role, err := deploy.ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	cluster = &rbacv1.ClusterRole{}
	for _, rule := range role.Rules {
		if len(rule.NonResourceURLs) > 0 {
			cluster.Rules = append(cluster.Rules, rule)
			continue
		}
		var c, n, l []string
		for _, r := range rule.Resources {
			switch {
			case slices.Contains(clusterScoped, r):
				c = append(c, r)
			case r == "leases":
				l = append(l, r)
			default:
				n = append(n, r)
			}
		}
		for _, part := range []struct {
			resources []string
			into      *[]rbacv1.PolicyRule
		}{{c, &cluster.Rules}, {n, &namespaced}, {l, &leases}} {
			if len(part.resources) > 0 {
				r := *rule.DeepCopy()
				r.Resources = part.resources
				*part.into = append(*part.into, r)
			}
		}
	}
	return cluster, namespaced, leases
}

// waitAllowedIn waits until RBAC grants attrs to the client's identity: the authorizer
// sees new bindings a moment after they are created.
func waitAllowedIn(t *testing.T, c kubernetes.Interface, begin time.Time, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	for !allowed(t, c, attrs) {
		if time.Since(begin) > waitTimeout {
			t.Fatalf("%+v still not allowed after %s", attrs, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
