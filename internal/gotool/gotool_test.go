package gotool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo puts a go command first on PATH that runs script (a shell body).
func fakeGo(t *testing.T, script string) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// executable creates an executable file and returns its path.
func executable(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "promtool")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A cold module cache makes the go command print download progress on stderr
// before the path: the path must still be exactly what stdout says.
func TestPathIgnoresDownloadNoiseOnStderr(t *testing.T) {
	tool := executable(t)
	fakeGo(t, `echo "go: downloading github.com/go-openapi/runtime v0.29.3" >&2
echo "go: downloading github.com/coder/quartz v0.3.0" >&2
echo "`+tool+`"`)
	got, err := Path(context.Background(), t.TempDir(), "promtool")
	if err != nil {
		t.Fatal(err)
	}
	if got != tool {
		t.Fatalf("Path = %q, want %q", got, tool)
	}
}

func TestPathReportsStderrOnFailure(t *testing.T) {
	fakeGo(t, `echo "go: no such tool \"nosuch\"" >&2; exit 2`)
	_, err := Path(context.Background(), t.TempDir(), "nosuch")
	if err == nil || !strings.Contains(err.Error(), `no such tool "nosuch"`) {
		t.Fatalf("error %v, want it to carry the go command's stderr", err)
	}
}

func TestPathRejectsOutputThatIsNoExecutable(t *testing.T) {
	fakeGo(t, `echo "/nonexistent/promtool"`)
	_, err := Path(context.Background(), t.TempDir(), "promtool")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/promtool") {
		t.Fatalf("error %v, want one naming the bad path", err)
	}
}

func TestCacheResolvesOnce(t *testing.T) {
	tool := executable(t)
	calls := filepath.Join(t.TempDir(), "calls")
	fakeGo(t, `echo x >> "`+calls+`"; echo "`+tool+`"`)
	var c Cache
	dir := t.TempDir()
	for range 3 {
		got, err := c.Path(context.Background(), dir, "promtool")
		if err != nil || got != tool {
			t.Fatalf("Path = %q, %v; want %q", got, err, tool)
		}
	}
	data, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "x"); n != 1 {
		t.Fatalf("go ran %d times, want 1", n)
	}
}
