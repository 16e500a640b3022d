package tests

import (
	"bufio"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/internal/metricsdoc"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// builtinSeries are series names the rules may use that the exporter does not export.
var builtinSeries = map[string]bool{
	"up": true, // added by Prometheus for every target
}

// templateQuery finds the queries that annotation templates run (printf `...` | query).
var templateQuery = regexp.MustCompile("printf (`[^`]*`|\"(?:[^\"\\\\]|\\\\.)*\")(?: \\$labels\\.\\w+)* \\| query")

// TestRulesUseDocumentedMetrics checks that every series an expression or an annotation
// query reads is in docs/metrics.md, is recorded by a rule, or is a Prometheus built-in.
func TestRulesUseDocumentedMetrics(t *testing.T) {
	documented, err := metricsdoc.Load()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range metricsdoc.SeriesNames(documented) {
		known[n] = true
	}
	for n := range builtinSeries {
		known[n] = true
	}
	groups := committedRules(t)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}

	p := rules.Parser()
	used, queries := 0, 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			exprs := []string{r.Expr}
			for _, a := range r.Annotations {
				for _, m := range templateQuery.FindAllStringSubmatch(a, -1) {
					q := m[1]
					if q[0] == '`' {
						q = q[1 : len(q)-1]
					} else if uq, err := unquote(q); err == nil {
						q = uq
					}
					exprs = append(exprs, strings.NewReplacer("%%", "%", "%s", "x").Replace(q))
					queries++
				}
			}
			for _, e := range exprs {
				expr, err := p.ParseExpr(e)
				if err != nil {
					t.Errorf("%s: %q: %v", name, e, err)
					continue
				}
				for _, vs := range vectorSelectors(expr) {
					used++
					if !known[vs] {
						t.Errorf("%s reads %s, which is neither in docs/metrics.md nor recorded by a rule", name, vs)
					}
				}
			}
		}
	}
	if used == 0 || queries == 0 {
		t.Fatalf("found %d series and %d annotation queries in the rules", used, queries)
	}
}

func unquote(s string) (string, error) {
	var out string
	err := yaml.Unmarshal([]byte(s), &out)
	return out, err
}

// vectorSelectors returns the metric names an expression selects.
func vectorSelectors(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == "__name__" {
						name = m.Value
					}
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

// runbookSection is one "## AlertName" section of docs/runbooks.md.
type runbookSection struct {
	anchor string
	body   []string
}

var (
	headingPattern  = regexp.MustCompile(`^(#{1,6})\s+(.+?)\s*#*\s*$`)
	explicitAnchor  = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	alertNameLike   = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	severityPattern = regexp.MustCompile(`(?m)^\*\*Severity:\*\* (critical|warning|info)\b`)
)

// githubSlug returns the anchor GitHub gives a Markdown heading: lower-cased, punctuation
// other than '-' and '_' removed, spaces turned into '-'.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// parseRunbooks returns every anchor of docs/runbooks.md and its "## " sections by title.
func parseRunbooks(t *testing.T) (anchors map[string]bool, sections map[string]*runbookSection) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), runbooksFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors, sections = map[string]bool{}, map[string]*runbookSection{}
	seen := map[string]int{}
	var current *runbookSection
	inFence := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if !inFence {
			for _, m := range explicitAnchor.FindAllStringSubmatch(line, -1) {
				anchors[m[1]] = true
			}
			if m := headingPattern.FindStringSubmatch(line); m != nil {
				slug := githubSlug(m[2])
				if n := seen[slug]; n > 0 {
					seen[slug] = n + 1
					slug = slug + "-" + strconv.Itoa(n)
				} else {
					seen[slug] = 1
				}
				anchors[slug] = true
				if len(m[1]) == 2 {
					current = &runbookSection{anchor: slug}
					sections[m[2]] = current
					continue
				}
			}
		}
		if current != nil {
			current.body = append(current.body, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors, sections
}

// TestRunbooks checks that every alert's runbook_url points to an anchor of
// docs/runbooks.md, and that the alert's section states its severity and has the
// meaning, impact, diagnosis and mitigation parts.
func TestRunbooks(t *testing.T) {
	anchors, sections := parseRunbooks(t)
	cfg := mixin.DefaultConfig()
	alerts := alertRules(committedRules(t))
	prefix := strings.TrimSuffix(cfg.RunbookURLPattern, "%s")
	if !strings.HasSuffix(prefix, "/"+runbooksFile+"#") {
		t.Fatalf("RunbookURLPattern %q does not point into %s", cfg.RunbookURLPattern, runbooksFile)
	}
	for _, name := range slices.Sorted(maps.Keys(alerts)) {
		r := alerts[name]
		u, err := url.Parse(r.Annotations["runbook_url"])
		if err != nil || !strings.HasPrefix(r.Annotations["runbook_url"], prefix) {
			t.Errorf("%s: runbook_url %q does not start with %q", name, r.Annotations["runbook_url"], prefix)
			continue
		}
		if !anchors[u.Fragment] {
			t.Errorf("%s: runbook_url anchor #%s does not exist in %s", name, u.Fragment, runbooksFile)
		}
		sec := sections[name]
		if sec == nil {
			t.Errorf("%s: no \"## %s\" section in %s", name, name, runbooksFile)
			continue
		}
		body := strings.Join(sec.body, "\n")
		if m := severityPattern.FindStringSubmatch(body); m == nil || m[1] != r.Labels["severity"] {
			t.Errorf("%s: runbook section must state **Severity:** %s", name, r.Labels["severity"])
		}
		for _, part := range []string{"### Meaning", "### Impact", "### Diagnosis", "### Mitigation"} {
			if !slices.Contains(sec.body, part) {
				t.Errorf("%s: runbook section has no %q", name, part)
			}
		}
	}
	for title := range sections {
		if alertNameLike.MatchString(title) && alerts[title].Alert == "" {
			t.Errorf("%s has a section %q for an alert that does not exist", runbooksFile, title)
		}
	}
}

// unitTestFile is the part of a promtool unit test file the checks below read.
type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestEveryRuleIsUnitTested checks that the promtool unit tests expect every alert to fire
// at least once and to stay quiet at least once, and evaluate every recording rule.
func TestEveryRuleIsUnitTested(t *testing.T) {
	groups := committedRules(t)
	firing, quiet, recorded := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var exprs []string
	for _, file := range unitTestFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var f unitTestFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !slices.Contains(f.RuleFiles, "../"+ruleFile) {
			t.Errorf("%s does not load ../%s", file, ruleFile)
		}
		for _, tg := range f.Tests {
			for _, at := range tg.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					quiet[at.Alertname] = true
				} else {
					firing[at.Alertname] = true
				}
			}
			for _, pt := range tg.PromQLExprTest {
				exprs = append(exprs, pt.Expr)
			}
		}
	}
	p := rules.Parser()
	for _, e := range exprs {
		expr, err := p.ParseExpr(e)
		if err != nil {
			t.Errorf("promql_expr_test %q: %v", e, err)
			continue
		}
		for _, n := range vectorSelectors(expr) {
			recorded[n] = true
		}
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Record != "" && !recorded[r.Record]:
				t.Errorf("recording rule %s has no promql_expr_test", r.Record)
			case r.Alert != "" && !firing[r.Alert]:
				t.Errorf("alert %s has no unit test case that expects it to fire", r.Alert)
			case r.Alert != "" && !quiet[r.Alert]:
				t.Errorf("alert %s has no unit test case that expects it to stay quiet", r.Alert)
			}
		}
	}
	for name := range firing {
		if alertRules(groups)[name].Alert == "" {
			t.Errorf("unit tests expect alert %s, which does not exist", name)
		}
	}
}
