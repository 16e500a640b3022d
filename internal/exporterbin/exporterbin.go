// Package exporterbin builds the statefulset-exporter binary from this source tree and
// runs it as a child process, the way users run it. The demo and the integration and
// end-to-end tests use it so that they exercise the real binary, flags and HTTP server.
package exporterbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
)

// Build compiles ./cmd/statefulset-exporter into dir and returns the binary's path.
// Go's build cache makes repeated builds fast.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "statefulset-exporter")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/statefulset-exporter")
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/statefulset-exporter: %w\n%s", err, output)
	}
	return out, nil
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a running exporter.
type Process struct {
	// URL is the base address, e.g. http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
	log *syncBuffer

	mu     sync.Mutex
	exited chan struct{}
	err    error
}

// Start runs the binary with args plus a --web.listen-address on a free loopback port
// (unless args has one) and waits until /healthz answers.
func Start(ctx context.Context, binary string, args ...string) (*Process, error) {
	addr := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			addr = v
		}
	}
	if addr == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--web.listen-address="+addr)
	}
	p := &Process{URL: "http://" + addr, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.Get(ctx, "/healthz"); err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("exporter exited during start-up: %v\n%s", p.ExitErr(), p.Log())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("exporter did not answer /healthz within 30s\n%s", p.Log())
		}
	}
}

// Get fetches path and returns the body; a status other than 200 is an error.
func (p *Process) Get(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(body), nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// ExitErr returns how the process ended (nil while running or after a clean exit).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end and returns its exit code.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		return -1, fmt.Errorf("exporter still running after %s", timeout)
	}
	var exitErr *exec.ExitError
	if err := p.ExitErr(); errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	} else if err != nil {
		return -1, err
	}
	return 0, nil
}

// Stop sends SIGTERM, waits up to 10s, then kills the process.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := p.Wait(10 * time.Second); err != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Log returns what the process wrote to stdout and stderr.
func (p *Process) Log() string { return p.log.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Cached builds the binary at most once, for test packages that start the exporter many
// times. The zero value is ready; call Remove when done (e.g. from TestMain).
type Cached struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Path builds the binary on first use (into a temporary directory) and returns its path.
func (c *Cached) Path(ctx context.Context) (string, error) {
	c.once.Do(func() {
		if c.dir, c.err = os.MkdirTemp("", "statefulset-exporter-bin-"); c.err != nil {
			return
		}
		c.path, c.err = Build(ctx, c.dir)
	})
	return c.path, c.err
}

// Remove deletes the built binary, if any.
func (c *Cached) Remove() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}
