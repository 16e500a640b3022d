package tests

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
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
	// caseLookAlike: a test case that evaluates the alert has input series of an object
	// (a StatefulSet, lease, resource or cluster, told apart by the labels the alert
	// carries) for which it never expects the alert: promtool compares exp_alerts
	// exactly, so that object is proven quiet.
	caseLookAlike coverageCase = "look-alike"
)

// seriesParser parses the input series of the promtool tests.
var seriesParser = parser.NewParser(parser.Options{})

// objectLabels are the labels that tell the objects an alert is about apart.
var objectLabels = []string{"cluster", "namespace", "statefulset", "lease", "resource"}

// coverageFile is the part of a promtool unit test file TestEveryAlertFullyTested reads.
type coverageFile struct {
	Tests []coverageTestCase `yaml:"tests"`
}

type coverageTestCase struct {
	Name        string `yaml:"name"`
	InputSeries []struct {
		Series string `yaml:"series"`
	} `yaml:"input_series"`
	AlertRuleTest []coverageEval `yaml:"alert_rule_test"`
}

type coverageEval struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`
}

// alertCoverage is what the promtool tests show of one alert.
type alertCoverage map[coverageCase][]string // the test cases that have each case

// TestEveryAlertFullyTested checks, for every alerting rule of the committed rule file,
// that the promtool unit tests (tests/*.yaml) have it firing with its labels and
// annotations, quiet just before its "for" runs out and quiet again after firing, each
// within one test case (one set of input series), and quiet for a look-alike object,
// unless coverageExempt says why not.
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
		want := []coverageCase{caseFiring, caseResolved, caseLookAlike}
		if r.For > 0 {
			want = []coverageCase{caseFiring, caseBoundary, caseResolved, caseLookAlike}
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
	// The object labels each alert fires with, anywhere.
	keySets := map[string]map[string][]string{}
	for _, f := range files {
		for _, tc := range f.Tests {
			for _, at := range tc.AlertRuleTest {
				for _, a := range at.ExpAlerts {
					var keys []string
					for _, k := range objectLabels {
						if _, ok := a.ExpLabels[k]; ok {
							keys = append(keys, k)
						}
					}
					if keySets[at.Alertname] == nil {
						keySets[at.Alertname] = map[string][]string{}
					}
					keySets[at.Alertname][fmt.Sprint(keys)] = keys
				}
			}
		}
	}
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
			for _, alert := range evaluatedAlerts(tc.AlertRuleTest) {
				if hasLookAlike(tc, firingObjects(tc.AlertRuleTest, alert), keySets[alert]) {
					add(alert, caseLookAlike, tc.Name)
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

// evaluatedAlerts lists the alerts a test case evaluates.
func evaluatedAlerts(evals []coverageEval) []string {
	var out []string
	for _, at := range evals {
		if !slices.Contains(out, at.Alertname) {
			out = append(out, at.Alertname)
		}
	}
	return out
}

// firingObjects returns the objects (their object labels) a test case expects the alert
// to fire for.
func firingObjects(evals []coverageEval, alert string) map[string]bool {
	out := map[string]bool{}
	for _, at := range evals {
		if at.Alertname != alert {
			continue
		}
		for _, a := range at.ExpAlerts {
			out[objectKey(a.ExpLabels, presentKeys(a.ExpLabels))] = true
		}
	}
	return out
}

// hasLookAlike tells whether some input series names an object, by one of the label
// sets the alert fires with, that the alert never fires for in the test case.
func hasLookAlike(tc coverageTestCase, firing map[string]bool, keySets map[string][]string) bool {
	for _, in := range tc.InputSeries {
		matchers, err := seriesParser.ParseMetricSelector(in.Series)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, m := range matchers {
			labels[m.Name] = m.Value
		}
		for _, keys := range keySets {
			complete := !slices.ContainsFunc(keys, func(k string) bool { _, ok := labels[k]; return !ok })
			if complete && !firing[objectKey(labels, keys)] {
				return true
			}
		}
	}
	return false
}

func presentKeys(labels map[string]string) []string {
	var keys []string
	for _, k := range objectLabels {
		if _, ok := labels[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func objectKey(labels map[string]string, keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

func describeCase(c coverageCase, forDuration time.Duration) string {
	switch c {
	case caseLookAlike:
		return "quiet for a look-alike: input series of another object (by the alert's labels) that it never fires for, in a test case that evaluates it"
	case caseFiring:
		return "firing with exp_labels including its severity and exp_annotations with description and runbook_url"
	case caseBoundary:
		return fmt.Sprintf("quiet (exp_alerts: []) before an eval of the same test case where it fires (its for is %s)", model.Duration(forDuration))
	default:
		return "quiet (exp_alerts: []) after an eval of the same test case where it fires (resolution)"
	}
}

// TestLookAlikeNeedsAQuietObject: a test case whose only object fires has no look-alike;
// one more StatefulSet in its input series that never fires is one.
func TestLookAlikeNeedsAQuietObject(t *testing.T) {
	const doc = `
tests:
  - name: x
    input_series:
      - series: 'statefulset_replicas_ready{namespace="data", statefulset="a"}'
    alert_rule_test:
      - eval_time: 5m
        alertname: A
        exp_alerts:
          - exp_labels: {severity: critical, namespace: data, statefulset: a}
`
	var f coverageFile
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	rule := func(string) (string, string) { return "critical", "" }
	if got := coverageOf([]coverageFile{f}, rule)["A"][caseLookAlike]; len(got) != 0 {
		t.Errorf("look-alike found with the firing object alone: %v", got)
	}
	f.Tests[0].InputSeries = append(f.Tests[0].InputSeries, struct {
		Series string `yaml:"series"`
	}{`statefulset_replicas_ready{namespace="data", statefulset="b"}`})
	if got := coverageOf([]coverageFile{f}, rule)["A"][caseLookAlike]; len(got) != 1 {
		t.Errorf("no look-alike found with a quiet StatefulSet b: %v", got)
	}
}
