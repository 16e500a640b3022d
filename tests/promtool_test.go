package tests

import (
	"path/filepath"
	"testing"
)

// TestPromtoolCheckRules runs `promtool check rules` on the committed rule file: it must
// load in Prometheus and pass promtool's lint.
func TestPromtoolCheckRules(t *testing.T) {
	root := repoRoot(t)
	out, err := runTool(t, root, "promtool", "check", "rules", "--lint=all", "--lint-fatal", ruleFile)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", ruleFile, err, out)
	}
}

// TestPromtoolUnitTests runs the promtool unit tests, tests/*.yaml, against the committed
// rule file.
func TestPromtoolUnitTests(t *testing.T) {
	root := repoRoot(t)
	args := []string{"test", "rules"}
	for _, f := range unitTestFiles(t) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, rel)
	}
	out, err := runTool(t, root, "promtool", args...)
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}
