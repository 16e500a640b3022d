package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(root) {
		t.Errorf("Root() = %s, not an absolute path", root)
	}
	// go test runs in the package directory, internal/repo.
	got, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.Stat(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(got, want) {
		t.Errorf("Root() = %s, want the directory two levels above internal/repo", root)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "repo", "repo.go")); err != nil {
		t.Errorf("Root() = %s does not hold this package: %v", root, err)
	}
}

// writeFile creates path, and the directories above it, with content.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSearch(t *testing.T) {
	tmp := t.TempDir()
	// A copy of the repository's layout: its go.mod, a nested module with its own go.mod
	// (as tests/tools/kube has), and a directory of another module beside it.
	repo := filepath.Join(tmp, "checkout")
	writeFile(t, filepath.Join(repo, "go.mod"), "// A comment first.\nmodule "+Module+"\n\ngo 1.26.0\n")
	nested := filepath.Join(repo, "tests", "tools", "kube")
	writeFile(t, filepath.Join(nested, "go.mod"), "module "+Module+"/tests/tools/kube\n")
	deep := filepath.Join(nested, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tmp, "other")
	writeFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n")
	quoted := filepath.Join(tmp, "quoted")
	writeFile(t, filepath.Join(quoted, "go.mod"), "module \""+Module+"\"\n")
	outside := filepath.Join(tmp, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		starts []string
		want   string // "" for an error
	}{
		{"the root itself", []string{repo}, repo},
		{"through a nested module", []string{deep}, repo},
		{"nested module directory", []string{nested}, repo},
		{"quoted module path", []string{quoted}, quoted},
		{"falls back to the second start", []string{outside, deep}, repo},
		{"first start wins", []string{nested, quoted}, repo},
		{"another module only", []string{other}, ""},
		{"no go.mod", []string{outside}, ""},
		{"no start", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := search(tc.starts)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("search(%q) = %s, want an error", tc.starts, got)
				}
				for _, s := range tc.starts {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name start %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("search(%q) = %s, want %s", tc.starts, got, tc.want)
			}
		})
	}
}
