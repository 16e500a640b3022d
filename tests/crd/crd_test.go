package crd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// The Prometheus Operator release whose CRDs the manifests are checked against.
const (
	OperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	OperatorVersion = "v0.80.1"
	// operatorSum is the module's hash (go.sum's h1: line, also in sum.golang.org): the
	// CRDs checked are exactly those of the release, whatever GOFLAGS or GONOSUMDB say.
	operatorSum = "h1:jeqy9C8ku5coMThZh/cVrB5FwJHlV98jvnSeVnQKCQw="
	crdDir      = "example/prometheus-operator-crd"
)

// Files of the repository checked here, relative to its root.
const prometheusRuleFile = "rules/prometheusrule.yaml"

var (
	crdGVR            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	prometheusRuleGVR = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
	serviceMonitorGVR = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
)

// operatorModuleDir downloads the operator module into the module cache (a no-op when it
// is there) and returns its directory.
func operatorModuleDir(t *testing.T, ctx context.Context) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", OperatorModule+"@"+OperatorVersion)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var mod struct {
		Dir, Sum, Error string
	}
	if jsonErr := json.Unmarshal(out, &mod); jsonErr != nil && err == nil {
		err = jsonErr
	}
	if err != nil || mod.Error != "" {
		t.Fatalf("go mod download %s@%s: %v %s\n%s%s", OperatorModule, OperatorVersion, err, mod.Error, out, stderr.Bytes())
	}
	if mod.Sum != operatorSum {
		t.Fatalf("%s@%s has hash %s, want %s", OperatorModule, OperatorVersion, mod.Sum, operatorSum)
	}
	return mod.Dir
}

// decodeYAML decodes every document of a YAML stream into unstructured objects.
func decodeYAML(t *testing.T, data []byte, name string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	return objs
}

// decodeOne decodes a single-document manifest.
func decodeOne(t *testing.T, data []byte, name string) *unstructured.Unstructured {
	t.Helper()
	objs := decodeYAML(t, data, name)
	if len(objs) != 1 {
		t.Fatalf("%s: %d documents, want 1", name, len(objs))
	}
	return objs[0]
}

// installCRD creates a CRD and waits until the API server serves it.
func installCRD(t *testing.T, ctx context.Context, dyn dynamic.Interface, crd *unstructured.Unstructured) {
	t.Helper()
	crds := dyn.Resource(crdGVR)
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatalf("creating CRD %s: %v", crd.GetName(), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("CRD %s: %v", crd.GetName(), err)
		}
		if conditionTrue(got, "Established") && conditionTrue(got, "NamesAccepted") {
			return
		}
		if time.Now().After(deadline) {
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			t.Fatalf("CRD %s not Established after 30s: %v", crd.GetName(), conds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func conditionTrue(obj *unstructured.Unstructured, condType string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == condType && m["status"] == "True" {
			return true
		}
	}
	return false
}

// create creates obj with strict field validation: an unknown or duplicate field is an
// error instead of being dropped silently. A CRD that was just Established can take a
// moment to be served, so NotFound is retried briefly.
func create(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		if apierrors.IsNotFound(err) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return got, err
	}
}

// TestOperatorCRDsAcceptShippedManifests installs the operator's PrometheusRule and
// ServiceMonitor CRDs into a real API server and creates the shipped manifests, then
// broken variants that the server must reject.
func TestOperatorCRDsAcceptShippedManifests(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	modDir := operatorModuleDir(t, ctx)
	t.Logf("%s@%s in %s (%s)", OperatorModule, OperatorVersion, modDir, time.Since(start).Round(time.Millisecond))

	cluster := localkubetest.ForTest(t)
	dyn, err := dynamic.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}

	for _, file := range []string{"monitoring.coreos.com_prometheusrules.yaml", "monitoring.coreos.com_servicemonitors.yaml"} {
		path := filepath.Join(modDir, crdDir, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		crd := decodeOne(t, data, path)
		if crd.GetKind() != "CustomResourceDefinition" {
			t.Fatalf("%s: kind %q", path, crd.GetKind())
		}
		installCRD(t, ctx, dyn, crd)
		t.Logf("CRD %s (operator.prometheus.io/version %s) established", crd.GetName(), crd.GetAnnotations()["operator.prometheus.io/version"])
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: deploy.Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	committedRule, err := os.ReadFile(filepath.Join(root, prometheusRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	serviceMonitor, err := deploy.Manifest(deploy.ServiceMonitorFile)
	if err != nil {
		t.Fatal(err)
	}
	// A PrometheusRule generated from another configuration: multi-cluster, short "for"
	// durations in seconds and minutes.
	multi := mixin.TestConfig()
	multi.MultiCluster = true
	generatedRule, err := rules.PrometheusRule(multi, "statefulset-exporter-multicluster", deploy.Namespace, map[string]string{"release": "kube-prometheus-stack"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("accepted", func(t *testing.T) {
		for _, m := range []struct {
			name string
			gvr  schema.GroupVersionResource
			data []byte
		}{
			{prometheusRuleFile, prometheusRuleGVR, committedRule},
			{"generated PrometheusRule (mixin.TestConfig, MultiCluster)", prometheusRuleGVR, generatedRule},
			{"deploy/" + deploy.ServiceMonitorFile, serviceMonitorGVR, serviceMonitor},
		} {
			obj := decodeOne(t, m.data, m.name)
			got, err := create(ctx, dyn, m.gvr, obj)
			if err != nil {
				t.Errorf("%s: the API server rejects it: %v", m.name, err)
				continue
			}
			// Nothing was pruned or defaulted away: what is stored is what ships.
			if stored, shipped := canonical(t, got.Object["spec"]), canonical(t, obj.Object["spec"]); stored != shipped {
				t.Errorf("%s: the stored spec differs from the manifest:\nstored:   %s\nmanifest: %s", m.name, stored, shipped)
			}
			if !maps.Equal(got.GetLabels(), obj.GetLabels()) {
				t.Errorf("%s: stored labels %v, want %v", m.name, got.GetLabels(), obj.GetLabels())
			}
			t.Logf("%s: accepted as %s/%s %s/%s", m.name, got.GetAPIVersion(), got.GetKind(), got.GetNamespace(), got.GetName())
		}
	})

	// Broken variants of the shipped manifests. Each must be rejected, and for the reason
	// given, so that an accepted manifest above means something.
	t.Run("rejected", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			gvr    schema.GroupVersionResource
			base   []byte
			change func(t *testing.T, obj *unstructured.Unstructured)
			want   []string // substrings of the API server's error
		}{
			{
				name: "PrometheusRule with for: notaduration", gvr: prometheusRuleGVR, base: committedRule,
				change: func(t *testing.T, obj *unstructured.Unstructured) {
					setFirstAlert(t, obj, func(r map[string]any) { r["for"] = "notaduration" })
				},
				want: []string{"Invalid value", ".for", "should match"},
			},
			{
				name: "PrometheusRule with a rule without expr", gvr: prometheusRuleGVR, base: committedRule,
				change: func(t *testing.T, obj *unstructured.Unstructured) {
					setFirstAlert(t, obj, func(r map[string]any) { delete(r, "expr") })
				},
				want: []string{"Required value", ".expr"},
			},
			{
				name: "PrometheusRule with a misspelt field (strict field validation)", gvr: prometheusRuleGVR, base: committedRule,
				change: func(t *testing.T, obj *unstructured.Unstructured) {
					setFirstAlert(t, obj, func(r map[string]any) { r["annotation"] = map[string]any{"summary": "x"} })
				},
				want: []string{`unknown field "spec.groups[`, `].annotation"`},
			},
			{
				name: "ServiceMonitor with interval: 30 seconds", gvr: serviceMonitorGVR, base: serviceMonitor,
				change: func(t *testing.T, obj *unstructured.Unstructured) {
					eps, _, _ := unstructured.NestedSlice(obj.Object, "spec", "endpoints")
					if len(eps) == 0 {
						t.Fatal("ServiceMonitor has no endpoints")
					}
					eps[0].(map[string]any)["interval"] = "30 seconds"
					if err := unstructured.SetNestedSlice(obj.Object, eps, "spec", "endpoints"); err != nil {
						t.Fatal(err)
					}
				},
				want: []string{"Invalid value", ".interval", "should match"},
			},
		} {
			t.Run(c.name, func(t *testing.T) {
				obj := decodeOne(t, c.base, c.name)
				obj.SetName(strings.ToLower(strings.NewReplacer(" ", "-", ":", "", "(", "", ")", "").Replace(c.name)))
				c.change(t, obj)
				_, err := create(ctx, dyn, c.gvr, obj)
				if err == nil {
					t.Fatal("the API server accepted it: its schema validation is not active")
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q: %v", w, err)
					}
				}
				t.Logf("rejected as expected: %v", err)
			})
		}
	})
}

// canonical renders a decoded JSON value with sorted keys, so that values decoded by
// different decoders (float64 or int64 numbers) compare equal.
func canonical(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// setFirstAlert changes the first alerting rule of a PrometheusRule.
func setFirstAlert(t *testing.T, obj *unstructured.Unstructured, change func(rule map[string]any)) {
	t.Helper()
	groups, _, err := unstructured.NestedSlice(obj.Object, "spec", "groups")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		rs, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rs {
			if rule := r.(map[string]any); rule["alert"] != nil {
				change(rule)
				if err := unstructured.SetNestedSlice(obj.Object, groups, "spec", "groups"); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatal(fmt.Errorf("no alerting rule in %s", obj.GetName()))
}
