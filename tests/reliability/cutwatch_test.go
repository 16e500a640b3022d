package reliability

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/statefulset-exporter/statefulset-exporter/internal/faultproxy"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube/localkubetest"
)

// cutChanges is how many changes TestWatchesCutMidStream makes while every watch is cut;
// spaced cutChangeGap apart they span the 30s the reflector's back-off would grow to.
const (
	cutChanges   = 6
	cutChangeGap = 6 * time.Second
)

// TestWatchesCutMidStream cuts every watch 500ms after it starts, from a steady state
// (no earlier fault has left a back-off behind), and measures how long each of a series
// of changes takes to show in /metrics. Each must show within recoveryBudget, the bound
// for refused calls: a watch cut mid-stream is resumed from its last resource version
// like a refused watch is retried (collector/resilient.go), not left to the reflector's
// back-off and relist.
func TestWatchesCutMidStream(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := localkubetest.ForTest(t)
	admin := kubernetes.NewForConfigOrDie(cluster.AdminConfig())
	const ns = "cut"
	mustCreateNamespace(t, admin, ns)
	mustCreateStatefulSet(t, admin, ns, "web", cutChanges+1, 0)

	proxy, err := faultproxy.Start(faultproxy.Options{Upstream: cluster.AdminConfig(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := proxy.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, "--kubeconfig="+kubeconfig, "--api.probe-interval="+probeInterval.String())
	readyIs := func(want float64) func() (bool, string) {
		return func() (bool, string) {
			s, err := scrape(ctx, exp)
			if err != nil {
				return false, err.Error()
			}
			v, _ := s.get("statefulset_replicas_ready", "namespace", ns, "statefulset", "web")
			return v == want, fmt.Sprintf("web ready replicas %g", v)
		}
	}
	waitFor(t, 30*time.Second, 200*time.Millisecond, "exporter synced through the proxy", readyIs(0))
	waitFor(t, 10*time.Second, 100*time.Millisecond, "every informer watching", func() (bool, string) {
		n := proxy.InFlightWatches()
		return n >= watchedResources, fmt.Sprintf("%d watches in flight", n)
	})

	proxy.SetMode(faultproxy.CutWatches)
	t.Logf("cut %d watches; from now on every watch lives 500ms", proxy.CutWatchesNow())
	start := time.Now()
	var took []time.Duration
	for i := 1; i <= cutChanges; i++ {
		time.Sleep(cutChangeGap)
		if err := setReadyReplicas(ctx, admin, ns, "web", int32(i)); err != nil {
			t.Fatal(err)
		}
		took = append(took, waitFor(t, recoveryPatience, 100*time.Millisecond, fmt.Sprintf("change %d seen while watches are cut", i), readyIs(float64(i))))
	}
	proxy.SetMode(faultproxy.PassThrough)
	watches, lists := 0, 0
	for _, r := range proxy.Records(start) {
		switch {
		case r.Mode != faultproxy.CutWatches:
		case r.Watch:
			watches++
		default:
			lists++
		}
	}
	worst := slices.Max(took)
	t.Logf("cut_watches: changes seen after %v (worst %s); %d watches and %d other requests in %s",
		roundAll(took), worst.Round(time.Millisecond), watches, lists, time.Since(start).Round(time.Second))
	if worst > recoveryBudget {
		t.Errorf("a change took %s to show while watches were cut, want within %s like a refused call", worst, recoveryBudget)
	}
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond).String()
	}
	return out
}
