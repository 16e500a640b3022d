package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// TestDefaultConfigFileGeneratesCommittedFiles writes DefaultConfig() as a --config file,
// reads it back and generates: the files are byte for byte the committed ones.
func TestDefaultConfigFileGeneratesCommittedFiles(t *testing.T) {
	data, err := mixin.ConfigYAML(mixin.DefaultConfig(), true)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mixin.ParseConfig(data, mixin.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, mixin.DefaultConfig()) {
		t.Fatalf("the defaults read back as %+v", cfg)
	}
	files, err := GenerateWith(cfg, Options{Source: "DefaultConfig()"})
	if err != nil {
		t.Fatal(err)
	}
	if diffs := Diff(filepath.Join("..", ".."), files); len(diffs) > 0 {
		t.Fatalf("generated from the default config file:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// TestExampleConfig generates from docs/examples/mixin-config.yaml: every key it sets
// shows in the rules.
func TestExampleConfig(t *testing.T) {
	cfg, err := mixin.LoadConfigFile(filepath.Join("..", "..", "docs", "examples", "mixin-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := GenerateWith(cfg, Options{Source: "example"})
	if err != nil {
		t.Fatal(err)
	}
	ruleFile := string(files[RuleFilePath])
	for _, want := range []string{
		`job="kube-system/statefulset-exporter", namespace=~"prod-.*"`,
		"max by (k8s_cluster, namespace, statefulset)",
		"https://wiki.example.com/runbooks/statefulset-exporter#statefulsetnoreplicasready",
		"for: 2m",
		"for: 30m",
	} {
		if !strings.Contains(ruleFile, want) {
			t.Errorf("rules generated from the example lack %q", want)
		}
	}
}

func TestLabels(t *testing.T) {
	plain, err := GenerateWith(mixin.DefaultConfig(), Options{Source: "DefaultConfig()"})
	if err != nil {
		t.Fatal(err)
	}
	labelled, err := GenerateWith(mixin.DefaultConfig(), Options{
		Source: "DefaultConfig()",
		Labels: map[string]string{"release": "kube-prometheus-stack", "example.com/team": "storage"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Groups []any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(labelled[PrometheusRulePath], &pr); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"app.kubernetes.io/name":      "statefulset-exporter",
		"app.kubernetes.io/component": "alerting-rules",
		"app.kubernetes.io/part-of":   "statefulset-exporter",
		"release":                     "kube-prometheus-stack",
		"example.com/team":            "storage",
	}
	if !reflect.DeepEqual(pr.Metadata.Labels, want) {
		t.Errorf("labels %v, want %v", pr.Metadata.Labels, want)
	}
	if len(pr.Spec.Groups) == 0 {
		t.Error("no groups in the labelled PrometheusRule")
	}
	for name := range plain {
		if name != PrometheusRulePath && !bytes.Equal(plain[name], labelled[name]) {
			t.Errorf("--label changed %s", name)
		}
	}
	for _, bad := range []map[string]string{{"bad key": "x"}, {"release": "not a value"}, {"": "x"}} {
		if _, err := GenerateWith(mixin.DefaultConfig(), Options{Source: "x", Labels: bad}); err == nil {
			t.Errorf("no error for the labels %v", bad)
		}
	}
}

// TestConfigReferenceCommitted checks the drift of docs/mixin-config.md on its own, with
// a message that says what to do.
func TestConfigReferenceCommitted(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(ConfigDocPath)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date (a field of mixin.Config or its comment changed): run `go run ./cmd/mixin`", ConfigDocPath)
	}
	keys, err := mixin.ConfigKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.Contains(string(want), "| `"+k.Key+"` |") {
			t.Errorf("%s does not list %s", ConfigDocPath, k.Key)
		}
	}
	for _, row := range []string{
		"| `noReplicasReadyFor` | duration | `5m` | not a single replica Ready: the workload is down | StatefulSetNoReplicasReady |",
		"| `multiCluster` | boolean | `false` |",
	} {
		if !strings.Contains(string(want), row) {
			t.Errorf("%s lacks the row %q", ConfigDocPath, row)
		}
	}
}
