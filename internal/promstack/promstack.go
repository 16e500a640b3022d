// Package promstack runs a real Prometheus and a real Alertmanager as child processes on
// free loopback ports, each with its own temporary directory, for the end-to-end tests.
//
// It never uses the system services of the Debian packages (prometheus,
// prometheus-alertmanager): it only runs their binaries with a configuration the caller
// writes, so tests never touch /etc or /var/lib.
package promstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrUnavailable is wrapped by the errors of FindPrometheus and FindAlertmanager when a
// binary is not installed.
var ErrUnavailable = errors.New("binary not installed")

// Binary names, in the order they are looked up in $PATH. Debian names Alertmanager
// prometheus-alertmanager; upstream tarballs name it alertmanager.
var (
	PrometheusNames   = []string{"prometheus"}
	AlertmanagerNames = []string{"prometheus-alertmanager", "alertmanager"}
)

// FindPrometheus returns the path of the prometheus binary.
func FindPrometheus() (string, error) { return find(PrometheusNames) }

// FindAlertmanager returns the path of the Alertmanager binary.
func FindAlertmanager() (string, error) { return find(AlertmanagerNames) }

func find(names []string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found in $PATH (hack/install-deps.sh installs them): %w", strings.Join(names, ", "), ErrUnavailable)
}

// Process is a running Prometheus or Alertmanager.
type Process struct {
	// Name is "prometheus", "prometheus-agent" or "alertmanager", for messages.
	Name string
	// URL is the base address, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is the listen address, e.g. 127.0.0.1:41234.
	Addr string
	// Dir is the process's temporary directory (configuration, data, log).
	Dir string

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // cmd.Wait's result, read after done is closed
	stop    sync.Once
}

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// Binary is the prometheus binary; empty means FindPrometheus.
	Binary string
	// Dir is the parent of the process's temporary directory; empty means os.TempDir().
	Dir string
	// Config is the content of prometheus.yml. Rule files named in it are resolved
	// relative to the temporary directory, where RuleFiles are written.
	Config []byte
	// RuleFiles are written into the temporary directory under their map key.
	RuleFiles map[string][]byte
	// Agent runs Prometheus in agent mode (--enable-feature=agent): it scrapes and
	// remote-writes only, keeping its write-ahead log under --storage.agent.path (agent
	// mode refuses --storage.tsdb.path). Its configuration may have no rule_files or
	// alerting.
	Agent bool
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// StartPrometheus runs Prometheus with opts on a free loopback port and waits until
// /-/ready answers 200 (the configuration and rule files are loaded by then).
func StartPrometheus(ctx context.Context, opts PrometheusOptions) (*Process, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = FindPrometheus(); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{"prometheus.yml": opts.Config}
	for name, content := range opts.RuleFiles {
		files[name] = content
	}
	name, storage := "prometheus", "--storage.tsdb.path="
	if opts.Agent {
		name, storage = "prometheus-agent", "--storage.agent.path="
	}
	return start(ctx, name, bin, opts.Dir, files, func(dir, addr string) []string {
		args := []string{
			"--config.file=" + filepath.Join(dir, "prometheus.yml"),
			storage + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.external-url=http://" + addr + "/",
			"--log.level=info",
		}
		if opts.Agent {
			args = append(args, "--enable-feature=agent")
		}
		return append(args, opts.ExtraArgs...)
	})
}

// AlertmanagerOptions configure StartAlertmanager.
type AlertmanagerOptions struct {
	// Binary is the Alertmanager binary; empty means FindAlertmanager.
	Binary string
	// Dir is the parent of the process's temporary directory; empty means os.TempDir().
	Dir string
	// Config is the content of alertmanager.yml.
	Config []byte
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// StartAlertmanager runs a single, non-clustered Alertmanager with opts on a free
// loopback port and waits until /-/ready answers 200.
func StartAlertmanager(ctx context.Context, opts AlertmanagerOptions) (*Process, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = FindAlertmanager(); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{"alertmanager.yml": opts.Config}
	return start(ctx, "alertmanager", bin, opts.Dir, files, func(dir, addr string) []string {
		return append([]string{
			"--config.file=" + filepath.Join(dir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.external-url=http://" + addr + "/",
			// An empty cluster address disables the gossip mesh: no port to pick, no
			// peers to wait for before the first notification.
			"--cluster.listen-address=",
			"--log.level=debug",
		}, opts.ExtraArgs...)
	})
}

// portAttempts is how many free ports start tries: a port found free may be taken by
// someone else before the child binds it.
const portAttempts = 3

// startTimeout bounds how long a process may take to answer /-/ready.
const startTimeout = 60 * time.Second

func start(ctx context.Context, name, bin, parent string, files map[string][]byte, args func(dir, addr string) []string) (*Process, error) {
	dir, err := os.MkdirTemp(parent, "statefulset-exporter-"+name+"-")
	if err != nil {
		return nil, err
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(dir, n), content, 0o600); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := range portAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p := &Process{
			Name: name, URL: "http://" + addr, Addr: addr, Dir: dir,
			logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, attempt)),
			done:    make(chan struct{}),
		}
		logFile, err := os.Create(p.logPath)
		if err != nil {
			return nil, err
		}
		p.cmd = exec.Command(bin, args(dir, addr)...)
		p.cmd.Dir = dir
		p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
		p.cmd.SysProcAttr = childSysProcAttr()
		err = p.cmd.Start()
		logFile.Close() // the child has its own descriptor
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", name, err)
		}
		go func() {
			p.err = p.cmd.Wait()
			close(p.done)
		}()
		lastErr = p.waitReady(ctx)
		if lastErr == nil {
			return p, nil
		}
		p.Stop()
		if !strings.Contains(p.Log(), "address already in use") {
			break
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func (p *Process) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := p.Get(ctx, "/-/ready"); err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up: %v\ncommand: %s\n%s", p.Name, p.err, p.CommandLine(), p.LogTail(40))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready within %s\ncommand: %s\n%s", p.Name, startTimeout, p.CommandLine(), p.LogTail(40))
		}
	}
}

// Get fetches path and returns the body; a status other than 200 is an error.
func (p *Process) Get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("%s GET %s: %s: %s", p.Name, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// CommandLine returns the command the process runs, for messages.
func (p *Process) CommandLine() string { return strings.Join(p.cmd.Args, " ") }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to 10s and kills the process if it is still running. The
// temporary directory and the log stay until Cleanup.
func (p *Process) Stop() {
	p.stop.Do(func() {
		if !p.Exited() {
			_ = p.cmd.Process.Signal(terminateSignal)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	})
}

// Cleanup stops the process and removes its temporary directory.
func (p *Process) Cleanup() {
	p.Stop()
	_ = os.RemoveAll(p.Dir)
}

// Log returns what the process wrote to stdout and stderr.
func (p *Process) Log() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(data)
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string {
	return Tail(p.Log(), n)
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
