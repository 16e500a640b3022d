// Package security tests the exporter binary's HTTP side end to end: TLS and basic auth
// from --web.config.file (exporter-toolkit), graceful shutdown on SIGTERM, and the
// handling of a bad web configuration. None of it needs a Kubernetes API server: the
// exporter is pointed at a closed port and serves its own metrics meanwhile.
package security

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
)

// exporter is built once for the whole test binary.
var exporter exporterbin.Cached

func TestMain(m *testing.M) {
	code := m.Run()
	exporter.Remove()
	os.Exit(code)
}

func exporterBinary(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binary, err := exporter.Path(ctx)
	if err != nil {
		t.Fatalf("building the exporter: %v", err)
	}
	return binary
}

// unreachableKubeconfig writes a valid kubeconfig whose API server is a closed port.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	port, err := exporterbin.FreePort() // free now, and nothing listens on it later
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", port), InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "unused"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// process is the exporter binary started with exec, for the cases exporterbin.Start
// cannot wait for (TLS, basic auth, start-up failures).
type process struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(exporterBinary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("exporter stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// wait returns the exit code once the process ended, or -1 after timeout.
func (p *process) wait(timeout time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1
	}
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// selfSignedCert writes a certificate and key for 127.0.0.1 and returns their paths
// and a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "statefulset-exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type answer struct {
	code int
	body string
	err  error
}

func fetch(client *http.Client, url, user, password string) answer {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(body), err: err}
}

// TestTLSAndBasicAuth starts the binary with a web configuration that requires TLS and
// basic auth (a bcrypt hash), and checks every way in.
func TestTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := selfSignedCert(t)
	webConfig := writeFile(t, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		certFile, keyFile, user, hash))
	port, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	probePort, err := exporterbin.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	probeAddr := fmt.Sprintf("127.0.0.1:%d", probePort)
	p := start(t, "--kubeconfig="+unreachableKubeconfig(t), "--web.listen-address="+addr, "--web.config.file="+webConfig,
		"--web.probe-address="+probeAddr)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	metrics := "https://" + addr + "/metrics"
	var first answer
	for deadline := time.Now().Add(30 * time.Second); ; {
		if first = fetch(client, metrics, user, password); first.err == nil {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("exporter not serving HTTPS (exited %v): %v", p.exited(), first.err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("right credentials get the metrics", func(t *testing.T) {
		if first.code != http.StatusOK || !strings.Contains(first.body, "statefulset_exporter_build_info") {
			t.Errorf("HTTPS with the right credentials: %d, body %.200q", first.code, first.body)
		}
	})
	t.Run("plain HTTP is refused", func(t *testing.T) {
		a := fetch(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/metrics", user, password)
		if a.err == nil && (a.code == http.StatusOK || strings.Contains(a.body, "statefulset_exporter")) {
			t.Errorf("plain HTTP answered %d with metrics", a.code)
		}
		t.Logf("plain HTTP: status %d, err %v, body %.80q", a.code, a.err, a.body)
	})
	t.Run("an untrusted certificate fails the handshake", func(t *testing.T) {
		a := fetch(&http.Client{Timeout: 10 * time.Second}, metrics, user, password)
		var unknown x509.UnknownAuthorityError
		if !errors.As(a.err, &unknown) {
			t.Errorf("client without the CA: %d %v, want an unknown-authority error", a.code, a.err)
		}
	})
	for _, tc := range []struct{ name, user, password string }{
		{"no credentials", "", ""},
		{"wrong password", user, "Tr0ub4dor&3"},
		{"unknown user", "admin", password},
		{"empty password", user, ""},
	} {
		t.Run(tc.name+" gets 401", func(t *testing.T) {
			a := fetch(client, metrics, tc.user, tc.password)
			if a.err != nil || a.code != http.StatusUnauthorized || strings.Contains(a.body, "statefulset_exporter") {
				t.Errorf("%s: %d %v, body %.120q; want 401 without metrics", tc.name, a.code, a.err, a.body)
			}
		})
	}
	t.Run("health endpoints", func(t *testing.T) {
		// Kubernetes probes must then send the credentials too (httpGet.httpHeaders).
		for _, path := range []string{"/healthz", "/readyz"} {
			noAuth := fetch(client, "https://"+addr+path, "", "")
			withAuth := fetch(client, "https://"+addr+path, user, password)
			t.Logf("%s: %d without credentials, %d with", path, noAuth.code, withAuth.code)
			if noAuth.code != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d, want 401 (basic auth covers every path)", path, noAuth.code)
			}
		}
		if a := fetch(client, "https://"+addr+"/healthz", user, password); a.code != http.StatusOK {
			t.Errorf("/healthz with credentials: %d", a.code)
		}
	})

	t.Run("probe listener needs no credentials and serves only the probes", func(t *testing.T) {
		// What the kubelet does with --web.probe-address: plain HTTP, no credentials.
		plain := &http.Client{Timeout: 10 * time.Second}
		if a := fetch(plain, "http://"+probeAddr+"/healthz", "", ""); a.err != nil || a.code != http.StatusOK {
			t.Errorf("/healthz on the probe listener: %d %v, want 200", a.code, a.err)
		}
		// The API server is unreachable here, so the caches never sync: /readyz gives its
		// own answer (503, not synced), not a 401.
		a := fetch(plain, "http://"+probeAddr+"/readyz", "", "")
		if a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "not synced") {
			t.Errorf("/readyz on the probe listener: %d %v %q, want the readiness answer 503 caches not synced", a.code, a.err, a.body)
		}
		for _, path := range []string{"/metrics", "/", "/debug/pprof/"} {
			if a := fetch(plain, "http://"+probeAddr+path, "", ""); a.err != nil || a.code != http.StatusNotFound {
				t.Errorf("%s on the probe listener: %d %v, want 404", path, a.code, a.err)
			}
		}
		if a := fetch(client, metrics, "", ""); a.code != http.StatusUnauthorized {
			t.Errorf("/metrics without credentials on the main listener: %d, want 401", a.code)
		}
	})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM %d, want 0", code)
	}
	if a := fetch(&http.Client{Timeout: time.Second}, "http://"+probeAddr+"/healthz", "", ""); a.err == nil {
		t.Errorf("probe listener still answers %d after exit", a.code)
	}
}

// notAnswered tells whether a request failed without any part of an answer: the
// connection was refused, or accepted by the kernel but closed (reset, or EOF) before
// the server read the request, as happens to connections still in the listen backlog
// when the listener closes. Such a scrape fails whole; it is not cut short.
func notAnswered(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// TestGracefulShutdown sends SIGTERM while requests are in flight: they complete, the
// exporter exits 0 within --web.shutdown-timeout, and the port is closed afterwards.
//
// A scrape of this exporter takes microseconds (it reads informer caches), too short to
// catch reliably, so a 2-second CPU profile (--web.enable-pprof) stands in for a slow
// scrape, while real scrapes keep arriving on new connections throughout. Go's
// http.Server drains requests whose handler runs; a connection that has not sent its
// complete request headers when SIGTERM arrives is closed without an answer (net/http
// behaviour, a single failed scrape for Prometheus).
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 5 * time.Second
	p, err := exporterbin.Start(t.Context(), exporterBinary(t), "--kubeconfig="+unreachableKubeconfig(t),
		"--web.shutdown-timeout="+shutdownTimeout.String(), "--web.enable-pprof")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	addr := strings.TrimPrefix(p.URL, "http://")

	// The long request.
	long := make(chan answer, 1)
	longDone := make(chan time.Time, 1)
	go func() {
		a := fetch(&http.Client{Timeout: 20 * time.Second}, p.URL+"/debug/pprof/profile?seconds=2", "", "")
		longDone <- time.Now()
		long <- a
	}()

	// Scrapes on new connections: each either completes in full or is not answered at
	// all (notAnswered), none is cut short.
	var (
		wg                        sync.WaitGroup
		complete, refused, broken int
		mu                        sync.Mutex
		stopScrapes               = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stopScrapes:
				return
			default:
			}
			a := fetch(client, p.URL+"/metrics", "", "")
			mu.Lock()
			switch {
			case a.err == nil && a.code == 200 && strings.Contains(a.body, "statefulset_exporter_build_info") && strings.HasSuffix(a.body, "\n"):
				complete++
			case a.err != nil && a.code == 0 && len(a.body) == 0 && notAnswered(a.err):
				refused++
			default:
				broken++
				t.Logf("scrape during shutdown: %d %v, %d bytes", a.code, a.err, len(a.body))
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sigterm := time.Now()
	time.Sleep(500 * time.Millisecond)
	if p.Exited() {
		t.Fatalf("the exporter exited %s after SIGTERM with a request in flight", time.Since(sigterm).Round(time.Millisecond))
	}

	code, err := p.Wait(shutdownTimeout + 2*time.Second)
	exitedAfter := time.Since(sigterm)
	close(stopScrapes)
	wg.Wait()
	if err != nil {
		t.Fatalf("exporter still running %s after SIGTERM", exitedAfter.Round(time.Millisecond))
	}
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, p.Log())
	}
	if exitedAfter > shutdownTimeout+time.Second {
		t.Errorf("exited %s after SIGTERM, want within the shutdown timeout %s", exitedAfter, shutdownTimeout)
	}
	a := <-long
	finished := <-longDone
	if a.err != nil || a.code != 200 || len(a.body) == 0 {
		t.Errorf("request in flight at SIGTERM: %d, %d bytes, err %v; want 200 with a body", a.code, len(a.body), a.err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("port %s still accepts connections after the exporter exited", addr)
	}
	mu.Lock()
	defer mu.Unlock()
	if broken > 0 {
		t.Errorf("%d scrapes during the shutdown were cut short", broken)
	}
	if complete == 0 || refused == 0 {
		t.Errorf("scrapes: %d complete, %d refused; want both (before and after SIGTERM)", complete, refused)
	}
	t.Logf("exited 0 %s after SIGTERM; the request in flight finished %s after SIGTERM with %d bytes; concurrent scrapes: %d complete, %d refused, %d cut short",
		exitedAfter.Round(time.Millisecond), finished.Sub(sigterm).Round(time.Millisecond), len(a.body), complete, refused, broken)
	if !strings.Contains(p.Log(), "shutting down") {
		t.Errorf("no shutdown message in the log:\n%s", p.Log())
	}
}

// TestBadWebConfig: an unusable --web.config.file stops the binary at once with exit
// status 2 and one line on stderr that names the flag.
func TestBadWebConfig(t *testing.T) {
	t.Parallel()
	kubeconfig := unreachableKubeconfig(t)
	certFile, keyFile, _ := selfSignedCert(t)
	cases := []struct{ name, content string }{
		{"invalid YAML", "tls_server_config: [unclosed\n"},
		{"missing certificate file", "tls_server_config:\n  cert_file: /does/not/exist.crt\n  key_file: " + keyFile + "\n"},
		{"missing key file", "tls_server_config:\n  cert_file: " + certFile + "\n  key_file: /does/not/exist.key\n"},
		{"unknown field", "tls_server_config:\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n  no_such_option: true\n"},
		{"password not a bcrypt hash", "basic_auth_users:\n  prometheus: plaintext\n"},
		{"no such file", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := "/does/not/exist/web.yml"
			if tc.content != "" {
				path = writeFile(t, "web.yml", tc.content)
			}
			port, err := exporterbin.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, "--kubeconfig="+kubeconfig, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--web.config.file="+path)
			code := p.wait(15 * time.Second)
			stderr := strings.TrimRight(p.stderr.String(), "\n")
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr)
			}
			if lines := strings.Split(stderr, "\n"); len(lines) != 1 || !strings.HasPrefix(stderr, "statefulset-exporter: --web.config.file") {
				t.Errorf("stderr %q: want one line starting with \"statefulset-exporter: --web.config.file\"", stderr)
			}
			t.Logf("exit %d: %s", code, stderr)
		})
	}
}
