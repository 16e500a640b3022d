package tests

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/statefulset-exporter/statefulset-exporter/internal/gotool"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// Paths relative to the repository root.
const (
	ruleFile        = "rules/statefulset-exporter.rules.yaml"
	runbooksFile    = "docs/runbooks.md"
	alertmanagerCfg = "deploy/alertmanager/alertmanager.yaml"
)

// repoRoot returns the repository root.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var tools gotool.Cache

// goTool returns the path of a tool of the module's tool directives (promtool, amtool),
// built once: running the binary directly avoids the go command's start-up on every call.
func goTool(t testing.TB, name string) string {
	t.Helper()
	p, err := tools.Path(context.Background(), repoRoot(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runTool runs a tool in dir and returns its combined output.
func runTool(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(goTool(t, name), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// committedRules parses the committed rule file the way Prometheus loads it.
func committedRules(t testing.TB) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join(repoRoot(t), ruleFile), false, model.LegacyValidation, rules.Parser(), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", ruleFile, errs)
	}
	return groups
}

// alertRules returns the alerting rules of groups by name.
func alertRules(groups *rulefmt.RuleGroups) map[string]rulefmt.Rule {
	m := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				m[r.Alert] = r
			}
		}
	}
	return m
}

// unitTestFiles returns the promtool unit test files, tests/*.yaml.
func unitTestFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool unit tests in tests/: %v", err)
	}
	return files
}
