package localkube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

const (
	// DefaultStartTimeout bounds how long etcd and kube-apiserver may each
	// take to become ready when Options.StartTimeout is zero.
	DefaultStartTimeout = 60 * time.Second

	// apiServerStopGrace is how long Stop lets kube-apiserver shut down
	// gracefully before killing it.
	apiServerStopGrace = 5 * time.Second
	// etcdStopGrace is how long Stop lets etcd shut down gracefully.
	etcdStopGrace = 5 * time.Second

	// portAttempts is how many sets of free ports Start tries: a port found
	// free can be taken by someone else before the component binds it.
	portAttempts = 3

	// serviceClusterIPRange is the range kube-apiserver allocates Service
	// cluster IPs from. Nothing routes it; it only has to be valid.
	serviceClusterIPRange = "10.0.0.0/24"
)

// Options configure Start. The zero value is ready to use.
type Options struct {
	// APIServerPath is the kube-apiserver binary. Empty means the one
	// EnsureAPIServer builds.
	APIServerPath string
	// EtcdPath is the etcd binary. Empty means the one FindEtcd finds.
	EtcdPath string
	// Dir is the parent of the cluster's temporary directory, which holds
	// etcd's data, the credentials and the logs and is removed by Stop.
	// Empty means os.TempDir().
	Dir string
	// StartTimeout bounds how long each of etcd and kube-apiserver may take
	// to become ready. Zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// ExtraAPIServerArgs are appended to kube-apiserver's command line, for
	// example "--feature-gates=...". A repeated flag overrides the default.
	ExtraAPIServerArgs []string
	// Logf receives progress messages, such as those of the first build of
	// kube-apiserver. Nil discards them.
	Logf func(format string, args ...any)

	// Controllers starts kube-controller-manager and kube-scheduler of the
	// same release once the API server is ready (see components.go).
	Controllers bool
	// ExtraControllerManagerArgs and ExtraSchedulerArgs are appended to the
	// components' command lines; a repeated flag overrides the default.
	ExtraControllerManagerArgs, ExtraSchedulerArgs []string
	// Processes are further programs run against the cluster once the
	// control plane is up, kwok for example.
	Processes []ProcessSpec
}

// Cluster is a Kubernetes control plane made of one etcd and one
// kube-apiserver, both bound to 127.0.0.1 on ports chosen at random.
//
// By default only the API server runs: there is no kube-controller-manager,
// scheduler or kubelet. Nothing reconciles objects, so callers write status
// subresources themselves (for example with UpdateStatus) and pods are never
// scheduled. With Options.Controllers, kube-controller-manager and
// kube-scheduler run too, and Options.Processes can add kubelets simulated by
// kwok. Pods get no ServiceAccount token either way (the ServiceAccount
// admission plugin is disabled so that pods can be created without one).
//
// Two users authenticate with static bearer tokens: AdminUser, a member of
// system:masters, and RestrictedUser, who has no permissions until RBAC
// grants some (authorization mode is RBAC).
//
// The methods of Cluster are safe for concurrent use.
type Cluster struct {
	dir     string
	logf    func(string, ...any)
	timeout time.Duration
	creds   *credentials

	etcd       *process
	apiServer  *process
	components []*process // started after the API server, stopped before it
	port       int        // kube-apiserver's secure port, kept across restarts

	mu      sync.Mutex // serialises starting and stopping
	stopped bool
}

// Start runs etcd and kube-apiserver and waits until the API server reports
// ready on /readyz. ctx bounds start-up only: once Start returns, the
// processes run until Stop is called, so callers must always call Stop (in
// tests, through t.Cleanup). Should the calling process die first, Linux
// kills the children (see the package documentation for signal handling).
//
// When a component fails to start or to become ready, the error includes its
// command line and the last lines of its log. Errors due to missing binaries
// wrap ErrUnavailable.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logf := orDiscard(opts.Logf)
	etcdPath := opts.EtcdPath
	if etcdPath == "" {
		if etcdPath, err = FindEtcd(); err != nil {
			return nil, err
		}
	}
	apiServerPath := opts.APIServerPath
	if apiServerPath == "" {
		if apiServerPath, err = EnsureAPIServer(ctx, logf); err != nil {
			return nil, err
		}
	}

	plans, err := planComponents(ctx, opts, logf)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp(opts.Dir, "localkube-")
	if err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	c := &Cluster{
		dir:       dir,
		logf:      logf,
		timeout:   cmp.Or(opts.StartTimeout, DefaultStartTimeout),
		etcd:      &process{name: "etcd", path: etcdPath, logPath: filepath.Join(dir, "etcd.log")},
		apiServer: &process{name: "kube-apiserver", path: apiServerPath, logPath: filepath.Join(dir, "kube-apiserver.log")},
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	if c.creds, err = newCredentials(dir); err != nil {
		return nil, err
	}

	started := time.Now()
	etcdURL, err := c.startEtcd(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.startAPIServerOnFreePort(ctx, etcdURL, opts.ExtraAPIServerArgs); err != nil {
		return nil, err
	}
	logf("localkube: kube-apiserver ready at %s after %s (logs in %s)", c.URL(), time.Since(started).Round(time.Millisecond), dir)
	if err := c.startComponents(ctx, plans, opts.Controllers); err != nil {
		return nil, err
	}
	return c, nil
}

// startEtcd starts etcd on free ports, waits for it to be healthy and returns
// its client URL.
func (c *Cluster) startEtcd(ctx context.Context) (string, error) {
	dataDir := filepath.Join(c.dir, "etcd-data")
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return "", err
		}
		clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		c.etcd.args = etcdArgs(dataDir, ports[0], ports[1])
		if err := c.etcd.start(); err != nil {
			return "", err
		}
		err = c.etcd.waitReady(ctx, c.timeout, func(ctx context.Context) error {
			return probeEtcd(ctx, clientURL)
		})
		if err == nil {
			return clientURL, nil
		}
		_ = c.etcd.stop(0)
		if attempt == portAttempts || !lostPortRace(c.etcd) {
			return "", err
		}
		c.logf("localkube: etcd lost a race for its ports, retrying: %v", err)
		if err := os.RemoveAll(dataDir); err != nil {
			return "", fmt.Errorf("removing etcd data: %w", err)
		}
	}
}

// startAPIServerOnFreePort starts kube-apiserver on a free port and waits for
// it to be ready.
func (c *Cluster) startAPIServerOnFreePort(ctx context.Context, etcdURL string, extraArgs []string) error {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		c.port = ports[0]
		c.apiServer.args = append(apiServerArgs(c.URL(), c.port, etcdURL, c.creds), extraArgs...)
		err = c.runAPIServer(ctx)
		if err == nil {
			return nil
		}
		_ = c.apiServer.stop(0)
		if attempt == portAttempts || !lostPortRace(c.apiServer) {
			return err
		}
		c.logf("localkube: kube-apiserver lost a race for its port, retrying: %v", err)
	}
}

// runAPIServer starts kube-apiserver with its current arguments and waits
// until /readyz succeeds.
func (c *Cluster) runAPIServer(ctx context.Context) error {
	if err := c.apiServer.start(); err != nil {
		return err
	}
	client, err := rest.HTTPClientFor(c.AdminConfig())
	if err != nil {
		return fmt.Errorf("creating readiness client: %w", err)
	}
	defer client.CloseIdleConnections()
	return c.apiServer.waitReady(ctx, c.timeout, func(ctx context.Context) error {
		return probeHTTP(ctx, client, c.URL()+"/readyz")
	})
}

// apiServerArgs is kube-apiserver's command line.
func apiServerArgs(url string, port int, etcdURL string, creds *credentials) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		// Without it kube-apiserver advertises the first non-loopback
		// address, and fails to start on hosts that have none.
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + creds.certFile,
		"--tls-private-key-file=" + creds.keyFile,
		"--cert-dir=" + creds.certDir,
		"--token-auth-file=" + creds.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + url,
		"--service-account-key-file=" + creds.saPubFile,
		"--service-account-signing-key-file=" + creds.saKeyFile,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// The default Service's endpoints would point at 127.0.0.1, which
		// Endpoints validation rejects; nothing in-cluster needs them.
		"--endpoint-reconciler-type=none",
		// Requires every namespace's "default" ServiceAccount, which only
		// kube-controller-manager creates.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		// Streaming lists need an etcd that reports watch progress (3.4.31+, 3.5.13+);
		// Debian's 3.4.23 does not, and clients that do not fall back to a plain list
		// (kwok) would then see no watch events at all.
		"--feature-gates=WatchList=false",
	}
}

// URL returns the API server's base URL, https://127.0.0.1:<port>. It stays
// the same across StopAPIServer and StartAPIServer.
func (c *Cluster) URL() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
}

// AdminConfig returns a new client configuration authenticating as
// AdminUser, who may do anything.
func (c *Cluster) AdminConfig() *rest.Config {
	return c.config(c.creds.adminToken)
}

// RestrictedConfig returns a new client configuration authenticating as
// RestrictedUser, who may do nothing that RBAC does not grant explicitly.
func (c *Cluster) RestrictedConfig() *rest.Config {
	return c.config(c.creds.restrictedToken)
}

func (c *Cluster) config(token string) *rest.Config {
	return &rest.Config{
		Host:            c.URL(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), c.creds.certPEM...)},
		// The defaults (5 QPS, burst 10) needlessly slow down test fixtures.
		QPS:   100,
		Burst: 200,
	}
}

// StopAPIServer kills kube-apiserver with SIGKILL, leaving etcd and the
// stored objects alone, and waits for it to exit. Clients see connection
// errors until StartAPIServer is called. It does nothing if the API server is
// not running.
func (c *Cluster) StopAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("cluster is stopped")
	}
	return c.apiServer.stop(0)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same
// port and with the same certificate and tokens, so existing client
// configurations keep working. It waits until the server is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("cluster is stopped")
	}
	if c.apiServer.running() {
		return errors.New("kube-apiserver is already running")
	}
	if err := c.runAPIServer(ctx); err != nil {
		_ = c.apiServer.stop(0)
		return err
	}
	c.logf("localkube: kube-apiserver restarted at %s", c.URL())
	return nil
}

// Stop terminates kube-apiserver and then etcd, each gracefully if it exits
// within a few seconds and with SIGKILL otherwise, and removes the cluster's
// temporary directory, logs included. It is idempotent, and safe to call on
// a cluster that failed to start.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true

	for _, p := range slices.Backward(c.components) {
		if err := p.stop(componentStopGrace); err != nil {
			c.logf("localkube: %v", err)
		}
	}
	// kube-apiserver before etcd: it hangs on shutdown while etcd is unreachable.
	if err := c.apiServer.stop(apiServerStopGrace); err != nil {
		c.logf("localkube: %v", err)
	}
	if err := c.etcd.stop(etcdStopGrace); err != nil {
		c.logf("localkube: %v", err)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		c.logf("localkube: removing %s: %v", c.dir, err)
	}
}

// EtcdLogPath returns the path of etcd's log file. It is removed by Stop.
func (c *Cluster) EtcdLogPath() string { return c.etcd.logPath }

// APIServerLogPath returns the path of kube-apiserver's log file, which
// accumulates the output of every run. It is removed by Stop.
func (c *Cluster) APIServerLogPath() string { return c.apiServer.logPath }

// Logs returns the command lines and the last lines of every component's log,
// for failure messages.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, p := range append([]*process{c.etcd, c.apiServer}, c.components...) {
		fmt.Fprintf(&b, "==> %s: %s\n%s\n", p.logPath, p.commandLine(), tailFile(p.logPath, logTailLines))
	}
	return b.String()
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		// Keep it open until all ports are picked so that they differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lostPortRace reports whether p failed because another process bound one
// of its ports first.
func lostPortRace(p *process) bool {
	return strings.Contains(tailFile(p.logPath, logTailLines), "address already in use")
}

// probeEtcd checks etcd's /health endpoint.
func probeEtcd(ctx context.Context, clientURL string) error {
	return probeHTTP(ctx, http.DefaultClient, clientURL+"/health")
}

// probeHTTP succeeds if a GET of url answers 200 within a second.
func probeHTTP(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
