package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-jsonnet"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

var repoRoot = filepath.Join("..", "..")

type jsonnetMixinOutput struct {
	PrometheusAlerts  struct{ Groups []map[string]any } `json:"prometheusAlerts"`
	PrometheusRules   struct{ Groups []map[string]any } `json:"prometheusRules"`
	GrafanaDashboards map[string]any                    `json:"grafanaDashboards"`
	Config            map[string]any                    `json:"_config"`
}

// evalMixin evaluates the mixin.libsonnet in dir with go-jsonnet, with the override
// expression applied (as a user's `mixin + override`), and returns its fields.
func evalMixin(t *testing.T, dir, override string) (jsonnetMixinOutput, error) {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{dir}})
	out, err := vm.EvaluateAnonymousSnippet("test.jsonnet", `local m = (import 'mixin.libsonnet') + `+override+`;
{
  prometheusAlerts: m.prometheusAlerts,
  prometheusRules: m.prometheusRules,
  grafanaDashboards: m.grafanaDashboards,
  _config: m._config,
}`)
	var o jsonnetMixinOutput
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	return o, nil
}

// TestJsonnetMixinMatchesGeneratedFiles evaluates the committed mixin.libsonnet: its rule
// groups are those of rules/statefulset-exporter.rules.yaml, recording groups in
// prometheusRules and the others in prometheusAlerts, and its dashboards those of
// dashboards/.
func TestJsonnetMixinMatchesGeneratedFiles(t *testing.T) {
	o, err := evalMixin(t, repoRoot, "{}")
	if err != nil {
		t.Fatal(err)
	}
	checkMixin(t, o, repoRoot)
	cfg, err := mixin.ConfigJSON(mixin.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(cfg, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, o.Config); diff != "" {
		t.Errorf("_config is not DefaultConfig (-want +got):\n%s", diff)
	}
}

// TestJsonnetMixinRegenerated generates the whole mixin from another configuration into a
// directory of its own, the way docs/mixin.md tells Jsonnet users to change thresholds.
func TestJsonnetMixinRegenerated(t *testing.T) {
	dir := t.TempDir()
	files, err := GenerateWith(mixin.TestConfig(), Options{Source: "TestConfig()"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	o, err := evalMixin(t, dir, "{}")
	if err != nil {
		t.Fatal(err)
	}
	checkMixin(t, o, dir)
	if o.Config["noReplicasReadyFor"] != "30s" {
		t.Errorf("_config.noReplicasReadyFor = %v, want TestConfig's 30s", o.Config["noReplicasReadyFor"])
	}
}

// TestJsonnetConfigOverride: a _config override the rules cannot follow is an error that
// names the key and the way to change it; restating a generated value is fine.
func TestJsonnetConfigOverride(t *testing.T) {
	_, err := evalMixin(t, repoRoot, `{_config+:: {noReplicasReadyFor: '10m', selector: 'job="x"', someOtherMixinKey: 1}}`)
	if err == nil {
		t.Fatal("overriding _config.noReplicasReadyFor evaluated without error")
	}
	for _, want := range []string{"_config.noReplicasReadyFor", "_config.selector", "--config", "docs/mixin.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "someOtherMixinKey") {
		t.Errorf("error %q names a key the mixin does not own", err)
	}
	if _, err := evalMixin(t, repoRoot, `{_config+:: {noReplicasReadyFor: '5m', grafanaDashboardTags: ['x']}}`); err != nil {
		t.Errorf("restating a generated value: %v", err)
	}
}

// checkMixin compares the evaluated mixin with the rule file and dashboards in dir.
func checkMixin(t *testing.T, o jsonnetMixinOutput, dir string) {
	t.Helper()
	var ruleFile struct{ Groups []map[string]any }
	readYAMLAsJSON(t, filepath.Join(dir, filepath.FromSlash(RuleFilePath)), &ruleFile)
	if len(ruleFile.Groups) == 0 {
		t.Fatal("no groups in the rule file")
	}
	var wantAlerts, wantRecording []map[string]any
	for _, g := range ruleFile.Groups {
		recording := false
		for _, r := range g["rules"].([]any) {
			if _, ok := r.(map[string]any)["record"]; ok {
				recording = true
			}
		}
		if recording {
			wantRecording = append(wantRecording, g)
		} else {
			wantAlerts = append(wantAlerts, g)
		}
	}
	if len(wantAlerts) == 0 || len(wantRecording) == 0 {
		t.Fatalf("want both alerting (%d) and recording (%d) groups in the rule file", len(wantAlerts), len(wantRecording))
	}
	if diff := cmp.Diff(wantAlerts, o.PrometheusAlerts.Groups); diff != "" {
		t.Errorf("prometheusAlerts differ from the alerting groups of %s (-want +got):\n%s", RuleFilePath, diff)
	}
	if diff := cmp.Diff(wantRecording, o.PrometheusRules.Groups); diff != "" {
		t.Errorf("prometheusRules differ from the recording groups of %s (-want +got):\n%s", RuleFilePath, diff)
	}

	boards, err := filepath.Glob(filepath.Join(dir, DashboardsDir, "*.json"))
	if err != nil || len(boards) == 0 {
		t.Fatalf("no dashboards in %s: %v", dir, err)
	}
	var names []string
	for _, path := range boards {
		name := filepath.Base(path)
		names = append(names, name)
		var want any
		readYAMLAsJSON(t, path, &want)
		if diff := cmp.Diff(want, o.GrafanaDashboards[name]); diff != "" {
			t.Errorf("grafanaDashboards[%q] differs from %s (-want +got):\n%s", name, path, diff)
		}
	}
	var got []string
	for name := range o.GrafanaDashboards {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(names, got) {
		t.Errorf("grafanaDashboards has %v, %s has %v", got, DashboardsDir, names)
	}
}

// readYAMLAsJSON reads a YAML (or JSON) file into v the way encoding/json would read its
// JSON form, so that it compares with Jsonnet's output.
func readYAMLAsJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := sigsyaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := json.Unmarshal(j, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
