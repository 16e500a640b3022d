// Package localkubetest starts local Kubernetes control planes for tests.
package localkubetest

import (
	"errors"
	"os"
	"testing"

	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
)

// RequireEnv names an environment variable that, when set to a non-empty
// value, turns ForTest's skips into failures, so that CI cannot silently
// lose the tests that need a control plane.
const RequireEnv = "STATEFULSET_EXPORTER_REQUIRE_KUBE"

// ForTest starts a local cluster (building kube-apiserver on first use) and
// stops it when the test and its subtests complete. On failure, the cleanup
// logs the tails of the etcd and kube-apiserver logs.
//
// The test is skipped only if the binaries cannot be found or built (etcd is
// not installed, no Go toolchain, the build fails) and RequireEnv is unset;
// every other problem fails the test.
//
// Each call starts a new cluster in about five seconds. Tests that need many
// clusters may share one by calling localkube.Start from TestMain instead.
func ForTest(t testing.TB) *localkube.Cluster {
	t.Helper()
	cluster, err := localkube.Start(t.Context(), localkube.Options{Logf: t.Logf})
	SkipOrFatal(t, "starting a local Kubernetes control plane", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("local Kubernetes control plane logs:\n%s", cluster.Logs())
		}
		cluster.Stop()
	})
	return cluster
}

// SkipOrFatal does nothing when err is nil. Otherwise it skips the test when err says
// the binaries cannot be found or built (localkube.ErrUnavailable) and RequireEnv is
// unset, and fails it in every other case; what names what was being done.
func SkipOrFatal(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, localkube.ErrUnavailable) && os.Getenv(RequireEnv) == "" {
		t.Skipf("skipping: no local Kubernetes control plane (set %s=1 to fail instead): %v", RequireEnv, err)
	}
	t.Fatalf("%s: %v", what, err)
}
