package rules

import (
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/deploy"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// wantAlerts is the alert catalogue with severities. Renaming an alert breaks silences,
// routes and inhibitions of users: change this list deliberately.
var wantAlerts = map[string]string{
	"StatefulSetNoReplicasReady":              "critical",
	"StatefulSetReplicasNotReady":             "warning",
	"StatefulSetRolloutStalled":               "warning",
	"StatefulSetGenerationNotObserved":        "warning",
	"StatefulSetPodsCrashLooping":             "warning",
	"StatefulSetPodsUnschedulable":            "warning",
	"StatefulSetPodsPending":                  "warning",
	"StatefulSetPodStuckTerminating":          "critical",
	"StatefulSetContainerRestarting":          "warning",
	"StatefulSetPVCPending":                   "warning",
	"StatefulSetVolumeZoneMismatch":           "warning",
	"StatefulSetVolumeNoUsableNode":           "critical",
	"StatefulSetVolumeAttachError":            "warning",
	"StatefulSetVolumeAttachedElsewhere":      "critical",
	"StatefulSetVolumeLost":                   "critical",
	"StatefulSetVolumeReleased":               "warning",
	"StatefulSetVolumeResizeFailed":           "warning",
	"ControlPlaneLeaderFlapping":              "warning",
	"ControlPlaneNoLeader":                    "critical",
	"StatefulSetExporterAPIUnreachable":       "critical",
	"StatefulSetExporterAbsent":               "critical",
	"StatefulSetExporterResourceFailing":      "critical",
	"StatefulSetExporterResourceDisabled":     "warning",
	"StatefulSetSingleReplica":                "info",
	"StatefulSetNoPodDisruptionBudget":        "info",
	"StatefulSetSingleZone":                   "info",
	"StatefulSetZeroTerminationGracePeriod":   "info",
	"StatefulSetNoReadinessProbe":             "info",
	"StatefulSetGoverningServiceMissing":      "warning",
	"StatefulSetGoverningServiceNotHeadless":  "warning",
	"StatefulSetClaimsDeletedOnScaleDown":     "info",
	"StatefulSetClaimsDeletedWithStatefulSet": "info",
	"StatefulSetInitContainerStuck":           "warning",
	"StatefulSetOnDeletePodsOutdated":         "info",
}

func configs() map[string]mixin.Config {
	multi := mixin.DefaultConfig()
	multi.MultiCluster = true
	multi.ClusterLabel = "k8s_cluster"
	multi.NamespaceSelector = `namespace=~"prod-.*"`

	allLeases := mixin.DefaultConfig()
	allLeases.LeaseSelector = ""

	percent := mixin.DefaultConfig()
	percent.Selector = `job=~"statefulset-exporter|sts-exporter-.*", service!~"x%y"`

	return map[string]mixin.Config{
		"default":       mixin.DefaultConfig(),
		"test":          mixin.TestConfig(),
		"multi-cluster": multi,
		"all leases":    allLeases,
		"odd selector":  percent,
	}
}

func TestGroups(t *testing.T) {
	for name, cfg := range configs() {
		t.Run(name, func(t *testing.T) {
			groups, err := Groups(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, g := range groups {
				for _, r := range g.Rules {
					if r.Alert == "" {
						continue
					}
					got[r.Alert] = r.Labels["severity"]
					if want := cfg.RunbookURL(r.Alert); r.Annotations["runbook_url"] != want {
						t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
					}
					if r.Alert != "StatefulSetExporterAbsent" && !strings.Contains(r.Annotations["description"], "{{ $labels.") {
						t.Errorf("%s: the description does not name the alert's objects", r.Alert)
					}
					if strings.ContainsAny(r.Annotations["summary"], "{}") {
						t.Errorf("%s: the summary must be static: %q", r.Alert, r.Annotations["summary"])
					}
					for _, token := range []string{"<x>", "<w>", "<l>", "<c>", "<c,>", "<by-c>", "<sts>", "<ref>", "<where>"} {
						if strings.Contains(r.Expr+r.Annotations["description"]+r.Annotations["summary"], token) {
							t.Errorf("%s: unexpanded placeholder %s", r.Alert, token)
						}
					}
				}
			}
			if len(got) != len(wantAlerts) {
				t.Errorf("got %d alerts, want %d", len(got), len(wantAlerts))
			}
			for alert, sev := range wantAlerts {
				if got[alert] != sev {
					t.Errorf("%s: severity %q, want %q", alert, got[alert], sev)
				}
			}
		})
	}
}

// TestForDurations checks that each alert uses the duration of its Config field.
func TestForDurations(t *testing.T) {
	cfg := mixin.DefaultConfig()
	want := map[string]time.Duration{
		"StatefulSetNoReplicasReady":          cfg.NoReplicasReadyFor,
		"StatefulSetReplicasNotReady":         cfg.ReplicasNotReadyFor,
		"StatefulSetRolloutStalled":           cfg.RolloutStalledFor,
		"StatefulSetGenerationNotObserved":    cfg.GenerationMismatchFor,
		"StatefulSetPodsCrashLooping":         cfg.CrashLoopingFor,
		"StatefulSetPodsUnschedulable":        cfg.PodPendingFor,
		"StatefulSetPodsPending":              cfg.PodPendingFor,
		"StatefulSetPodStuckTerminating":      cfg.StuckTerminatingFor,
		"StatefulSetContainerRestarting":      cfg.RestartsFor,
		"StatefulSetPVCPending":               cfg.PVCPendingThreshold,
		"StatefulSetVolumeZoneMismatch":       cfg.VolumeZoneMismatchFor,
		"StatefulSetVolumeNoUsableNode":       cfg.VolumeNoUsableNodeFor,
		"StatefulSetVolumeAttachError":        cfg.VolumeAttachErrorFor,
		"StatefulSetVolumeAttachedElsewhere":  cfg.VolumeAttachErrorFor,
		"StatefulSetVolumeLost":               cfg.VolumeLostFor,
		"StatefulSetVolumeReleased":           cfg.VolumeReleasedFor,
		"StatefulSetVolumeResizeFailed":       cfg.VolumeResizeFailedFor,
		"ControlPlaneLeaderFlapping":          0,
		"ControlPlaneNoLeader":                cfg.NoLeaderFor,
		"StatefulSetExporterAPIUnreachable":   cfg.APIUnreachableFor,
		"StatefulSetExporterAbsent":           cfg.ExporterAbsentFor,
		"StatefulSetExporterResourceFailing":  cfg.ResourceFailingFor,
		"StatefulSetExporterResourceDisabled": cfg.ResourceDisabledFor,
		"StatefulSetSingleReplica":            cfg.HAPostureFor,
		"StatefulSetGoverningServiceMissing":  cfg.HAPostureFor,
		"StatefulSetClaimsDeletedOnScaleDown": cfg.HAPostureFor,
		"StatefulSetInitContainerStuck":       cfg.InitContainerStuckFor,
		"StatefulSetOnDeletePodsOutdated":     cfg.OnDeleteOutdatedFor,
	}
	groups, err := Groups(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alerts(groups) {
		if d, ok := want[r.Alert]; ok && time.Duration(r.For) != d {
			t.Errorf("%s: for %s, want %s", r.Alert, r.For, d)
		}
	}
	if cfg.APIUnreachableFor <= time.Minute {
		t.Errorf("APIUnreachableFor %s must outlast a normal ~1m EKS control-plane failover", cfg.APIUnreachableFor)
	}
}

// TestKeepFiringFor checks that the critical alerts derived from the exporter's data keep
// firing across an exporter restart, and that no other alert does: a warning or info
// alert resolving during a restart sends no page, and StatefulSetExporterAPIUnreachable
// and StatefulSetExporterAbsent are about the exporter itself (the first inhibits the
// others and must end as soon as the API is back).
func TestKeepFiringFor(t *testing.T) {
	cfg := mixin.DefaultConfig()
	if cfg.KeepFiringFor < 2*time.Minute {
		t.Errorf("KeepFiringFor %s does not cover an exporter restart of a couple of minutes", cfg.KeepFiringFor)
	}
	groups, err := Groups(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range alerts(groups) {
		want := time.Duration(0)
		if r.Labels["severity"] == severityCritical && r.Alert != "StatefulSetExporterAPIUnreachable" && r.Alert != "StatefulSetExporterAbsent" {
			want = cfg.KeepFiringFor
			n++
		}
		if time.Duration(r.KeepFiringFor) != want {
			t.Errorf("%s: keep_firing_for %s, want %s", r.Alert, r.KeepFiringFor, want)
		}
	}
	if n == 0 {
		t.Fatal("no alert keeps firing")
	}
	groups, err = Groups(mixin.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alerts(groups) {
		if r.KeepFiringFor != 0 {
			t.Errorf("%s: keep_firing_for %s in TestConfig", r.Alert, r.KeepFiringFor)
		}
	}
}

// TestWatchedKinds checks the mapping of watched kinds to the alerts that need them:
// every named alert exists, the kinds are the exporter's (deploy.WatchedResources, the
// ClusterRole), StatefulSets feed every StatefulSet alert, and every alert but the
// exporter's own depends on some kind.
func TestWatchedKinds(t *testing.T) {
	groups, err := Groups(mixin.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, r := range alerts(groups) {
		exists[r.Alert] = true
	}
	var resources []string
	covered := map[string]bool{}
	for _, k := range WatchedKinds() {
		resources = append(resources, k.Resource)
		if len(k.Alerts) == 0 {
			t.Errorf("%s: no alert depends on it", k.Resource)
		}
		for _, a := range k.Alerts {
			if !exists[a] {
				t.Errorf("%s: %s is not an alert", k.Resource, a)
			}
			if strings.HasPrefix(a, "StatefulSetExporter") {
				t.Errorf("%s: %s is about the exporter itself", k.Resource, a)
			}
			covered[a] = true
		}
		if k.Resource == "statefulsets" {
			for a := range exists {
				if strings.HasPrefix(a, "StatefulSet") && !strings.HasPrefix(a, "StatefulSetExporter") && !slices.Contains(k.Alerts, a) {
					t.Errorf("statefulsets: %s is missing: without StatefulSets no StatefulSet alert can fire", a)
				}
			}
		}
	}
	var want []string
	for _, gr := range deploy.WatchedResources() {
		want = append(want, gr.Resource)
	}
	if !slices.Equal(resources, want) {
		t.Errorf("watched kinds %v, want the ClusterRole's %v", resources, want)
	}
	for a := range exists {
		if !covered[a] && !strings.HasPrefix(a, "StatefulSetExporter") {
			t.Errorf("%s depends on no watched kind", a)
		}
	}
	if got := kindsRegex(true); got != "services|volumeattachments|poddisruptionbudgets|leases" {
		t.Errorf("optional kinds %q", got)
	}
}

// TestDarkAlerts renders the list of dark alerts of the exporter's resource alerts for
// each kind.
func TestDarkAlerts(t *testing.T) {
	for _, optional := range []bool{false, true} {
		tmpl := template.Must(template.New("").Parse("{{ $labels := .labels }}" + darkAlerts(optional)))
		for _, k := range WatchedKinds() {
			var out strings.Builder
			if err := tmpl.Execute(&out, map[string]any{"labels": map[string]string{"resource": k.Resource}}); err != nil {
				t.Fatal(err)
			}
			want := ""
			if k.Optional == optional {
				want = strings.Join(k.Alerts, ", ")
			}
			if out.String() != want {
				t.Errorf("optional=%v, %s: %q, want %q", optional, k.Resource, out.String(), want)
			}
		}
	}
}

func TestTestConfigIsShort(t *testing.T) {
	groups, err := Groups(mixin.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alerts(groups) {
		if time.Duration(r.For) > time.Minute {
			t.Errorf("%s: for %s in TestConfig", r.Alert, r.For)
		}
	}
}

// TestMultiClusterKeepsClustersApart checks that every aggregation and every vector
// matching of a multi-cluster configuration includes the cluster label, and that the
// namespace selector reaches every workload series.
func TestMultiClusterKeepsClustersApart(t *testing.T) {
	cfg := configs()["multi-cluster"]
	groups, err := Groups(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := Parser()
	for _, g := range groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
				switch n := n.(type) {
				case *parser.AggregateExpr:
					if n.Without || !slices.Contains(n.Grouping, cfg.ClusterLabel) {
						t.Errorf("%s: %s does not keep %s", name, n.Op, cfg.ClusterLabel)
					}
				case *parser.BinaryExpr:
					vm := n.VectorMatching
					lhsVec := n.LHS.Type() == parser.ValueTypeVector && !isScalarLike(n.LHS)
					rhsVec := n.RHS.Type() == parser.ValueTypeVector && !isScalarLike(n.RHS)
					if vm != nil && lhsVec && rhsVec && vm.On && !slices.Contains(vm.MatchingLabels, cfg.ClusterLabel) {
						t.Errorf("%s: %s on (%v) does not match on %s", name, n.Op, vm.MatchingLabels, cfg.ClusterLabel)
					}
				case *parser.VectorSelector:
					workload := strings.HasPrefix(n.Name, "statefulset_") && !strings.HasPrefix(n.Name, "statefulset_exporter_") &&
						!strings.HasPrefix(n.Name, "statefulset_control_plane_lease_")
					hasNS := slices.ContainsFunc(n.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == "namespace" })
					if workload && !hasNS {
						t.Errorf("%s: %s ignores the namespace selector", name, n.Name)
					}
					if !workload && hasNS {
						t.Errorf("%s: %s must not be restricted by the namespace selector", name, n.Name)
					}
				}
				return nil
			})
		}
	}
}

// isScalarLike reports whether an expression yields a label-less value such as time().
func isScalarLike(e parser.Expr) bool {
	c, ok := e.(*parser.Call)
	return ok && c.Func.Name == "time"
}

func TestInvalidConfigs(t *testing.T) {
	for name, mutate := range map[string]func(*mixin.Config){
		"empty selector":     func(c *mixin.Config) { c.Selector = "" },
		"braces in selector": func(c *mixin.Config) { c.Selector = `{job="x"}` },
		"bad PromQL":         func(c *mixin.Config) { c.NamespaceSelector = `namespace=~` },
		"bad cluster label":  func(c *mixin.Config) { c.MultiCluster, c.ClusterLabel = true, "k8s-cluster" },
		"no %s in runbooks":  func(c *mixin.Config) { c.RunbookURLPattern = "https://example.com/runbooks" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mixin.DefaultConfig()
			mutate(&cfg)
			if _, err := Groups(cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestPrometheusRule(t *testing.T) {
	cfg := mixin.DefaultConfig()
	b, err := PrometheusRule(cfg, "statefulset-exporter", "monitoring", map[string]string{"release": "kube-prometheus-stack"})
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name, Namespace string
			Labels          map[string]string
		}
		Spec rulefmt.RuleGroups
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" ||
		pr.Metadata.Name != "statefulset-exporter" || pr.Metadata.Namespace != "monitoring" ||
		pr.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("unexpected manifest header: %+v", pr)
	}
	// The spec holds exactly the groups of the plain rule file.
	specGroups, err := RuleFileYAML(pr.Spec.Groups)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := RuleFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(specGroups) != string(plain) {
		t.Error("the PrometheusRule's groups differ from the rule file's")
	}
	if _, err := PrometheusRuleYAML(nil, "", "", nil); err == nil {
		t.Error("a PrometheusRule without a name was accepted")
	}
}

func TestDedent(t *testing.T) {
	got := dedent("\n\t\t\ta\n\t\t\t  b\n\n\t\t\tc  \n\t\t")
	if want := "a\n  b\n\nc"; got != want {
		t.Fatalf("dedent = %q, want %q", got, want)
	}
}

func alerts(groups []rulefmt.RuleGroup) []rulefmt.Rule {
	var out []rulefmt.Rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}
