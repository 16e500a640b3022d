package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Paths relative to the repository root.
const (
	chartDir           = "charts/statefulset-exporter"
	allOnValuesFile    = chartDir + "/ci/all-on-values.yaml"
	ruleSpecCopy       = chartDir + "/files/prometheusrule-spec.yaml"
	chartDashboardsDir = chartDir + "/dashboards"
	prometheusRuleFile = "rules/prometheusrule.yaml"
	dashboardsDir      = "dashboards"
	installDoc         = "docs/install.md"
)

// kpsRelease stands for the Helm release name of kube-prometheus-stack, which its
// Prometheus selects ServiceMonitors and PrometheusRules by (release: <name>).
const kpsRelease = "kube-prometheus-stack"

func root(t *testing.T) string {
	t.Helper()
	dir, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readFileOrNil is readFile, nil when the file does not exist.
func readFileOrNil(rel string, t *testing.T) []byte {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	return data
}

// TestGeneratedCopies fails when the chart's copies of generated files (written by go run
// ./cmd/mixin) differ from what they copy: the rule spec from rules/prometheusrule.yaml's
// spec, the dashboards from dashboards/, none missing and none stale.
func TestGeneratedCopies(t *testing.T) {
	var committed, copied struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, prometheusRuleFile), &committed); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(readFile(t, ruleSpecCopy), &copied.Spec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(committed.Spec, copied.Spec); diff != "" || committed.Spec == nil {
		t.Errorf("%s is not the spec of %s: run go run ./cmd/mixin (-committed +copy):\n%s", ruleSpecCopy, prometheusRuleFile, diff)
	}
	boards, err := filepath.Glob(filepath.Join(root(t), dashboardsDir, "*.json"))
	if err != nil || len(boards) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	copies, err := filepath.Glob(filepath.Join(root(t), chartDashboardsDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	if !slices.Equal(names(boards), names(copies)) {
		t.Errorf("%s holds %v, want the dashboards %v: run go run ./cmd/mixin", chartDashboardsDir, names(copies), names(boards))
	}
	for _, name := range names(boards) {
		if !bytes.Equal(readFile(t, dashboardsDir+"/"+name), readFileOrNil(chartDashboardsDir+"/"+name, t)) {
			t.Errorf("%s/%s differs from %s/%s: run go run ./cmd/mixin", chartDashboardsDir, name, dashboardsDir, name)
		}
	}
}

// TestLint runs helm lint --strict with the default values, with every toggle on and
// with namespaced RBAC: an error or a warning fails.
func TestLint(t *testing.T) {
	for name, vals := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(filepath.Join(root(t), chartDir), vals, "monitoring", nil)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}

func valueSets(t *testing.T) map[string]map[string]any {
	t.Helper()
	allOn, err := chartutil.ReadValues(readFile(t, allOnValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	namespaced := map[string]any{"namespaces": []any{"databases", "queues"}, "rbac": map[string]any{"namespaced": true}}
	return map[string]map[string]any{"defaults": {}, "all-on": allOn.AsMap(), "namespaced": namespaced}
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(filepath.Join(root(t), chartDir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// render renders the chart as `helm template` does and decodes every object.
func render(t *testing.T, c *chart.Chart, release, namespace string, vals map[string]any) (objs []*unstructured.Unstructured, notes string) {
	t.Helper()
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(c, rv)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(out)) {
		if strings.HasSuffix(name, "NOTES.txt") {
			notes = out[name]
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out[name]), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out[name])
			}
			if m != nil {
				objs = append(objs, &unstructured.Unstructured{Object: m})
			}
		}
	}
	return objs, notes
}

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind())
	}
	slices.Sort(ks)
	return ks
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind string, into runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			return
		}
	}
	t.Fatalf("no %s rendered", kind)
}

func TestRenderDefaults(t *testing.T) {
	c := loadChart(t)
	objs, notes := render(t, c, "statefulset-exporter", "monitoring", nil)
	want := []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Errorf("default objects = %v, want %v", got, want)
	}
	for _, o := range objs {
		if _, ok := o.GetLabels()["release"]; ok {
			t.Errorf("%s %s has a release label without releaseLabel set", o.GetKind(), o.GetName())
		}
		if o.GetName() != "statefulset-exporter" {
			t.Errorf("%s named %q; a release named like the chart names its objects after it", o.GetKind(), o.GetName())
		}
	}
	if !strings.Contains(notes, "/metrics") {
		t.Errorf("NOTES.txt: %q", notes)
	}

	shipped, err := deploy.Deployment()
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	find(t, objs, "Deployment", &d)
	pod := d.Spec.Template.Spec
	if diff := cmp.Diff(shipped.Spec.Template.Spec.SecurityContext, pod.SecurityContext); diff != "" {
		t.Errorf("pod securityContext differs from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	ctr, shippedCtr := pod.Containers[0], shipped.Spec.Template.Spec.Containers[0]
	if diff := cmp.Diff(shippedCtr.SecurityContext, ctr.SecurityContext); diff != "" {
		t.Errorf("container securityContext differs from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	if diff := cmp.Diff(shippedCtr.Resources, ctr.Resources); diff != "" {
		t.Errorf("resources differ from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	if diff := cmp.Diff(shippedCtr.Env, ctr.Env); diff != "" {
		t.Errorf("env differs from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	if diff := cmp.Diff(shippedCtr.Args, ctr.Args); diff != "" {
		t.Errorf("args differ from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	if want := deploy.Image + ":" + c.Metadata.AppVersion; ctr.Image != want {
		t.Errorf("image = %q, want %q (image.tag defaults to appVersion)", ctr.Image, want)
	}
	checkGOMEMLIMIT(t, ctr)

	// Two replicas spread like deploy/'s, and the same budget.
	if *d.Spec.Replicas != *shipped.Spec.Replicas || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2 as in deploy/deployment.yaml", *d.Spec.Replicas)
	}
	// The chart's selector labels add the release (app.kubernetes.io/instance).
	noSelector := func(cs []corev1.TopologySpreadConstraint) []corev1.TopologySpreadConstraint {
		out := slices.Clone(cs)
		for i := range out {
			if sel := out[i].LabelSelector; sel == nil || !k8slabels.SelectorFromSet(sel.MatchLabels).Matches(k8slabels.Set(d.Spec.Template.Labels)) {
				t.Errorf("topology spread on %s: selector %v does not match the pod labels", out[i].TopologyKey, sel)
			}
			out[i].LabelSelector = nil
		}
		return out
	}
	if diff := cmp.Diff(noSelector(shipped.Spec.Template.Spec.TopologySpreadConstraints), noSelector(pod.TopologySpreadConstraints)); diff != "" {
		t.Errorf("topologySpreadConstraints differ from deploy/deployment.yaml (-deploy +chart):\n%s", diff)
	}
	shippedPDB, err := deploy.PodDisruptionBudget()
	if err != nil {
		t.Fatal(err)
	}
	var pdb policyv1.PodDisruptionBudget
	find(t, objs, "PodDisruptionBudget", &pdb)
	if diff := cmp.Diff(shippedPDB.Spec.MinAvailable, pdb.Spec.MinAvailable); diff != "" || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget differs from deploy/pdb.yaml (-deploy +chart):\n%s (maxUnavailable %v)", diff, pdb.Spec.MaxUnavailable)
	}

	// A single replica gets no budget: minAvailable 1 would block every drain.
	single, _ := render(t, c, "statefulset-exporter", "monitoring", map[string]any{"replicas": 1})
	if slices.Contains(kinds(single), "PodDisruptionBudget") {
		t.Error("replicas: 1 renders a PodDisruptionBudget")
	}

	// The defaults are the smallest row of the sizing table in docs/install.md.
	req, lim := smallestSizingRow(t)
	if got := ctr.Resources.Requests[corev1.ResourceMemory]; got.Cmp(req) != 0 {
		t.Errorf("default memory request %s, want %s (%s)", got.String(), req.String(), installDoc)
	}
	if got := ctr.Resources.Limits[corev1.ResourceMemory]; got.Cmp(lim) != 0 {
		t.Errorf("default memory limit %s, want %s (%s)", got.String(), lim.String(), installDoc)
	}

	var cr rbacv1.ClusterRole
	find(t, objs, "ClusterRole", &cr)
	shippedRole, err := deploy.ClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shippedRole.Rules, cr.Rules); diff != "" {
		t.Errorf("ClusterRole rules differ from deploy/clusterrole.yaml (-deploy +chart):\n%s", diff)
	}
	var crb rbacv1.ClusterRoleBinding
	find(t, objs, "ClusterRoleBinding", &crb)
	if crb.RoleRef.Name != cr.Name || len(crb.Subjects) != 1 || crb.Subjects[0].Name != pod.ServiceAccountName || crb.Subjects[0].Namespace != "monitoring" {
		t.Errorf("ClusterRoleBinding %+v does not bind ClusterRole %s to the pod's ServiceAccount %s", crb, cr.Name, pod.ServiceAccountName)
	}
}

// checkGOMEMLIMIT: the exporter sets GOMEMLIMIT itself from the cgroup limit
// (--auto-gomemlimit); an environment variable would override its ratio.
func checkGOMEMLIMIT(t *testing.T, ctr corev1.Container) {
	t.Helper()
	if slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }) {
		t.Errorf("env sets GOMEMLIMIT, which overrides --auto-gomemlimit.ratio: %v", ctr.Env)
	}
	if !slices.Contains(ctr.Args, "--auto-gomemlimit.ratio=0.9") {
		t.Errorf("args %v lack --auto-gomemlimit.ratio=0.9", ctr.Args)
	}
}

// smallestSizingRow reads the first row of the sizing table in docs/install.md: the
// memory request and limit in its last two columns.
func smallestSizingRow(t *testing.T) (request, limit resource.Quantity) {
	t.Helper()
	doc := string(readFile(t, installDoc))
	_, table, ok := strings.Cut(doc, "<!-- sizing table -->\n")
	if !ok {
		t.Fatalf("%s: no <!-- sizing table --> marker", installDoc)
	}
	lines := strings.Split(table, "\n")
	if len(lines) < 3 {
		t.Fatalf("%s: sizing table too short", installDoc)
	}
	cells := strings.Split(strings.Trim(lines[2], "| "), "|")
	if len(cells) < 2 {
		t.Fatalf("%s: sizing row %q", installDoc, lines[2])
	}
	q := func(s string) resource.Quantity {
		s = strings.Trim(strings.TrimSpace(s), "`*")
		v, err := resource.ParseQuantity(s)
		if err != nil {
			t.Fatalf("%s: sizing row %q: %v", installDoc, lines[2], err)
		}
		return v
	}
	return q(cells[len(cells)-2]), q(cells[len(cells)-1])
}

// TestRenderAllOn renders every toggle and checks what each adds, the labels that
// kube-prometheus-stack selects, and that the job label the ServiceMonitor produces is the
// one the rules select, whatever the release is called.
func TestRenderAllOn(t *testing.T) {
	c := loadChart(t)
	const release, ns = "prod-monitoring", "monitoring"
	objs, notes := render(t, c, release, ns, valueSets(t)["all-on"])

	boards, err := filepath.Glob(filepath.Join(root(t), dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"}
	for range boards {
		want = append(want, "ConfigMap")
	}
	slices.Sort(want)
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Errorf("objects = %v, want %v", got, want)
	}
	if strings.Contains(notes, "releaseLabel is empty") {
		t.Errorf("NOTES warns about releaseLabel although it is set:\n%s", notes)
	}

	// kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules with
	// matchLabels release: <its release name>; the label is on every object.
	kps := k8slabels.SelectorFromSet(k8slabels.Set{"release": kpsRelease})
	for _, o := range objs {
		if !kps.Matches(k8slabels.Set(o.GetLabels())) {
			t.Errorf("%s %s: labels %v lack release=%s", o.GetKind(), o.GetName(), o.GetLabels(), kpsRelease)
		}
		if o.GetLabels()["team"] != "storage" {
			t.Errorf("%s %s: commonLabels missing", o.GetKind(), o.GetName())
		}
	}

	var svc corev1.Service
	find(t, objs, "Service", &svc)
	var d appsv1.Deployment
	find(t, objs, "Deployment", &d)
	podLabels := k8slabels.Set(d.Spec.Template.Labels)
	if !k8slabels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not match the pod labels %v", svc.Spec.Selector, podLabels)
	}

	sm := byKind(t, objs, "ServiceMonitor")
	if sm.GetLabels()["example.com/monitor"] != "yes" || sm.GetAnnotations()["example.com/monitor"] != "yes" {
		t.Errorf("ServiceMonitor additionalLabels/annotations missing: %v %v", sm.GetLabels(), sm.GetAnnotations())
	}
	smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(smSel) == 0 || !k8slabels.SelectorFromSet(smSel).Matches(k8slabels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the Service labels %v", smSel, svc.Labels)
	}
	// The job label: the value of the Service label named by jobLabel, or else the
	// Service's name (which carries the release name).
	jobLabel, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
	job := svc.Name
	if v, ok := svc.Labels[jobLabel]; jobLabel != "" && ok {
		job = v
	}
	if want := ruleJob(t); job != want {
		t.Errorf("the ServiceMonitor yields job=%q (jobLabel %q, Service %s), the rules select job=%q", job, jobLabel, svc.Name, want)
	}
	if svc.Name == ruleJob(t) {
		t.Errorf("Service named %q: pick a release name that changes it, or this test proves nothing", svc.Name)
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %v", eps)
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != "http-metrics" || ep["honorLabels"] != true || ep["interval"] != "1m" || ep["scrapeTimeout"] != "20s" || ep["relabelings"] == nil || ep["metricRelabelings"] == nil {
		t.Errorf("ServiceMonitor endpoint = %v", ep)
	}

	pr := byKind(t, objs, "PrometheusRule")
	if pr.GetLabels()["example.com/rules"] != "yes" || pr.GetLabels()["app.kubernetes.io/component"] != "alerting-rules" {
		t.Errorf("PrometheusRule labels = %v", pr.GetLabels())
	}
	var committed struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, prometheusRuleFile), &committed); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(committed.Spec, pr.Object["spec"]); diff != "" {
		t.Errorf("PrometheusRule spec differs from %s (-committed +chart):\n%s", prometheusRuleFile, diff)
	}
	if !strings.Contains(fmt.Sprint(pr.Object["spec"]), "{{ $labels.") {
		t.Error("the annotations' {{ $labels.… }} templates did not survive rendering")
	}

	var cms []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			cms = append(cms, o)
		}
	}
	for _, b := range boards {
		file := filepath.Base(b)
		i := slices.IndexFunc(cms, func(cm *unstructured.Unstructured) bool {
			_, ok, _ := unstructured.NestedString(cm.Object, "data", file)
			return ok
		})
		if i < 0 {
			t.Errorf("no ConfigMap holds %s", file)
			continue
		}
		cm := cms[i]
		if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetLabels()["example.com/dashboards"] != "yes" {
			t.Errorf("ConfigMap %s labels = %v, want grafana_dashboard=1 and additionalLabels", cm.GetName(), cm.GetLabels())
		}
		if cm.GetAnnotations()["grafana_folder"] != "StatefulSets" {
			t.Errorf("ConfigMap %s annotations = %v", cm.GetName(), cm.GetAnnotations())
		}
		data, _, _ := unstructured.NestedString(cm.Object, "data", file)
		if want := strings.TrimRight(string(readFile(t, dashboardsDir+"/"+file)), "\n"); data != want {
			t.Errorf("ConfigMap %s: %s differs from %s/%s", cm.GetName(), file, dashboardsDir, file)
		}
	}

	pdb := byKind(t, objs, "PodDisruptionBudget")
	pdbSel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
	np := byKind(t, objs, "NetworkPolicy")
	npSel, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels")
	for what, sel := range map[string]map[string]string{"PodDisruptionBudget": pdbSel, "NetworkPolicy": npSel} {
		if len(sel) == 0 || !k8slabels.SelectorFromSet(sel).Matches(podLabels) {
			t.Errorf("%s selector %v does not match the pod labels", what, sel)
		}
	}
	if types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes"); !slices.Equal(types, []string{"Ingress", "Egress"}) {
		t.Errorf("NetworkPolicy policyTypes = %v", types)
	}

	pod := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || len(pod.Tolerations) != 1 || pod.Affinity == nil || pod.PriorityClassName == "" ||
		len(pod.ImagePullSecrets) != 1 || d.Spec.Template.Labels["example.com/label"] != "yes" || d.Spec.Template.Annotations["example.com/annotation"] != "yes" {
		t.Errorf("Deployment does not carry the values: %+v", d.Spec)
	}
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].LabelSelector == nil ||
		!k8slabels.SelectorFromSet(pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels).Matches(podLabels) {
		t.Errorf("topologySpreadConstraints = %+v, want the pod's selector labels by default", pod.TopologySpreadConstraints)
	}
	ctr := pod.Containers[0]
	if !slices.Contains(ctr.Args, "--lease.namespace=kube-system") {
		t.Errorf("extraArgs missing: %v", ctr.Args)
	}
	if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "TZ" }) {
		t.Errorf("extraEnv missing: %v", ctr.Env)
	}
	checkGOMEMLIMIT(t, ctr)
}

// TestRenderGoMemLimitValues: goMemLimit.ratio reaches the flag, and
// goMemLimit.enabled=false turns the automatic limit off.
func TestRenderGoMemLimitValues(t *testing.T) {
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"ratio": 0.8}, "--auto-gomemlimit.ratio=0.8"},
		{map[string]any{"enabled": false}, "--no-auto-gomemlimit"},
	} {
		objs, _ := render(t, loadChart(t), "x", "monitoring", map[string]any{"goMemLimit": tc.values})
		var d appsv1.Deployment
		find(t, objs, "Deployment", &d)
		args := d.Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, tc.want) {
			t.Errorf("goMemLimit %v: args %v lack %s", tc.values, args, tc.want)
		}
		if n := len(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return !strings.Contains(a, "gomemlimit") })); n != 1 {
			t.Errorf("goMemLimit %v: %d gomemlimit flags in %v, want 1", tc.values, n, args)
		}
	}
}

func byKind(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}

// ruleJob returns the value of the job matcher in the mixin's default selector.
func ruleJob(t *testing.T) string {
	t.Helper()
	job, err := mixin.DefaultConfig().Job()
	if err != nil {
		t.Fatal(err)
	}
	return job
}
