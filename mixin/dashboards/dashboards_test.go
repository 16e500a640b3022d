package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/statefulset-exporter/statefulset-exporter/internal/metricsdoc"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// testConfigs covers the single-cluster default and a multi-cluster setup with a namespace
// restriction and a selector of several matchers.
func testConfigs() map[string]mixin.Config {
	multi := mixin.DefaultConfig()
	multi.Selector = `job=~"statefulset-exporter|sts-exporter", env="prod"`
	multi.NamespaceSelector = `namespace=~"prod-.*"`
	multi.ClusterLabel = "k8s_cluster"
	multi.MultiCluster = true
	return map[string]mixin.Config{
		"default":       mixin.DefaultConfig(),
		"multi-cluster": multi,
	}
}

// want lists the dashboards Generate must return.
var want = map[string]struct{ uid, title string }{
	"statefulset-overview.json":      {"sts-exporter-overview", "StatefulSets / Fleet overview"},
	"statefulset-detail.json":        {"sts-exporter-statefulset", "StatefulSets / StatefulSet"},
	"statefulset-control-plane.json": {"sts-exporter-control-plane", "StatefulSets / Control plane and exporter"},
}

// The parts of the dashboard JSON the tests look at.
type dashboardJSON struct {
	UID        string   `json:"uid"`
	Title      string   `json:"title"`
	Tags       []string `json:"tags"`
	Refresh    string   `json:"refresh"`
	Time       struct{ From, To string }
	Panels     []panelJSON `json:"panels"`
	Templating struct {
		List []variableJSON `json:"list"`
	} `json:"templating"`
}

type panelJSON struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dsJSON     `json:"datasource"`
	GridPos    gridPosJSON `json:"gridPos"`
	Panels     []panelJSON `json:"panels"` // of a row
	Links      []struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		TargetBlank bool   `json:"targetBlank"`
	} `json:"links"`
	FieldConfig struct {
		Overrides []struct {
			Matcher    struct{ ID, Options string }
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID      string  `json:"refId"`
		Expr       string  `json:"expr"`
		Datasource *dsJSON `json:"datasource"`
	} `json:"targets"`
}

type gridPosJSON struct{ H, W, X, Y int }

type dsJSON struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variableJSON struct {
	Type       string  `json:"type"`
	Name       string  `json:"name"`
	Query      any     `json:"query"`
	Datasource *dsJSON `json:"datasource"`
	Multi      bool    `json:"multi"`
	IncludeAll bool    `json:"includeAll"`
	AllValue   string  `json:"allValue"`
}

func generate(t *testing.T, cfg mixin.Config) map[string]dashboardJSON {
	t.Helper()
	out, err := Generate(cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	parsed := map[string]dashboardJSON{}
	for file, data := range out {
		var d dashboardJSON
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: invalid JSON: %v", file, err)
		}
		parsed[file] = d
	}
	return parsed
}

// allPanels returns the panels of d, rows' panels included, rows excluded.
func allPanels(d dashboardJSON) []panelJSON {
	var out []panelJSON
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func TestGenerateIsDeterministicIndentedJSON(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			first, err := Generate(cfg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			for range 3 {
				again, err := Generate(cfg)
				if err != nil {
					t.Fatalf("Generate: %v", err)
				}
				if len(again) != len(first) {
					t.Fatalf("Generate returned %d files, then %d", len(first), len(again))
				}
				for file, data := range first {
					if !bytes.Equal(data, again[file]) {
						t.Errorf("%s differs between runs", file)
					}
				}
			}
			for file, data := range first {
				if !json.Valid(data) {
					t.Errorf("%s: invalid JSON", file)
					continue
				}
				var indented bytes.Buffer
				if err := json.Indent(&indented, bytes.TrimSpace(data), "", "  "); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				indented.WriteByte('\n')
				if !bytes.Equal(indented.Bytes(), data) {
					t.Errorf("%s is not indented with two spaces and terminated by one newline", file)
				}
			}
		})
	}
}

// TestDashboardsFollowTheSchema decodes the output, post-processing included, with the
// SDK's strict decoder, which rejects unknown fields and values of the wrong type.
func TestDashboardsFollowTheSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins() // decodes panel options and queries by type
	for name, cfg := range testConfigs() {
		out, err := Generate(cfg)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		for file, data := range out {
			var d dashboard.Dashboard
			err := d.UnmarshalJSONStrict(data)
			if errs, ok := err.(cog.BuildErrors); ok && len(errs) == 0 {
				err = nil // the SDK returns an empty error list on success
			}
			if err != nil {
				t.Errorf("%s/%s: %v", name, file, err)
			}
		}
	}
}

func TestGenerateReturnsTheDashboards(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			got := generate(t, cfg)
			var files []string
			for f := range got {
				files = append(files, f)
			}
			for f := range want {
				if _, ok := got[f]; !ok {
					t.Errorf("missing %s (got %v)", f, files)
				}
			}
			for file, d := range got {
				w, ok := want[file]
				if !ok {
					t.Errorf("unexpected file %s", file)
					continue
				}
				if d.UID != w.uid || d.Title != w.title {
					t.Errorf("%s: uid %q title %q, want %q %q", file, d.UID, d.Title, w.uid, w.title)
				}
				if len(d.UID) > 40 {
					t.Errorf("%s: uid %q longer than Grafana's 40 characters", file, d.UID)
				}
				if !slices.Contains(d.Tags, dashboardTag) {
					t.Errorf("%s: tags %v lack %q", file, d.Tags, dashboardTag)
				}
				if d.Refresh == "" || d.Time.From == "" || d.Time.To == "" {
					t.Errorf("%s: no default refresh or time range", file)
				}
			}
		})
	}
}

func TestGenerateRejectsInvalidConfig(t *testing.T) {
	cfg := mixin.DefaultConfig()
	cfg.Selector = ""
	if _, err := Generate(cfg); err == nil {
		t.Error("Generate accepted an empty Selector")
	}
	cfg = mixin.DefaultConfig()
	cfg.NamespaceSelector = `{namespace="prod"}`
	if _, err := Generate(cfg); err == nil {
		t.Error("Generate accepted a NamespaceSelector in braces")
	}
	cfg = mixin.DefaultConfig()
	cfg.MultiCluster, cfg.ClusterLabel = true, ""
	if _, err := Generate(cfg); err == nil {
		t.Error("Generate accepted MultiCluster without ClusterLabel")
	}
}

func TestPanelLayout(t *testing.T) {
	for name, cfg := range testConfigs() {
		for file, d := range generate(t, cfg) {
			ids := map[int]string{}
			check := func(p panelJSON) {
				where := fmt.Sprintf("%s/%s: panel %d %q", name, file, p.ID, p.Title)
				if p.ID == 0 {
					t.Errorf("%s has no id", where)
				} else if other, dup := ids[p.ID]; dup {
					t.Errorf("%s reuses the id of %q", where, other)
				}
				ids[p.ID] = p.Title
				if p.Title == "" {
					t.Errorf("%s has no title", where)
				}
				if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("%s lies outside the 24-column grid: %+v", where, g)
				}
				if p.Type == "row" {
					return
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("%s does not use the datasource variable", where)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s has no query", where)
				}
				refs := map[string]bool{}
				for _, q := range p.Targets {
					if q.RefID == "" || refs[q.RefID] {
						t.Errorf("%s: missing or duplicate refId %q", where, q.RefID)
					}
					refs[q.RefID] = true
					if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
						t.Errorf("%s: query %s does not use the datasource variable", where, q.RefID)
					}
				}
			}
			for _, p := range d.Panels {
				check(p)
				for _, c := range p.Panels {
					check(c)
				}
			}
		}
	}
}

// grafanaVariable matches $name, ${name} and ${name:format}.
var grafanaVariable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// builtinDurations are Grafana's interval variables; they stand for PromQL durations.
var builtinDurations = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

// substitute replaces the Grafana variables of a query by values PromQL accepts and
// returns the names of the variables it replaced.
func substitute(query string) (string, []string) {
	var names []string
	out := grafanaVariable.ReplaceAllStringFunc(query, func(m string) string {
		sub := grafanaVariable.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		names = append(names, name)
		if builtinDurations[name] {
			return "5m"
		}
		return "placeholder"
	})
	return out, names
}

// knownSeries returns the series the exporter exports (docs/metrics.md) and the series of
// the recording rules, with their labels; "sts" in the docs stands for namespace and
// statefulset, and histogram buckets add le.
func knownSeries(t *testing.T, cfg mixin.Config) map[string]series {
	t.Helper()
	known := map[string]series{}
	for name, ls := range documentedLabels(t) {
		known[name] = series{labels: ls}
	}
	for name, ls := range recordingRules(t, cfg) {
		if _, dup := known[name]; dup {
			t.Fatalf("recording rule %s records a series the exporter exports", name)
		}
		known[name] = series{labels: ls, recorded: true}
	}
	known["ALERTS"] = series{labels: alertLabels(t, cfg), recorded: true}
	return known
}

// series describes a series the dashboards may select.
type series struct {
	labels []string
	// recorded is true for recording-rule series and ALERTS: they keep only the labels the
	// rule aggregates by, not the target labels the exporter's series carry.
	recorded bool
}

// hasLabel tells whether the series has label, given the target labels every scraped
// series has.
func (s series) hasLabel(label string, target []string) bool {
	return slices.Contains(s.labels, label) || !s.recorded && slices.Contains(target, label)
}

// targetLabels are the labels Prometheus and the operator add to the exporter's series:
// job, instance, the labels of Config.Selector and the cluster label.
func targetLabels(t *testing.T, cfg mixin.Config) []string {
	t.Helper()
	target := []string{"job", "instance", cfg.ClusterLabel}
	for _, m := range matchers(t, cfg.Selector) {
		target = append(target, m.Name)
	}
	return target
}

// promqlParser parses the queries as Prometheus does by default.
var promqlParser = parser.NewParser(parser.Options{})

// selectors parses expr and returns its vector selectors.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// matchers parses a comma-separated list of label matchers such as Config.Selector.
func matchers(t *testing.T, list string) []*labels.Matcher {
	t.Helper()
	if list == "" {
		return nil
	}
	m, err := promqlParser.ParseMetricSelector("{" + list + "}")
	if err != nil {
		t.Fatalf("parse %q: %v", list, err)
	}
	return m
}

func hasMatcher(vs *parser.VectorSelector, want *labels.Matcher) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == want.Name && m.Type == want.Type && m.Value == want.Value {
			return true
		}
	}
	return false
}

// isWorkloadSeries tells the StatefulSet series, which carry namespace and statefulset,
// from the exporter's own and the control-plane series. The dashboards read ALERTS for
// the alerts of StatefulSets only.
func isWorkloadSeries(name string) bool {
	return strings.HasPrefix(name, "statefulset_") && !strings.HasPrefix(name, "statefulset_exporter_") &&
		!strings.HasPrefix(name, "statefulset_control_plane_lease_") ||
		strings.HasPrefix(name, "namespace_statefulset:") || name == "ALERTS"
}

// checkQuery parses a query after substituting its variables, checks that it only selects
// known series, each with the configured selector (and the namespace selector for workload
// series, the lease selector for Lease series, the cluster variable in multi-cluster
// setups), and that the variables it uses are defined by then. It returns the parsed
// vector selectors.
func checkQuery(t *testing.T, where, query string, cfg mixin.Config, known map[string]series, defined map[string]bool) []*parser.VectorSelector {
	t.Helper()
	expr, vars := substitute(query)
	for _, v := range vars {
		if !builtinDurations[v] && !defined[v] {
			t.Errorf("%s: uses undefined variable $%s: %s", where, v, query)
		}
	}
	sels, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, query)
		return nil
	}
	if len(sels) == 0 {
		t.Errorf("%s: selects no series: %s", where, query)
	}
	for _, vs := range sels {
		if vs.Name == "" {
			t.Errorf("%s: selector %s has no metric name", where, vs)
			continue
		}
		info, ok := known[vs.Name]
		if !ok {
			t.Errorf("%s: %s is neither in docs/metrics.md nor a recording rule", where, vs.Name)
		}
		if !info.recorded {
			for _, m := range matchers(t, cfg.Selector) {
				if !hasMatcher(vs, m) {
					t.Errorf("%s: %s lacks the selector matcher %s", where, vs, m)
				}
			}
		}
		if isWorkloadSeries(vs.Name) {
			for _, m := range matchers(t, cfg.NamespaceSelector) {
				if !hasMatcher(vs, m) {
					t.Errorf("%s: %s lacks the namespace selector %s", where, vs, m)
				}
			}
		}
		if strings.HasPrefix(vs.Name, "statefulset_control_plane_lease_") {
			for _, m := range matchers(t, cfg.LeaseSelector) {
				if !hasMatcher(vs, m) {
					t.Errorf("%s: %s lacks the lease selector %s", where, vs, m)
				}
			}
		}
		if cfg.MultiCluster && !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
			return m.Name == cfg.ClusterLabel && strings.Contains(m.Value, "placeholder")
		}) {
			t.Errorf("%s: %s is not restricted to the selected cluster", where, vs)
		}
	}
	return sels
}

func TestPanelQueries(t *testing.T) {
	for name, cfg := range testConfigs() {
		known := knownSeries(t, cfg)
		for file, d := range generate(t, cfg) {
			defined := map[string]bool{}
			for _, v := range d.Templating.List {
				defined[v.Name] = true
			}
			for _, p := range allPanels(d) {
				for _, q := range p.Targets {
					where := fmt.Sprintf("%s/%s: %q/%s", name, file, p.Title, q.RefID)
					if strings.TrimSpace(q.Expr) == "" {
						t.Errorf("%s: empty query", where)
						continue
					}
					checkQuery(t, where, q.Expr, cfg, known, defined)
				}
			}
		}
	}
}

// labelValuesQuery matches label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestVariables(t *testing.T) {
	for name, cfg := range testConfigs() {
		known := knownSeries(t, cfg)
		for file, d := range generate(t, cfg) {
			defined := map[string]bool{}
			var names []string
			for _, v := range d.Templating.List {
				where := fmt.Sprintf("%s/%s: variable %s", name, file, v.Name)
				names = append(names, v.Name)
				switch v.Type {
				case "datasource":
					if v.Query != "prometheus" {
						t.Errorf("%s: datasource type %v, want prometheus", where, v.Query)
					}
				case "query":
					query, _ := v.Query.(string)
					m := labelValuesQuery.FindStringSubmatch(query)
					if m == nil {
						t.Errorf("%s: %q is not label_values(selector, label)", where, query)
						break
					}
					if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
						t.Errorf("%s: does not use the datasource variable", where)
					}
					// A variable may only use the variables listed before it.
					checkQueryVariable(t, where, m[1], cfg, known, defined)
					if v.Name == "statefulset" && !strings.Contains(query, "$namespace") {
						t.Errorf("%s: does not list the StatefulSets of the selected namespace: %s", where, query)
					}
					if v.Multi && (!v.IncludeAll || v.AllValue == "") {
						t.Errorf("%s: multi-value variable without an All value regex", where)
					}
				default:
					t.Errorf("%s: unexpected variable type %s", where, v.Type)
				}
				defined[v.Name] = true
			}
			if len(names) == 0 || names[0] != "datasource" {
				t.Errorf("%s/%s: first variable is not the datasource: %v", name, file, names)
			}
			if got := slices.Contains(names, "cluster"); got != cfg.MultiCluster {
				t.Errorf("%s/%s: cluster variable present=%v, want %v", name, file, got, cfg.MultiCluster)
			}
			if file != "statefulset-control-plane.json" {
				for _, v := range []string{"namespace", "statefulset"} {
					if !slices.Contains(names, v) {
						t.Errorf("%s/%s: no %s variable", name, file, v)
					}
				}
			}
		}
	}
}

// checkQueryVariable checks the selector of a label_values query like a panel query, except
// that the cluster variable itself cannot be restricted to the selected cluster.
func checkQueryVariable(t *testing.T, where, selector string, cfg mixin.Config, known map[string]series, defined map[string]bool) []*parser.VectorSelector {
	t.Helper()
	if !defined["cluster"] {
		cfg.MultiCluster = false
	}
	return checkQuery(t, where, selector, cfg, known, defined)
}

func TestSelectorsFollowTheVariables(t *testing.T) {
	// The detail dashboard shows one StatefulSet: every workload series must be matched
	// exactly on namespace and statefulset, or panels would mix StatefulSets.
	cfg := mixin.DefaultConfig()
	d := generate(t, cfg)["statefulset-detail.json"]
	for _, p := range allPanels(d) {
		for _, q := range p.Targets {
			expr, _ := substitute(q.Expr)
			sels, err := selectors(expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, vs := range sels {
				if !isWorkloadSeries(vs.Name) {
					continue
				}
				for _, l := range []string{"namespace", "statefulset"} {
					if !hasMatcher(vs, labels.MustNewMatcher(labels.MatchEqual, l, "placeholder")) {
						t.Errorf("%q/%s: %s does not match %s=\"$%s\"", p.Title, q.RefID, vs, l, l)
					}
				}
			}
		}
	}
}

func TestRefID(t *testing.T) {
	for i, want := range map[int]string{0: "A", 1: "B", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := refID(i); got != want {
			t.Errorf("refID(%d) = %q, want %q", i, got, want)
		}
	}
}

// docRow matches a row of the metric tables of docs/metrics.md: name, type, labels.
var docRow = regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|\\s*\\w+\\s*\\|([^|]*)\\|")

// documentedLabels returns the labels of every series in docs/metrics.md.
func documentedLabels(t *testing.T) map[string][]string {
	t.Helper()
	metrics, err := metricsdoc.Load()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(metricsdoc.Path())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := docRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var ls []string
		for _, cell := range strings.Split(m[2], ",") {
			switch l := strings.Trim(strings.TrimSpace(cell), "`"); l {
			case "":
			case "sts":
				ls = append(ls, "namespace", "statefulset")
			default:
				ls = append(ls, l)
			}
		}
		byName[m[1]] = ls
	}
	out := map[string][]string{}
	for _, m := range metrics {
		ls, ok := byName[m.Name]
		if !ok {
			t.Fatalf("no labels found for %s in %s", m.Name, metricsdoc.Path())
		}
		if m.Type == "histogram" {
			out[m.Name+"_bucket"] = append(slices.Clone(ls), "le")
			out[m.Name+"_sum"], out[m.Name+"_count"] = ls, ls
			continue
		}
		out[m.Name] = ls
	}
	// SeriesNames is the reference's own list of series: the two must agree.
	for _, name := range metricsdoc.SeriesNames(metrics) {
		if _, ok := out[name]; !ok {
			t.Fatalf("series %s of metricsdoc.SeriesNames has no labels", name)
		}
	}
	return out
}

// TestQueriesUseDocumentedLabels catches label typos, which PromQL accepts silently: every
// label a query matches on or aggregates by must be a documented label of the series it
// applies to, a target label of the exporter's series (job, instance, the selector's and
// the cluster label), or a label a recording rule keeps.
func TestQueriesUseDocumentedLabels(t *testing.T) {
	for name, cfg := range testConfigs() {
		known := knownSeries(t, cfg)
		target := targetLabels(t, cfg)
		// allowed tells whether every one of the series has label. Unknown series are
		// reported by TestPanelQueries.
		allowed := func(metrics []string, label string) bool {
			for _, m := range metrics {
				if s, ok := known[m]; ok && !s.hasLabel(label, target) {
					return false
				}
			}
			return true
		}
		for file, d := range generate(t, cfg) {
			var queries []string
			for _, p := range allPanels(d) {
				for _, q := range p.Targets {
					queries = append(queries, q.Expr)
				}
			}
			for _, v := range d.Templating.List {
				if m := labelValuesQuery.FindStringSubmatch(fmt.Sprint(v.Query)); m != nil {
					queries = append(queries, fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))
				}
			}
			for _, query := range queries {
				expr, _ := substitute(query)
				e, err := promqlParser.ParseExpr(expr)
				if err != nil {
					t.Errorf("%s/%s: %v", name, file, err)
					continue
				}
				parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
					switch n := n.(type) {
					case *parser.VectorSelector:
						for _, m := range n.LabelMatchers {
							if m.Name != labels.MetricName && !allowed([]string{n.Name}, m.Name) {
								t.Errorf("%s/%s: %s matches undocumented label %s", name, file, n, m.Name)
							}
						}
					case *parser.AggregateExpr:
						var metrics, added []string
						parser.Inspect(n.Expr, func(c parser.Node, _ []parser.Node) error {
							switch c := c.(type) {
							case *parser.VectorSelector:
								metrics = append(metrics, c.Name)
							case *parser.Call:
								// label_replace sets a label of its own.
								if c.Func.Name == "label_replace" {
									if dst, ok := c.Args[1].(*parser.StringLiteral); ok {
										added = append(added, dst.Val)
									}
								}
							}
							return nil
						})
						for _, l := range n.Grouping {
							if !slices.Contains(added, l) && !allowed(metrics, l) {
								t.Errorf("%s/%s: %s aggregates by %s, which is not a label of all of %v", name, file, n, l, metrics)
							}
						}
					}
					return nil
				})
			}
		}
	}
}

func TestUnescapeHTML(t *testing.T) {
	in := []string{"a > 0 and b < 1 & c", `literal \u003e stays`, `\`, `\>`, "\u00e9"}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got := unescapeHTML(data)
	var back []string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if !slices.Equal(back, in) {
		t.Errorf("round trip changed %q into %q", in, back)
	}
	if want := `"a > 0 and b < 1 & c"`; !bytes.Contains(got, []byte(want)) {
		t.Errorf("%s does not contain %s", got, want)
	}
}

// TestLeaderPresentPerLease: the control-plane dashboard shows, per lease, whether it has
// a leader, from the held gauge alone: joined with holder_info, Leases without a holder
// (the case that matters) would drop out.
func TestLeaderPresentPerLease(t *testing.T) {
	for name, cfg := range testConfigs() {
		d := generate(t, cfg)["statefulset-control-plane.json"]
		found := false
		for _, p := range allPanels(d) {
			if p.Title != "Leader present" {
				continue
			}
			found = true
			if len(p.Targets) != 1 {
				t.Fatalf("%s: %q has %d queries, want 1", name, p.Title, len(p.Targets))
			}
			q, _ := substitute(p.Targets[0].Expr)
			expr, err := promqlParser.ParseExpr(q)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			agg, ok := expr.(*parser.AggregateExpr)
			if !ok || agg.Op != parser.MAX || !slices.Contains(agg.Grouping, "namespace") || !slices.Contains(agg.Grouping, "lease") {
				t.Errorf("%s: %q is not one series per lease: %s", name, p.Title, q)
			}
			for _, vs := range parser.ExtractSelectors(expr) {
				for _, m := range vs {
					if m.Name == labels.MetricName && m.Value != "statefulset_control_plane_lease_held" {
						t.Errorf("%s: %q reads %s, want only statefulset_control_plane_lease_held", name, p.Title, m.Value)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s: no \"Leader present\" panel", name)
		}
	}
}
