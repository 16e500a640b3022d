// Package repo finds this repository's source tree, for the tests, tools and the demo
// that read its files or build from it.
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/mod/modfile"
)

// Module is the module path that the go.mod at the repository root declares.
const Module = "github.com/statefulset-exporter/statefulset-exporter"

// Root returns the repository root: the closest ancestor directory whose go.mod declares
// Module. It searches from this source file first, which works for tests and `go run`,
// and then from the working directory, which works for a binary built elsewhere (or with
// -trimpath) and run from within the repository.
func Root() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	return search(starts)
}

// search returns the first directory that find finds from one of starts, in order.
func search(starts []string) (string, error) {
	if len(starts) == 0 {
		return "", errors.New("repo: neither the source location nor the working directory is known")
	}
	for _, start := range starts {
		if dir, ok := find(start); ok {
			return dir, nil
		}
	}
	return "", fmt.Errorf("repo: no go.mod of module %s in %s or above", Module, strings.Join(starts, " or "))
}

// find returns the closest directory from start upwards whose go.mod declares Module.
func find(start string) (string, bool) {
	for dir := start; ; {
		if isRoot(dir) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// isRoot reports whether dir holds the go.mod of Module; nested modules such as
// tests/tools/kube have their own go.mod with another module path.
func isRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && modfile.ModulePath(data) == Module
}
