package dashboards

import (
	"maps"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// recordingRules returns the series the recording rules of mixin/rules record for cfg,
// with the labels they keep: the grouping labels of the rule's outer aggregation plus the
// rule's own labels.
func recordingRules(t *testing.T, cfg mixin.Config) map[string][]string {
	t.Helper()
	groups, err := rules.Groups(cfg)
	if err != nil {
		t.Fatalf("rules.Groups: %v", err)
	}
	out := map[string][]string{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			e, err := promqlParser.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("recording rule %s: %v", r.Record, err)
			}
			for {
				p, ok := e.(*parser.ParenExpr)
				if !ok {
					break
				}
				e = p.Expr
			}
			agg, ok := e.(*parser.AggregateExpr)
			if !ok || agg.Without {
				t.Fatalf("recording rule %s is not an aggregation by labels, so its labels are unknown: %s", r.Record, r.Expr)
			}
			out[r.Record] = append(slices.Clone(agg.Grouping), slices.Sorted(maps.Keys(r.Labels))...)
		}
	}
	return out
}

// alertLabels returns the labels an ALERTS series of the alerts of mixin/rules may carry:
// alertname and alertstate, the rules' own labels, and the labels their annotations name
// ({{ $labels.pod }}), which the alert's expression keeps.
func alertLabels(t *testing.T, cfg mixin.Config) []string {
	t.Helper()
	groups, err := rules.Groups(cfg)
	if err != nil {
		t.Fatalf("rules.Groups: %v", err)
	}
	set := map[string]bool{"alertname": true, "alertstate": true}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			for l := range r.Labels {
				set[l] = true
			}
			for _, a := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(a, -1) {
					set[m[1]] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// templateLabel matches a label an alert template reads: $labels.name.
var templateLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

func TestRecordingRulesUsedExist(t *testing.T) {
	// restartRate reads the recording rule; make sure mixin/rules records it with the
	// StatefulSet labels the dashboards select and group by.
	for name, cfg := range testConfigs() {
		ls, ok := recordingRules(t, cfg)[mixin.RecordContainerRestartsRate5m]
		if !ok {
			t.Fatalf("%s: mixin/rules records no %s", name, mixin.RecordContainerRestartsRate5m)
		}
		for _, l := range append(scope{cfg: cfg}.clusterLabels(), "namespace", "statefulset") {
			if !slices.Contains(ls, l) {
				t.Errorf("%s: %s lacks label %s (has %v)", name, mixin.RecordContainerRestartsRate5m, l, ls)
			}
		}
	}
}
