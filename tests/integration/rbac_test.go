package integration

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// rbacProbeInterval is the API probe interval of the RBAC tests' exporters. It is also the
// probe's timeout: longer than the shared exporter's so that a slow answer on a busy
// machine is not counted as an error, which these tests assert there is none of.
const rbacProbeInterval = 5 * time.Second

// optional are the kinds the exporter switches off when RBAC forbids them.
var optional = []string{"poddisruptionbudgets", "services", "volumeattachments", "leases"}

// apiErrorReasons are the reason label values of statefulset_exporter_api_errors_total.
var apiErrorReasons = []string{"Unauthorized", "Forbidden", "ConnectionRefused", "Timeout", "Throttled", "ServerError", "Other"}

// selfFamilies are the exporter's metrics about its watches compared exactly by the RBAC
// tests.
var selfFamilies = []string{
	"statefulset_exporter_api_reachable",
	"statefulset_exporter_resource_enabled",
	"statefulset_exporter_cache_synced",
	"statefulset_exporter_api_errors_total",
}

// expectedSelf renders the self metrics of an exporter for which the resources in off are
// switched off after one forbidden preflight list each, and nothing else failed.
func expectedSelf(t *testing.T, off ...string) []string {
	var b strings.Builder
	b.WriteString("statefulset_exporter_api_reachable 1\n")
	resources := []string{}
	for _, gr := range deploy.WatchedResources() {
		resources = append(resources, gr.Resource)
	}
	for _, r := range resources {
		on := 1
		if slices.Contains(off, r) {
			on = 0
		}
		fmt.Fprintf(&b, "statefulset_exporter_resource_enabled{resource=%q} %d\n", r, on)
		fmt.Fprintf(&b, "statefulset_exporter_cache_synced{resource=%q} %d\n", r, on)
	}
	for _, r := range append(resources, "probe") {
		for _, reason := range apiErrorReasons {
			n := 0
			if reason == "Forbidden" && slices.Contains(off, r) {
				n = 1
			}
			fmt.Fprintf(&b, "statefulset_exporter_api_errors_total{reason=%q,resource=%q} %d\n", reason, r, n)
		}
	}
	return expect(t, b.String())
}

// writeKubeconfig writes a kubeconfig for the cluster authenticating with token.
func (f *fixture) writeKubeconfig(t *testing.T, name, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	config := clientcmdapi.NewConfig()
	config.Clusters["localkube"] = &clientcmdapi.Cluster{Server: f.cluster.URL(), CertificateAuthorityData: f.cluster.AdminConfig().TLSClientConfig.CAData}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	config.Contexts["localkube"] = &clientcmdapi.Context{Cluster: "localkube", AuthInfo: name}
	config.CurrentContext = "localkube"
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientFor returns a client using the kubeconfig at path, as the exporter does.
func clientFor(t *testing.T, path string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, cfg)
}

func newClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg.QPS, cfg.Burst = 100, 200 // client-go's default 5 QPS would throttle the access reviews
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// allowed asks the API server whether the client's identity may do verb on resource.
func allowed(t *testing.T, c kubernetes.Interface, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("access review %+v: %v", attrs, err)
	}
	return review.Status.Allowed
}

// waitAllowed waits until RBAC grants the identity list on every resource in resources:
// the API server's authorizer sees new bindings a moment after they are created, and an
// exporter started earlier would switch optional kinds off for good.
func waitAllowed(t *testing.T, c kubernetes.Interface, resources []schema.GroupResource) {
	t.Helper()
	begin := time.Now()
	for _, gr := range resources {
		for !allowed(t, c, authorizationv1.ResourceAttributes{Verb: "list", Group: gr.Group, Resource: gr.Resource}) {
			if time.Since(begin) > waitTimeout {
				t.Fatalf("list %s still not allowed after %s", gr, waitTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("RBAC grants effective after %s", time.Since(begin).Round(time.Millisecond))
}

// create creates objects with the admin client.
func (f *fixture) create(t *testing.T, objs ...any) {
	t.Helper()
	ctx := t.Context()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Namespace:
			_, err = f.admin.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ServiceAccount:
			_, err = f.admin.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = f.admin.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = f.admin.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = f.admin.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = f.admin.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("cannot create %T", o)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) { // AlreadyExists: go test -count=N
			t.Fatalf("creating %T: %v", o, err)
		}
	}
}

// TestLeastPrivilege runs the exporter with exactly the shipped ServiceAccount,
// ClusterRole and ClusterRoleBinding. The binding's subject is the ServiceAccount, so the
// test authenticates as that ServiceAccount with a token from the TokenRequest API: no
// shipped object is changed. The exporter must work fully, and the same token must be
// refused Secrets and every write.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	f := env(t)
	f.apply(t, "healthy")
	ctx := t.Context()

	sa, err := deploy.ServiceAccount()
	if err != nil {
		t.Fatal(err)
	}
	role, err := deploy.ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	binding, err := deploy.ClusterRoleBinding()
	if err != nil {
		t.Fatal(err)
	}
	if want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}; !reflect.DeepEqual(binding.Subjects, want) {
		t.Fatalf("shipped ClusterRoleBinding subjects %+v, want the shipped ServiceAccount %+v", binding.Subjects, want)
	}
	f.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sa.Namespace}}, sa, role, binding)
	stored, err := f.admin.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored.Rules, role.Rules) {
		t.Fatalf("the API server stored other rules than shipped:\n got %+v\nwant %+v", stored.Rules, role.Rules)
	}

	token, err := f.admin.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", sa.Namespace, sa.Name, err)
	}
	kubeconfig := f.writeKubeconfig(t, "exporter-sa", token.Status.Token)
	restricted := clientFor(t, kubeconfig)
	review, err := restricted.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name; review.Status.UserInfo.Username != want {
		t.Fatalf("authenticated as %q, want %q", review.Status.UserInfo.Username, want)
	}
	waitAllowed(t, restricted, deploy.WatchedResources())

	// A Lease for the exporter to read, and for the token to fail to delete.
	const lease = "rbac-probe"
	if err := scenario.SetLeaseHolder(ctx, f.admin, lease, "ip-10-0-3-30.ec2.internal_3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"); err != nil {
		t.Fatal(err)
	}

	x := f.startExporter(t, "least-privilege", "--kubeconfig="+kubeconfig, "--api.probe-interval="+rbacProbeInterval.String())
	waitReady(t, x)
	f.waitSelected(t, x, "self metrics: every resource watched, nothing forbidden", expectedSelf(t), selfFamilies)
	f.waitGolden(t, x, "healthy", "healthy", nil, nil)
	f.waitSelected(t, x, "lease holder", expect(t, `
		statefulset_control_plane_lease_holder_info{holder="ip-10-0-3-30.ec2.internal",lease="rbac-probe",namespace="kube-system"} 1
	`), []string{"statefulset_control_plane_lease_holder_info"}, "lease", lease)
	if strings.Contains(x.Log(), "level=WARN") || strings.Contains(x.Log(), "level=ERROR") {
		t.Errorf("the exporter logged warnings or errors:\n%s", x.Log())
	}

	// The same credentials may read what the exporter watches and nothing else, and may
	// write nothing.
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", what, err)
		}
	}
	_, err = restricted.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	forbidden("list secrets in all namespaces", err)
	_, err = restricted.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	forbidden("list secrets in kube-system", err)
	_, err = restricted.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{})
	forbidden("list configmaps in kube-system", err)
	_, err = restricted.CoreV1().Pods("healthy").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "intruder"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/intruder:1"}}},
	}, metav1.CreateOptions{})
	forbidden("create a pod", err)
	set, err := restricted.AppsV1().StatefulSets("healthy").Get(ctx, "healthy", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the StatefulSet it may read: %v", err)
	}
	set.Labels = map[string]string{"tampered": "true"}
	_, err = restricted.AppsV1().StatefulSets("healthy").Update(ctx, set, metav1.UpdateOptions{})
	forbidden("update a StatefulSet", err)
	_, err = restricted.AppsV1().StatefulSets("healthy").UpdateStatus(ctx, set, metav1.UpdateOptions{})
	forbidden("update a StatefulSet's status", err)
	_, err = restricted.CoreV1().Nodes().Patch(ctx, scenario.NodeA, types.MergePatchType, []byte(`{"metadata":{"labels":{"tampered":"true"}}}`), metav1.PatchOptions{})
	forbidden("patch a node", err)
	err = restricted.CoordinationV1().Leases("kube-system").Delete(ctx, lease, metav1.DeleteOptions{})
	forbidden("delete a lease", err)
	if _, err := f.admin.CoordinationV1().Leases("kube-system").Get(ctx, lease, metav1.GetOptions{}); err != nil {
		t.Errorf("the lease is gone after a forbidden delete: %v", err)
	}

	// The whole matrix, through access reviews: read verbs on the watched kinds only.
	for _, gr := range deploy.WatchedResources() {
		for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
			want := slices.Contains(deploy.ReadVerbs(), verb)
			if got := allowed(t, restricted, authorizationv1.ResourceAttributes{Verb: verb, Group: gr.Group, Resource: gr.Resource}); got != want {
				t.Errorf("%s %s allowed=%v, want %v", verb, gr, got, want)
			}
		}
	}
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Verb: "get", Resource: "secrets"}, {Verb: "list", Resource: "secrets"}, {Verb: "watch", Resource: "secrets"},
		{Verb: "get", Resource: "configmaps"}, {Verb: "create", Resource: "pods", Subresource: "exec"},
		{Verb: "create", Resource: "pods", Subresource: "eviction"}, {Verb: "get", Resource: "pods", Subresource: "log"},
		{Verb: "update", Group: "apps", Resource: "statefulsets", Subresource: "status"},
		{Verb: "update", Group: "apps", Resource: "statefulsets", Subresource: "scale"},
		{Verb: "list", Group: "apps", Resource: "deployments"}, {Verb: "list", Resource: "serviceaccounts"},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
		{Verb: "impersonate", Resource: "users"}, {Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	} {
		if allowed(t, restricted, attrs) {
			t.Errorf("%+v is allowed, want denied", attrs)
		}
	}
}

// reducedRBAC binds RestrictedUser to the shipped ClusterRole minus the optional kinds
// (idempotent: tests share it), waits until the grants are effective and returns a
// kubeconfig for RestrictedUser.
func (f *fixture) reducedRBAC(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	role, err := deploy.ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	reduced := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "statefulset-exporter-reduced"}}
	for _, rule := range role.Rules {
		var keep []string
		for _, r := range rule.Resources {
			if !slices.Contains(optional, r) {
				keep = append(keep, r)
			}
		}
		if len(rule.Resources) > 0 && len(keep) == 0 {
			continue
		}
		rule.Resources = keep
		reduced.Rules = append(reduced.Rules, rule)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reduced.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reduced.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: localkube.RestrictedUser}},
	}
	f.create(t, reduced, binding)

	kubeconfig := filepath.Join(t.TempDir(), "restricted.kubeconfig")
	if err := f.cluster.WriteKubeconfig(kubeconfig, true); err != nil {
		t.Fatal(err)
	}
	restricted := clientFor(t, kubeconfig)
	var granted []schema.GroupResource
	for _, gr := range deploy.WatchedResources() {
		if !slices.Contains(optional, gr.Resource) {
			granted = append(granted, gr)
		}
	}
	waitAllowed(t, restricted, granted)
	for r, list := range map[string]func() error{
		"poddisruptionbudgets": func() error {
			_, err := restricted.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
			return err
		},
		"services": func() error {
			_, err := restricted.CoreV1().Services("").List(ctx, metav1.ListOptions{})
			return err
		},
		"volumeattachments": func() error {
			_, err := restricted.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
			return err
		},
		"leases": func() error {
			_, err := restricted.CoordinationV1().Leases("kube-system").List(ctx, metav1.ListOptions{})
			return err
		},
	} {
		if err := list(); !apierrors.IsForbidden(err) {
			t.Fatalf("listing %s: got %v, want Forbidden", r, err)
		}
	}
	return kubeconfig
}

// TestOptionalResourcesForbidden binds RestrictedUser to the shipped ClusterRole minus
// poddisruptionbudgets, services, volumeattachments and leases: the exporter switches those off
// (resource_enabled 0, one forbidden error each, a warning), is ready, and everything
// else works.
func TestOptionalResourcesForbidden(t *testing.T) {
	t.Parallel()
	f := env(t)
	f.apply(t, "healthy")
	kubeconfig := f.reducedRBAC(t)

	x := f.startExporter(t, "reduced-rbac", "--kubeconfig="+kubeconfig, "--api.probe-interval="+rbacProbeInterval.String())
	waitReady(t, x)
	f.waitSelected(t, x, "self metrics: optional kinds switched off", expectedSelf(t, optional...), selfFamilies)
	// No PodDisruptionBudgets: no no_pdb sample; no Services: no governing-service
	// sample; no VolumeAttachments: no attachment errors sample. The rest is as with full permissions (golden file healthy).
	s, _ := f.waitGolden(t, x, "healthy", "healthy-optional-forbidden", nil, nil)
	for _, family := range leaseFamilies {
		if got := s.find(family); len(got) > 0 {
			t.Errorf("%s has %d samples although leases are switched off", family, len(got))
		}
	}
	logs := strings.Split(x.Log(), "\n")
	for _, r := range optional {
		found := false
		for _, l := range logs {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "optional resource switched off") &&
				strings.Contains(l, "resource="+r) && strings.Contains(l, "reason=Forbidden") {
				found = true
				t.Logf("warning: %s", l)
			}
		}
		if !found {
			t.Errorf("no warning that %s is switched off; log:\n%s", r, x.Log())
		}
	}
}

// TestOptionalForbiddenAfterStartupOutage starts the exporter, with the optional kinds
// forbidden, while the API server refuses connections (a control-plane failover), then
// lets the API server through. The exporter must end up as if it had started with the
// API up: the forbidden kinds switched off and /readyz 200.
func TestOptionalForbiddenAfterStartupOutage(t *testing.T) {
	t.Parallel()
	f := env(t)
	kubeconfig := f.reducedRBAC(t)
	port, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	config, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range config.Clusters {
		c.Server = fmt.Sprintf("https://127.0.0.1:%d", port) // nothing listens yet
	}
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	// The HTTP server starts after the preflight check: once it answers, the check ran
	// against the refused port.
	x := f.startExporter(t, "outage-at-start", "--kubeconfig="+kubeconfig, "--api.probe-interval=500ms")
	startProxy(t, port, strings.TrimPrefix(f.cluster.URL(), "https://"))
	// Informers retry a failed list within about a second at first; 20s is plenty.
	pollFor(t, x, "forbidden optional kinds switched off after the outage", 20*time.Second, func(s *scrape) (bool, string) {
		var status []string
		done := true
		for _, r := range optional {
			v, _ := s.value("statefulset_exporter_resource_enabled", "resource", r)
			done = done && v == 0
			status = append(status, fmt.Sprintf("resource_enabled{%s}=%v", r, v))
		}
		ready, _ := s.value("statefulset_exporter_api_reachable")
		return done && ready == 1, strings.Join(status, " ")
	}, nil)
	waitReady(t, x)
}

// startProxy forwards TCP connections from 127.0.0.1:port to target until the test ends.
func startProxy(t *testing.T, port int, target string) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}
