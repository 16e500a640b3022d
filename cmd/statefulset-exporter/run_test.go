package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/statefulset-exporter/statefulset-exporter/collector"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadInputExitsWithUsageError(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	garbage := writeFile(t, "kubeconfig", "this: [is not a kubeconfig")
	badWeb := writeFile(t, "web.yml", "tls_server_config:\n  cert_file: /does/not/exist.crt\n  key_file: /does/not/exist.key\n")
	cases := []struct {
		name    string
		args    []string
		message string
	}{
		{"unknown flag", []string{"--no-such-flag"}, "unknown long flag '--no-such-flag'"},
		{"bad duration", []string{"--rollout.stall-after=soon"}, "rollout.stall-after"},
		{"zero stall", []string{"--rollout.stall-after=0s", "--kubeconfig=" + garbage}, "--rollout.stall-after must be positive"},
		{"bad selector", []string{"--statefulset.selector=a in (", "--kubeconfig=" + garbage}, "--statefulset.selector"},
		{"namespace both included and excluded", []string{"--namespaces=db", "--namespaces-exclude=db"}, `namespace "db" is both watched`},
		{"missing kubeconfig", []string{"--kubeconfig=/does/not/exist"}, "--kubeconfig: stat /does/not/exist"},
		{"unreadable kubeconfig", []string{"--kubeconfig=" + garbage}, "--kubeconfig " + garbage},
		{"no configuration at all", nil, "no Kubernetes configuration"},
		{"bad web config", []string{"--web.config.file=" + badWeb, "--kubeconfig=" + garbage}, "--web.config.file"},
		{"bad log level", []string{"--log.level=loud"}, "log.level"},
		{"negative page size", []string{"--kube.list-page-size=-1", "--kubeconfig=" + garbage}, "--kube.list-page-size must not be negative"},
		{"memory limit ratio above 1", []string{"--auto-gomemlimit.ratio=1.5", "--kubeconfig=" + garbage}, "--auto-gomemlimit.ratio must be in (0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runArgs(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(stderr, tc.message) || !strings.HasPrefix(stderr, "statefulset-exporter: ") {
				t.Errorf("stderr %q: want one line starting with the program name and containing %q", stderr, tc.message)
			}
		})
	}
}

func TestHelpAndVersionExitZero(t *testing.T) {
	code, stdout, _ := runArgs(t, "--help")
	if code != exitOK || !strings.Contains(stdout, "--web.listen-address") {
		t.Errorf("--help: code %d, output %q", code, stdout)
	}
	code, stdout, stderr := runArgs(t, "--version")
	if code != exitOK || !strings.Contains(stdout+stderr, "statefulset_exporter, version") {
		t.Errorf("--version: code %d, output %q %q", code, stdout, stderr)
	}
}

// TestREADMEListsEveryFlag keeps the flag reference in README.md in step with --help.
func TestREADMEListsEveryFlag(t *testing.T) {
	_, help, _ := runArgs(t, "--help")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`--(?:\[no-\])?([a-z][a-z0-9.-]*[a-z0-9])`).FindAllStringSubmatch(help, -1)
	if len(flags) < 20 {
		t.Fatalf("found only %d flags in --help", len(flags))
	}
	for _, f := range flags {
		if strings.HasPrefix(f[1], "help") || f[1] == "version" {
			continue
		}
		if !strings.Contains(string(readme), "`--"+f[1]) {
			t.Errorf("README.md does not document --%s", f[1])
		}
	}
}

// blockingCollector blocks every Collect until release is closed.
type blockingCollector struct {
	entered chan struct{}
	release chan struct{}
}

func (c blockingCollector) Describe(chan<- *prometheus.Desc) {}
func (c blockingCollector) Collect(chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
}

// TestMaxRequestsAnswers503BeyondTheCap: with --web.max-requests=2, a third concurrent
// scrape gets 503 at once, and scrapes are served again once the first ones end.
func TestMaxRequestsAnswers503BeyondTheCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	bc := blockingCollector{entered: make(chan struct{}, 10), release: make(chan struct{})}
	reg.MustRegister(bc)
	cfg := collector.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	coll, err := collector.New(fake.NewClientset(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux, err := newMux(reg, coll, "/metrics", false, 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		<-bc.entered
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third concurrent scrape: %d, want 503", resp.StatusCode)
	}
	close(bc.release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("scrape within the cap: %d, want 200", c)
		}
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("scrape after the others ended: %d, want 200", resp.StatusCode)
	}
}
