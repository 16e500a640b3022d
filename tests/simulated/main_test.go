// Package simulated runs the exporter against the simulated EKS cluster of
// internal/simcluster, where the real StatefulSet controller, scheduler, PersistentVolume
// and attach-detach controllers, node lifecycle controller and kwok's kubelets produce
// every status: no test here writes a StatefulSet, pod, claim or attachment status.
package simulated

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
)

// Thresholds of the exporter, short so that time-based states show within the tests.
const (
	stallAfter = 15 * time.Second
	stuckAfter = 5 * time.Second
)

var (
	fixtureOnce sync.Once
	cluster     *simcluster.Cluster
	exporter    *exporterbin.Process
	fixtureErr  error
	binary      exporterbin.Cached
)

func TestMain(m *testing.M) {
	code := m.Run()
	if exporter != nil {
		exporter.Stop()
	}
	if cluster != nil {
		cluster.Stop()
	}
	binary.Remove()
	os.Exit(code)
}

// env returns the shared simulated cluster and the exporter watching it, starting them
// on first use.
func env(t *testing.T) (*simcluster.Cluster, *exporterbin.Process) {
	t.Helper()
	fixtureOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cluster, fixtureErr = simcluster.Start(ctx, simcluster.Options{Logf: t.Logf})
		if fixtureErr != nil {
			return
		}
		path, err := binary.Path(ctx)
		if err != nil {
			fixtureErr = err
			return
		}
		kubeconfig := filepath.Join(os.TempDir(), fmt.Sprintf("simulated-%d.kubeconfig", os.Getpid()))
		if fixtureErr = cluster.WriteKubeconfig(kubeconfig, false); fixtureErr != nil {
			return
		}
		exporter, fixtureErr = exporterbin.Start(ctx, path, "--kubeconfig="+kubeconfig,
			"--rollout.stall-after="+stallAfter.String(), "--terminating.stuck-after="+stuckAfter.String(),
			"--api.probe-interval=1s", "--log.level=debug")
	})
	localkubetest.SkipOrFatal(t, "starting the simulated cluster and the exporter", fixtureErr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s\nexporter log (tail):\n%s", cluster.Logs(), tail(exporter.Log(), 40))
		}
	})
	return cluster, exporter
}

// waitMetrics polls the exporter until every line of want is in /metrics: whole, or
// with any value where the wanted line ends with its labels ("...}"). It fails after timeout with what was missing and the lines of the families
// named in want.
func waitMetrics(t *testing.T, x *exporterbin.Process, timeout time.Duration, what string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var body string
	var missing []string
	for {
		var err error
		body, err = x.Get(t.Context(), "/metrics")
		if err == nil {
			missing = missingLines(body, want)
			if len(missing) == 0 {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s:\n  %s\nrelated lines served:\n%s", what, timeout,
				strings.Join(missing, "\n  "), related(body, want))
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func missingLines(body string, want []string) []string {
	lines := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		lines[l] = true
	}
	var missing []string
	for _, w := range want {
		if lines[w] {
			continue
		}
		if strings.HasSuffix(w, "}") && strings.Contains(body, "\n"+w+" ") {
			continue
		}
		missing = append(missing, w)
	}
	return missing
}

// related returns the served lines of the metric families and namespaces of want.
func related(body string, want []string) string {
	type family struct{ name, namespace string }
	families := make([]family, 0, len(want))
	for _, w := range want {
		name, _, _ := strings.Cut(w, "{")
		families = append(families, family{name, namespaceLabel.FindString(w)})
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, f := range families {
			if strings.HasPrefix(l, f.name) && strings.Contains(l, f.namespace) {
				out = append(out, "  "+l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

var namespaceLabel = regexp.MustCompile(`namespace="[^"]*"`)

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
