package rules

import (
	"bytes"
	"fmt"
	"maps"

	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// RuleFile renders cfg's rule groups as a plain Prometheus rule file (rule_files:).
func RuleFile(cfg mixin.Config) ([]byte, error) {
	groups, err := Groups(cfg)
	if err != nil {
		return nil, err
	}
	return RuleFileYAML(groups)
}

// RuleFileYAML renders groups as a Prometheus rule file.
func RuleFileYAML(groups []rulefmt.RuleGroup) ([]byte, error) {
	return marshal(rulefmt.RuleGroups{Groups: groups})
}

// PrometheusRule renders cfg's rule groups as a Prometheus Operator PrometheusRule
// (monitoring.coreos.com/v1) with the given name, namespace and labels. Prometheus
// Operator only loads PrometheusRules that match the ruleSelector of the Prometheus
// resource (kube-prometheus-stack selects release: <helm release>): pass those labels.
func PrometheusRule(cfg mixin.Config, name, namespace string, labels map[string]string) ([]byte, error) {
	groups, err := Groups(cfg)
	if err != nil {
		return nil, err
	}
	return PrometheusRuleYAML(groups, name, namespace, labels)
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

type prometheusRule struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Groups []rulefmt.RuleGroup `yaml:"groups"`
	} `yaml:"spec"`
}

// PrometheusRuleYAML renders groups as a PrometheusRule manifest.
func PrometheusRuleYAML(groups []rulefmt.RuleGroup, name, namespace string, labels map[string]string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("rules: a PrometheusRule needs a name")
	}
	pr := prometheusRule{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata:   objectMeta{Name: name, Namespace: namespace, Labels: maps.Clone(labels)},
	}
	pr.Spec.Groups = groups
	return marshal(pr)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return buf.Bytes(), nil
}
