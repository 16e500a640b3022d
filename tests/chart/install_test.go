package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"sigs.k8s.io/yaml"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
)

// The Prometheus Operator release whose CRDs the chart is installed against (the one
// tests/crd uses).
const (
	operatorModule  = "github.com/prometheus-operator/prometheus-operator"
	operatorVersion = "v0.80.1"
	operatorSum     = "h1:jeqy9C8ku5coMThZh/cVrB5FwJHlV98jvnSeVnQKCQw="
	operatorCRDDir  = "example/prometheus-operator-crd"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// TestInstall installs the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs
// into a real kube-apiserver, dry-runs every object the chart renders (every toggle on)
// with strict server-side apply, then runs `helm install` for real with the defaults and
// with every toggle on, and reads back the labels kube-prometheus-stack selects.
func TestInstall(t *testing.T) {
	ctx := t.Context()
	modDir := operatorModuleDir(t, ctx)
	cluster := localkubetest.ForTest(t)
	cfg := cluster.AdminConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"monitoring.coreos.com_prometheusrules.yaml", "monitoring.coreos.com_servicemonitors.yaml"} {
		data, err := os.ReadFile(filepath.Join(modDir, operatorCRDDir, file))
		if err != nil {
			t.Fatal(err)
		}
		installCRD(t, ctx, dyn, data)
	}
	const ns = "monitoring"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))

	c := loadChart(t)
	allOn := valueSets(t)["all-on"]

	t.Run("strict server-side dry-run", func(t *testing.T) {
		objs, _ := render(t, c, "dry-run", ns, allOn)
		for _, obj := range objs {
			if err := applyDryRun(ctx, dyn, mapper, obj); err != nil {
				t.Errorf("%s %s: the API server rejects it: %v", obj.GetKind(), obj.GetName(), err)
			}
		}
		// A misspelt field must be rejected, or the dry-run above proves nothing.
		sm := byKind(t, objs, "ServiceMonitor").DeepCopy()
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		eps[0].(map[string]any)["intervall"] = "30s"
		if err := unstructured.SetNestedSlice(sm.Object, eps, "spec", "endpoints"); err != nil {
			t.Fatal(err)
		}
		err := applyDryRun(ctx, dyn, mapper, sm)
		if err == nil || !strings.Contains(err.Error(), "intervall") {
			t.Errorf("a ServiceMonitor with a misspelt field: err = %v, want it rejected for .intervall", err)
		}
	})

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		release string
		vals    map[string]any
		want    []string // kinds that must carry release=kpsRelease
	}{
		{"statefulset-exporter", map[string]any{}, nil},
		{"prod", allOn, []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"}},
	} {
		t.Run("helm install "+tc.release, func(t *testing.T) {
			var actionCfg action.Configuration
			if err := actionCfg.Init(kube.GetConfig(kubeconfig, "", ns), ns, "secret", t.Logf); err != nil {
				t.Fatal(err)
			}
			install := action.NewInstall(&actionCfg)
			install.ReleaseName, install.Namespace = tc.release, ns
			install.Timeout = time.Minute
			rel, err := install.RunWithContext(ctx, c, tc.vals)
			if err != nil {
				t.Fatalf("helm install: %v", err)
			}
			t.Logf("release %s: %s", rel.Name, rel.Info.Status)
			objs := decodeManifest(t, rel.Manifest)
			if len(objs) == 0 {
				t.Fatal("the release has no objects")
			}
			kps := k8slabels.SelectorFromSet(k8slabels.Set{"release": kpsRelease})
			for _, obj := range objs {
				m, err := mapper.RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
				if err != nil {
					t.Fatal(err)
				}
				ri := dyn.Resource(m.Resource)
				var got *unstructured.Unstructured
				if m.Scope.Name() == meta.RESTScopeNameNamespace {
					got, err = ri.Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
				} else {
					got, err = ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
				}
				if err != nil {
					t.Errorf("%s %s was not created: %v", obj.GetKind(), obj.GetName(), err)
					continue
				}
				if tc.want != nil && !kps.Matches(k8slabels.Set(got.GetLabels())) {
					t.Errorf("stored %s %s: labels %v lack release=%s", got.GetKind(), got.GetName(), got.GetLabels(), kpsRelease)
				}
			}
			for _, kind := range tc.want {
				if !strings.Contains(rel.Manifest, "kind: "+kind+"\n") {
					t.Errorf("the release has no %s", kind)
				}
			}
		})
	}
	t.Run("helm install with rbac.namespaced, exporter ready", func(t *testing.T) {
		installNamespaced(t, ctx, cluster, client, c, kubeconfig)
	})
}

// installNamespaced installs the chart with rbac.namespaced and two namespaces, then runs
// the exporter binary with the Deployment's own arguments as the chart's ServiceAccount
// (a token of it: no kubelet runs the pod here). It must become ready with every kind
// enabled, nothing forbidden, and the chart must grant no namespaced kind elsewhere.
func installNamespaced(t *testing.T, ctx context.Context, cluster *localkube.Cluster, client kubernetes.Interface, c *chart.Chart, kubeconfig string) {
	const ns, release = "monitoring", "scoped"
	watched := []string{"databases", "queues"}
	for _, name := range append(watched, "elsewhere") {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var actionCfg action.Configuration
	if err := actionCfg.Init(kube.GetConfig(kubeconfig, "", ns), ns, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&actionCfg)
	install.ReleaseName, install.Namespace = release, ns
	install.Timeout = time.Minute
	rel, err := install.RunWithContext(ctx, c, map[string]any{
		"namespaces": []any{watched[0], watched[1]},
		"rbac":       map[string]any{"namespaced": true},
	})
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	var d appsv1.Deployment
	find(t, decodeManifest(t, rel.Manifest), "Deployment", &d)
	sa := d.Spec.Template.Spec.ServiceAccountName
	token, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", ns, sa, err)
	}
	saConfig := filepath.Join(t.TempDir(), "sa.kubeconfig")
	config := clientcmdapi.NewConfig()
	config.Clusters["localkube"] = &clientcmdapi.Cluster{Server: cluster.URL(), CertificateAuthorityData: cluster.AdminConfig().TLSClientConfig.CAData}
	config.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: token.Status.Token}
	config.Contexts["localkube"] = &clientcmdapi.Context{Cluster: "localkube", AuthInfo: sa}
	config.CurrentContext = "localkube"
	if err := clientcmd.WriteToFile(*config, saConfig); err != nil {
		t.Fatal(err)
	}

	// No namespaced kind is readable cluster-wide or in another namespace.
	restricted := kubernetes.NewForConfigOrDie(restConfig(t, saConfig))
	for _, where := range []string{"", "elsewhere"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: where}}}
		got, err := restricted.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed {
			t.Errorf("the ServiceAccount may list pods in namespace %q", where)
		}
	}

	dir := t.TempDir()
	binary, err := exporterbin.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	port, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig=" + saConfig}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--web.listen-address=") {
			a = fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)
		}
		args = append(args, a)
	}
	exp, err := exporterbin.Start(ctx, binary, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exp.Stop)
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := exp.Get(ctx, "/readyz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter, as the chart's ServiceAccount with args %v, is not ready after a minute: %v\n%s", args, err, exp.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	metrics, err := exp.Get(ctx, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(metrics) {
		switch {
		case strings.HasPrefix(line, "statefulset_exporter_resource_enabled{") && !strings.HasSuffix(line, " 1\n"):
			t.Errorf("a kind is switched off: %s", strings.TrimSpace(line))
		case strings.HasPrefix(line, "statefulset_exporter_api_errors_total{") && strings.Contains(line, `reason="Forbidden"`) && !strings.HasSuffix(line, " 0\n"):
			t.Errorf("forbidden calls: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(metrics, "statefulset_exporter_resource_enabled{") {
		t.Errorf("no statefulset_exporter_resource_enabled series:\n%s", metrics)
	}
}

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// applyDryRun sends obj as a server-side apply with dryRun=All and strict field
// validation: the API server validates it against the built-in or CRD schema and rejects
// unknown or duplicate fields.
func applyDryRun(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "chart-test", DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
	ri := dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		_, err = ri.Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	} else {
		_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	}
	return err
}

func decodeManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for doc := range strings.SplitSeq(manifest, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs
}

// operatorModuleDir downloads the operator module (a no-op when cached) and returns its
// directory, after checking its hash against the pinned one.
func operatorModuleDir(t *testing.T, ctx context.Context) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", operatorModule+"@"+operatorVersion)
	cmd.Dir = root(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var mod struct{ Dir, Sum, Error string }
	if jsonErr := json.Unmarshal(out, &mod); jsonErr != nil && err == nil {
		err = jsonErr
	}
	if err != nil || mod.Error != "" {
		t.Fatalf("go mod download %s@%s: %v %s\n%s", operatorModule, operatorVersion, err, mod.Error, stderr.Bytes())
	}
	if mod.Sum != operatorSum {
		t.Fatalf("%s@%s has hash %s, want %s", operatorModule, operatorVersion, mod.Sum, operatorSum)
	}
	return mod.Dir
}

// installCRD creates a CRD and waits until it is Established.
func installCRD(t *testing.T, ctx context.Context, dyn dynamic.Interface, data []byte) {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{Object: m}
	crds := dyn.Resource(crdGVR)
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating CRD %s: %v", crd.GetName(), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if c := c.(map[string]any); c["type"] == "Established" && c["status"] == "True" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not Established after 30s: %v", crd.GetName(), conds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
