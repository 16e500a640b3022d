package tests

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// coverageExempt lists the alerts that cannot have one of the cases
// TestEveryAlertFullyTested requires, with the reason. Keep it minimal: add the missing
// promtool case instead wherever one can be written.
var coverageExempt = map[string]map[coverageCase]string{}

// coverageCase is one kind of promtool case every alerting rule needs.
type coverageCase string

const (
	// caseFiring: an eval expects the alert with exp_labels including its severity and
	// exp_annotations with its description and runbook_url.
	caseFiring coverageCase = "firing"
	// caseBoundary (rules with a "for"): an eval expects no alert strictly before an
	// eval of the same test case that expects it to fire.
	caseBoundary coverageCase = "just before the boundary"
	// caseResolved: an eval expects no alert after an eval of the same test case that
	// expects it to fire.
	caseResolved coverageCase = "resolution"
)

// coverageFile is the part of a promtool unit test file TestEveryAlertFullyTested reads.
type coverageFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  model.Duration `yaml:"eval_time"`
			Alertname string         `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// alertCoverage is what the promtool tests show of one alert.
type alertCoverage map[coverageCase][]string // the test cases that have each case

// TestEveryAlertFullyTested checks, for every alerting rule of the committed rule file,
// that the promtool unit tests (tests/*.yaml) have it firing with its labels and
// annotations, quiet just before its "for" runs out and quiet again after firing, each
// within one test case (one set of input series), unless coverageExempt says why not.
func TestEveryAlertFullyTested(t *testing.T) {
	alerts := alertRules(committedRules(t))
	var files []coverageFile
	for _, path := range unitTestFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f coverageFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		files = append(files, f)
	}
	got := coverageOf(files, func(alert string) (severity, runbook string) {
		r := alerts[alert]
		return r.Labels["severity"], r.Annotations["runbook_url"]
	})
	for _, name := range slices.Sorted(maps.Keys(alerts)) {
		r := alerts[name]
		want := []coverageCase{caseFiring, caseResolved}
		if r.For > 0 {
			want = []coverageCase{caseFiring, caseBoundary, caseResolved}
		}
		for _, c := range want {
			reason, exempt := coverageExempt[name][c]
			switch {
			case exempt && reason == "":
				t.Errorf("%s: the exemption from %q gives no reason", name, c)
			case exempt && len(got[name][c]) > 0:
				t.Errorf("%s: exempt from %q, but test case %q has it: remove the exemption", name, c, got[name][c][0])
			case !exempt && len(got[name][c]) == 0:
				t.Errorf("%s: no promtool test case has it %s", name, describeCase(c, time.Duration(r.For)))
			}
		}
	}
	for name := range coverageExempt {
		if _, ok := alerts[name]; !ok {
			t.Errorf("coverageExempt names %s, which is not an alert", name)
		}
	}
}

// coverageOf returns, per alert, the test cases that hold each kind of case. rule gives
// an alert's severity and runbook_url.
func coverageOf(files []coverageFile, rule func(alert string) (severity, runbook string)) map[string]alertCoverage {
	out := map[string]alertCoverage{}
	add := func(alert string, c coverageCase, testCase string) {
		if out[alert] == nil {
			out[alert] = alertCoverage{}
		}
		if !slices.Contains(out[alert][c], testCase) {
			out[alert][c] = append(out[alert][c], testCase)
		}
	}
	for _, f := range files {
		for _, tc := range f.Tests {
			firing, quiet := map[string][]time.Duration{}, map[string][]time.Duration{}
			for _, at := range tc.AlertRuleTest {
				at0 := time.Duration(at.EvalTime)
				if len(at.ExpAlerts) == 0 {
					quiet[at.Alertname] = append(quiet[at.Alertname], at0)
					continue
				}
				firing[at.Alertname] = append(firing[at.Alertname], at0)
				severity, runbook := rule(at.Alertname)
				for _, a := range at.ExpAlerts {
					if severity != "" && a.ExpLabels["severity"] == severity &&
						a.ExpAnnotations["description"] != "" && a.ExpAnnotations["runbook_url"] == runbook {
						add(at.Alertname, caseFiring, tc.Name)
						break
					}
				}
			}
			for alert, fs := range firing {
				for _, q := range quiet[alert] {
					if q < slices.Max(fs) {
						add(alert, caseBoundary, tc.Name)
					}
					if q > slices.Min(fs) {
						add(alert, caseResolved, tc.Name)
					}
				}
			}
		}
	}
	return out
}

func describeCase(c coverageCase, forDuration time.Duration) string {
	switch c {
	case caseFiring:
		return "firing with exp_labels including its severity and exp_annotations with description and runbook_url"
	case caseBoundary:
		return fmt.Sprintf("quiet (exp_alerts: []) before an eval of the same test case where it fires (its for is %s)", model.Duration(forDuration))
	default:
		return "quiet (exp_alerts: []) after an eval of the same test case where it fires (resolution)"
	}
}
