package deploy

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Directories relative to this package.
const (
	dashboardsComponent = "grafana-dashboards"
	generatedDashboards = "../dashboards"
)

// The base's objects, by kind/name.
var baseObjects = []string{
	"ClusterRole/statefulset-exporter", "ClusterRoleBinding/statefulset-exporter",
	"Deployment/statefulset-exporter", "PodDisruptionBudget/statefulset-exporter",
	"Service/statefulset-exporter", "ServiceAccount/statefulset-exporter",
}

// build runs kustomize (krusty, what `kubectl apply -k` embeds) on dir of fsys.
func build(t *testing.T, fsys filesys.FileSystem, dir string) resmap.ResMap {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}

func ids(m resmap.ResMap) []string {
	var out []string
	for _, r := range m.Resources() {
		out = append(out, r.GetKind()+"/"+r.GetName())
	}
	slices.Sort(out)
	return out
}

func dashboardConfigMaps(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range dashboardFiles(t, generatedDashboards) {
		out = append(out, "ConfigMap/statefulset-exporter-dashboard-"+strings.TrimPrefix(strings.TrimSuffix(f, ".json"), "statefulset-"))
	}
	return out
}

func dashboardFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// TestKustomizeEveryKustomization builds every kustomization below deploy/ as
// `kubectl apply -k <dir>` would, and checks what each holds on its own: a component
// built alone holds only its own objects, never the base.
func TestKustomizeEveryKustomization(t *testing.T) {
	want := map[string][]string{
		".":                   baseObjects,
		"prometheus-operator": {"ServiceMonitor/statefulset-exporter"},
		dashboardsComponent:   dashboardConfigMaps(t),
	}
	var found []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		found = append(found, filepath.Dir(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	if w := slices.Sorted(maps.Keys(want)); !slices.Equal(found, w) {
		t.Errorf("kustomizations below deploy/ = %v, want %v (add the new one here)", found, w)
	}
	for _, dir := range found {
		m := build(t, filesys.MakeFsOnDisk(), dir)
		if got, w := ids(m), slices.Sorted(slices.Values(want[dir])); !slices.Equal(got, w) {
			t.Errorf("kustomize build deploy/%s = %v, want %v", dir, got, w)
		}
		for _, r := range m.Resources() {
			if ns := r.GetNamespace(); r.GetKind() != "ClusterRole" && r.GetKind() != "ClusterRoleBinding" && ns != Namespace {
				t.Errorf("deploy/%s: %s %s in namespace %q, want %q", dir, r.GetKind(), r.GetName(), ns, Namespace)
			}
		}
	}
}

// documentedOverlay is the overlay of docs/install.md ("Plain manifests with kustomize"),
// with the remote URLs replaced by the paths of this tree.
const documentedOverlay = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../deploy
components:
  - ../deploy/prometheus-operator
  - ../deploy/grafana-dashboards
labels:
  - pairs:
      release: kube-prometheus-stack
`

// TestKustomizeDocumentedOverlay builds the documented overlay (base, ServiceMonitor,
// dashboards, the release label) from a copy of deploy/ in memory, with and without a
// namePrefix, and checks the labels kube-prometheus-stack selects and that the job label
// the ServiceMonitor produces is the one the rules select.
func TestKustomizeDocumentedOverlay(t *testing.T) {
	doc, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(documentedOverlay) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "- ../deploy") {
			continue // the document names the remote URLs
		} else if !strings.Contains(string(doc), strings.TrimRight(line, "\n")) {
			t.Errorf("docs/install.md does not show the overlay line %q", strings.TrimRight(line, "\n"))
		}
	}

	for _, prefix := range []string{"", "team-a-"} {
		t.Run("namePrefix="+prefix, func(t *testing.T) {
			fsys := filesys.MakeFsInMemory()
			err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				return fsys.WriteFile(path.Join("/repo/deploy", filepath.ToSlash(p)), data)
			})
			if err != nil {
				t.Fatal(err)
			}
			overlay := documentedOverlay
			if prefix != "" {
				overlay += "namePrefix: " + prefix + "\n"
			}
			if err := fsys.WriteFile("/repo/overlay/kustomization.yaml", []byte(overlay)); err != nil {
				t.Fatal(err)
			}
			m := build(t, fsys, "/repo/overlay")

			var want []string
			for _, id := range slices.Concat(baseObjects, []string{"ServiceMonitor/statefulset-exporter"}, dashboardConfigMaps(t)) {
				kind, name, _ := strings.Cut(id, "/")
				want = append(want, kind+"/"+prefix+name)
			}
			slices.Sort(want)
			if got := ids(m); !slices.Equal(got, want) {
				t.Errorf("objects = %v, want %v", got, want)
			}

			kps := k8slabels.SelectorFromSet(k8slabels.Set{"release": "kube-prometheus-stack"})
			var svcLabels map[string]string
			var jobLabel string
			for _, r := range m.Resources() {
				if !kps.Matches(k8slabels.Set(r.GetLabels())) {
					t.Errorf("%s %s: labels %v lack release=kube-prometheus-stack", r.GetKind(), r.GetName(), r.GetLabels())
				}
				obj, err := r.Map()
				if err != nil {
					t.Fatal(err)
				}
				switch r.GetKind() {
				case "Service":
					svcLabels = r.GetLabels()
				case "ServiceMonitor":
					jobLabel, _ = obj["spec"].(map[string]any)["jobLabel"].(string)
				case "Deployment":
					// The release label stays out of selectors and pod templates: a changed
					// selector would make the Deployment immutable to apply.
					sel := obj["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
					if _, ok := sel["release"]; ok {
						t.Errorf("the release label leaked into the Deployment's selector: %v", sel)
					}
				case "ConfigMap":
					if r.GetLabels()["grafana_dashboard"] != "1" {
						t.Errorf("ConfigMap %s labels = %v, want grafana_dashboard=1", r.GetName(), r.GetLabels())
					}
					data := obj["data"].(map[string]any)
					if len(data) != 1 {
						t.Errorf("ConfigMap %s holds %d files, want one dashboard", r.GetName(), len(data))
					}
					for file, content := range data {
						generated, err := os.ReadFile(filepath.Join(generatedDashboards, file))
						if err != nil || content != string(generated) {
							t.Errorf("ConfigMap %s: %s is not %s/%s (%v)", r.GetName(), file, generatedDashboards, file, err)
						}
					}
				}
			}
			job, ok := svcLabels[jobLabel]
			if jobLabel == "" || !ok {
				job = prefix + Name // the Prometheus Operator's default: the Service's name
			}
			if want := ruleJob(t); job != want {
				t.Errorf("the ServiceMonitor yields job=%q (jobLabel %q), the rules select job=%q", job, jobLabel, want)
			}
		})
	}
}

// TestGeneratedCopies fails when grafana-dashboards/*.json (written by go run ./cmd/mixin)
// differ from the generated dashboards, or when the component's kustomization does not
// list exactly those files.
func TestGeneratedCopies(t *testing.T) {
	gen := dashboardFiles(t, generatedDashboards)
	if len(gen) == 0 {
		t.Fatalf("no dashboards in %s", generatedDashboards)
	}
	for _, f := range dashboardFiles(t, dashboardsComponent) {
		if slices.Contains(gen, f) {
			continue
		}
		t.Errorf("%s/%s is no longer generated (stale): run go run ./cmd/mixin", dashboardsComponent, f)
	}
	for _, f := range gen {
		want, err := os.ReadFile(filepath.Join(generatedDashboards, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dashboardsComponent, f)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s/%s (%v): run go run ./cmd/mixin", p, generatedDashboards, f, err)
		}
	}
	k, err := os.ReadFile(filepath.Join(dashboardsComponent, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen {
		if !strings.Contains(string(k), "      - "+f+"\n") {
			t.Errorf("%s/kustomization.yaml does not generate a ConfigMap from %s", dashboardsComponent, f)
		}
	}
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
