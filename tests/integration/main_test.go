package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/scenario"
)

// Thresholds of the shared exporter, short so that time-based derivations show quickly.
const (
	stallAfter    = 3 * time.Second
	stuckAfter    = 2 * time.Second
	probeInterval = time.Second
)

// Timeouts. The machine may be small and shared: they are generous, and every wait
// polls, so a passing test never waits for them.
const (
	setupTimeout = 20 * time.Minute // covers a first build of kube-apiserver
	waitTimeout  = 60 * time.Second // for the exporter to show an expected state
	pollEvery    = 200 * time.Millisecond
)

// fixture is what every test of the binary shares: one control plane with the nodes and
// storage class of scenario.ApplyCluster, the exporter binary, and one exporter running
// as admin with short thresholds.
type fixture struct {
	cluster         *localkube.Cluster
	admin           kubernetes.Interface
	dir             string // temporary files: binary, kubeconfigs
	binary          string
	adminKubeconfig string
	shared          *exporter
	// started is when the fixture began; every timestamp the exporter derives from
	// objects of this cluster is later.
	started time.Time

	mu      sync.Mutex
	applied map[string]*applyResult
	ran     map[string]bool // tests that ran, for firstRun
	runs    int             // for unique names across go test -count=N
}

// unique returns name suffixed so that it differs in every call.
func (f *fixture) unique(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs++
	if f.runs == 1 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, f.runs)
}

type applyResult struct {
	once sync.Once
	err  error
	took time.Duration
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
	fixtureLog  []string // set-up progress and timings, logged by the test that started it
)

// TestMain stops the shared exporter and control plane after the tests. The fixture is
// started by the first test that needs it, so `go test -list` or `-run` of nothing costs
// nothing.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

// env returns the shared fixture, starting it on first use. It skips the test when no
// control plane can be built (unless localkubetest.RequireEnv is set) and fails it when
// the fixture failed otherwise.
func env(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		shared, fixtureErr = start()
		for _, line := range fixtureLog {
			t.Log(line)
		}
	})
	if fixtureErr != nil {
		if errors.Is(fixtureErr, localkube.ErrUnavailable) && os.Getenv(localkubetest.RequireEnv) == "" {
			t.Skipf("skipping: no local Kubernetes control plane (set %s=1 to fail instead): %v", localkubetest.RequireEnv, fixtureErr)
		}
		t.Fatalf("integration fixture: %v", fixtureErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared exporter log (tail):\n%s", tail(shared.shared.Log(), 30))
		}
	})
	return shared
}

func logf(format string, args ...any) {
	fixtureLog = append(fixtureLog, fmt.Sprintf(format, args...))
}

// start builds the exporter while the control plane starts, creates the cluster-wide
// objects of the scenarios and starts the shared exporter.
func start() (_ *fixture, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	f := &fixture{started: time.Now(), applied: map[string]*applyResult{}}
	defer func() {
		if err != nil {
			f.stop()
		}
	}()
	if f.dir, err = os.MkdirTemp("", "statefulset-exporter-integration-"); err != nil {
		return nil, err
	}

	// go build and kube-apiserver's start-up overlap.
	type built struct {
		path string
		err  error
		took time.Duration
	}
	buildDone := make(chan built, 1)
	go func() {
		begin := time.Now()
		path, err := exporterbin.Build(ctx, f.dir)
		buildDone <- built{path, err, time.Since(begin)}
	}()

	begin := time.Now()
	f.cluster, err = localkube.Start(ctx, localkube.Options{Logf: func(format string, args ...any) {
		logf("fixture: "+format, args...)
	}})
	clusterTook := time.Since(begin)
	b := <-buildDone // wait for the build even on failure: it writes into f.dir
	if err != nil {
		return nil, err
	}
	logf("fixture: control plane ready in %s", clusterTook.Round(time.Millisecond))
	if b.err != nil {
		return nil, b.err
	}
	f.binary = b.path
	logf("fixture: exporter built in %s", b.took.Round(time.Millisecond))

	if f.admin, err = kubernetes.NewForConfig(f.cluster.AdminConfig()); err != nil {
		return nil, err
	}
	begin = time.Now()
	if err := scenario.ApplyCluster(ctx, f.admin); err != nil {
		return nil, err
	}
	f.adminKubeconfig = filepath.Join(f.dir, "admin.kubeconfig")
	if err := f.cluster.WriteKubeconfig(f.adminKubeconfig, false); err != nil {
		return nil, err
	}
	f.shared, err = startExporterProcess(ctx, f.binary, "shared",
		"--kubeconfig="+f.adminKubeconfig,
		"--rollout.stall-after="+stallAfter.String(),
		"--terminating.stuck-after="+stuckAfter.String(),
		"--api.probe-interval="+probeInterval.String(),
		"--pvc.bind-duration-histogram", // opt-in; TestPVCProvisionAndBind reads it
	)
	if err != nil {
		return nil, err
	}
	logf("fixture: cluster objects created and shared exporter listening in %s (%s since start)",
		time.Since(begin).Round(time.Millisecond), time.Since(f.started).Round(time.Millisecond))
	return f, nil
}

func (f *fixture) stop() {
	if f.shared != nil {
		f.shared.Stop()
	}
	if f.cluster != nil {
		f.cluster.Stop()
	}
	if f.dir != "" {
		_ = os.RemoveAll(f.dir)
	}
}

// apply creates the scenario called name once per test binary (its namespace is its
// name, so two tests can share a scenario they only read).
func (f *fixture) apply(t *testing.T, name string) {
	t.Helper()
	s, ok := scenario.ByName(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	f.mu.Lock()
	r := f.applied[name]
	if r == nil {
		r = &applyResult{}
		f.applied[name] = r
	}
	f.mu.Unlock()
	r.once.Do(func() {
		begin := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r.err = s.Apply(ctx, f.admin)
		r.took = time.Since(begin)
		t.Logf("scenario %s (%s) created in %s", name, s.Description, r.took.Round(time.Millisecond))
	})
	if r.err != nil {
		t.Fatalf("scenario %s: %v", name, r.err)
	}
}

// firstRun skips the test when it already ran in this test binary (go test -count=N):
// it drives a scenario to a final state that it cannot start from again.
func (f *fixture) firstRun(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ran == nil {
		f.ran = map[string]bool{}
	}
	if f.ran[t.Name()] {
		t.Skip("changes its scenario for good: runs once per test binary")
	}
	f.ran[t.Name()] = true
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
