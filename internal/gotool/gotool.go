// Package gotool resolves the binaries of a module's tool directives (promtool,
// amtool) so that tests can run them directly instead of paying the go
// command's start-up on every call.
package gotool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Path returns the path of the binary of the tool directive name in the module
// at dir, as `go tool -n name` reports it (building it on first use).
//
// Only the command's standard output is the path. On a cold module cache the go
// command writes "go: downloading …" lines to standard error; they are kept for
// the error message and never mistaken for part of the path.
func Path(ctx context.Context, dir, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", name)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go tool -n %s (in %s): %w\n%s", name, dir, err, stderr.Bytes())
	}
	path := strings.TrimSpace(stdout.String())
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("go tool -n %s (in %s) printed %q, which is not an executable file\n%s", name, dir, path, stderr.Bytes())
	}
	return path, nil
}

// Cache remembers resolved tool paths, so that each tool is resolved once per
// process. The zero value is ready to use.
type Cache struct {
	mu    sync.Mutex
	paths map[string]string
}

// Path is the package-level Path, answered from the cache after the first
// success for the same dir and name.
func (c *Cache) Path(ctx context.Context, dir, name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := dir + "\x00" + name
	if p, ok := c.paths[key]; ok {
		return p, nil
	}
	p, err := Path(ctx, dir, name)
	if err != nil {
		return "", err
	}
	if c.paths == nil {
		c.paths = map[string]string{}
	}
	c.paths[key] = p
	return p, nil
}
