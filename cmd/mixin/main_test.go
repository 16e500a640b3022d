package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// TestCommittedFilesUpToDate fails when rules/ or dashboards/ differ from what the
// generator produces from mixin.DefaultConfig(): run `go run ./cmd/mixin` and commit.
func TestCommittedFilesUpToDate(t *testing.T) {
	files, err := Generate(mixin.DefaultConfig(), "DefaultConfig()")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{RuleFilePath, PrometheusRulePath} {
		if files[want] == nil {
			t.Errorf("%s is not generated", want)
		}
	}
	if diffs := Diff(filepath.Join("..", ".."), files); len(diffs) > 0 {
		t.Fatalf("generated files are out of date, run `go run ./cmd/mixin` from the repository root:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func TestWriteCheckAndStaleFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := Generate(mixin.TestConfig(), "TestConfig()")
	if err != nil {
		t.Fatal(err)
	}
	if diffs := Diff(dir, files); len(diffs) != len(files) {
		t.Fatalf("empty directory: got %d differences for %d files: %v", len(diffs), len(files), diffs)
	}
	stale := filepath.Join(dir, "dashboards", "removed-dashboard.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "dashboards", "README.md")
	if err := os.WriteFile(keep, []byte("hand-written"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if diffs := Diff(dir, files); len(diffs) > 0 {
		t.Fatalf("after Write: %v", diffs)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale dashboard not removed: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file the generator does not manage was removed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(RuleFilePath)), []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if diffs := Diff(dir, files); len(diffs) != 1 || !strings.Contains(diffs[0], RuleFilePath) {
		t.Fatalf("edited rule file: got %v", diffs)
	}
	// The test configuration is for end-to-end tests only: its rule file must differ
	// from the committed one.
	def, err := Generate(mixin.DefaultConfig(), "DefaultConfig()")
	if err != nil {
		t.Fatal(err)
	}
	if string(def[RuleFilePath]) == string(files[RuleFilePath]) {
		t.Error("TestConfig() generates the same rules as DefaultConfig()")
	}
}
