package localkube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logTailLines is how many trailing log lines are attached to start-up
// errors and returned by Cluster.Logs.
const logTailLines = 40

// pollInterval is how often readiness probes run while a component starts.
const pollInterval = 100 * time.Millisecond

// process supervises one control-plane binary. It can be started again after
// it exited, with the same command line; the log file is appended to so that
// it keeps the history of every run.
type process struct {
	name    string // human-readable name used in messages, e.g. "etcd"
	path    string
	args    []string
	env     []string // added to the environment
	logPath string

	mu  sync.Mutex
	run *processRun // the latest run, nil before the first start
}

// processRun is a single execution of a process.
type processRun struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and was reaped
	err  error         // result of cmd.Wait; read only after done is closed
}

// start launches the process with stdout and stderr appended to its log file.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil && !p.run.exited() {
		return fmt.Errorf("%s is already running (pid %d): %w", p.name, p.run.cmd.Process.Pid, ErrRunning)
	}

	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s log: %w", p.name, err)
	}
	defer logFile.Close() // the child keeps its own copy of the descriptor

	fmt.Fprintf(logFile, "==> %s: starting %s\n", time.Now().Format(time.RFC3339), p.commandLine())
	cmd := exec.Command(p.path, p.args...)
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w\ncommand: %s", p.name, err, p.commandLine())
	}

	run := &processRun{cmd: cmd, done: make(chan struct{})}
	go func() {
		run.err = cmd.Wait()
		close(run.done)
	}()
	p.run = run
	return nil
}

// stop terminates the current run, if any, and waits for it to exit. With a
// positive grace period the process first receives SIGTERM and is killed only
// if it is still running when the grace period ends; otherwise it is killed
// right away.
func (p *process) stop(grace time.Duration) error {
	p.mu.Lock()
	run := p.run
	p.mu.Unlock()
	if run == nil || run.exited() {
		return nil
	}

	if grace > 0 {
		if err := run.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("sending SIGTERM to %s (pid %d): %w", p.name, run.cmd.Process.Pid, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-run.done:
			return nil
		case <-timer.C:
		}
	}

	if err := run.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s (pid %d): %w", p.name, run.cmd.Process.Pid, err)
	}
	// SIGKILL cannot be caught, so the wait only covers reaping the child.
	select {
	case <-run.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, run.cmd.Process.Pid)
	}
}

// running reports whether the process was started and has not exited yet.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run != nil && !p.run.exited()
}

// exitErr reports whether the current run has exited and, if so, how.
func (p *process) exitErr() (exited bool, err error) {
	p.mu.Lock()
	run := p.run
	p.mu.Unlock()
	if run == nil || !run.exited() {
		return false, nil
	}
	if run.err == nil {
		return true, errors.New("exited with status 0")
	}
	return true, run.err
}

// waitReady polls probe until it succeeds, the process exits, ctx is done or
// timeout elapses. Every failure carries the command line and the log tail,
// so that callers never see a bare timeout.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if exited, err := p.exitErr(); exited {
			return p.failure(fmt.Errorf("%s exited before becoming ready: %w", p.name, err))
		}
		probeErr := probe(ctx)
		if probeErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return p.failure(fmt.Errorf("%s did not become ready within %s (last probe: %v): %w",
				p.name, timeout, probeErr, context.Cause(ctx)))
		case <-ticker.C:
		}
	}
}

// failure decorates err with the command line and the tail of the log.
func (p *process) failure(err error) error {
	return fmt.Errorf("%w\ncommand: %s\nlast %d lines of %s:\n%s",
		err, p.commandLine(), logTailLines, p.logPath, tailFile(p.logPath, logTailLines))
}

// commandLine renders the command so that it can be pasted into a shell.
func (p *process) commandLine() string {
	words := make([]string, 0, len(p.args)+1)
	for _, w := range append([]string{p.path}, p.args...) {
		words = append(words, shellQuote(w))
	}
	return strings.Join(words, " ")
}

func (r *processRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// shellQuote quotes s for a POSIX shell when it contains anything but a
// conservative set of safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+.,/:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tailFile returns the last n lines of the file at path. It reads at most the
// final 256 KiB, which is plenty for n lines of a component log, and never
// fails: problems reading the file are reported in the returned text.
func tailFile(path string, n int) string {
	const maxRead = 256 << 10

	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("<cannot read log: %v>", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("<cannot read log: %v>", err)
	}
	offset := max(info.Size()-maxRead, 0)
	data, err := io.ReadAll(io.NewSectionReader(f, offset, info.Size()-offset))
	if err != nil {
		return fmt.Sprintf("<cannot read log: %v>", err)
	}
	return lastLines(data, n)
}

// lastLines returns the last n lines of data, without a trailing newline.
func lastLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return "<empty log>"
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
