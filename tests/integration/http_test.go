package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
)

// get fetches path from x and returns the status code and body, whatever the status.
func get(t *testing.T, x *exporter, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, x *exporter) {
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(waitTimeout)
	for {
		code, body := get(t, x, "/readyz")
		if code == http.StatusOK {
			if body != "ok\n" {
				t.Errorf("/readyz body %q, want %q", body, "ok\n")
			}
			t.Logf("exporter %s: /readyz 200 after %s", x.name, time.Since(begin).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter %s: /readyz still %d after %s: %q", x.name, code, waitTimeout, body)
		}
		time.Sleep(pollEvery)
	}
}

// TestHTTPEndpoints checks /healthz, /readyz and the landing page of the shared exporter.
func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	f := env(t)
	x := f.shared
	if code, body := get(t, x, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 %q", code, body, "ok\n")
	}
	waitReady(t, x)
	code, body := get(t, x, "/")
	if code != http.StatusOK {
		t.Errorf("/ = %d, want 200", code)
	}
	for _, want := range []string{"StatefulSet Exporter", `href="/metrics"`, `href="/healthz"`, `href="/readyz"`} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q:\n%s", want, body)
		}
	}
	// Ready means every cache synced and the probe reaches the API server.
	f.waitSelected(t, x, "self metrics of the shared exporter", expect(t, `
		statefulset_exporter_api_reachable 1
		statefulset_exporter_cache_synced{resource="statefulsets"} 1
		statefulset_exporter_cache_synced{resource="pods"} 1
		statefulset_exporter_cache_synced{resource="persistentvolumeclaims"} 1
		statefulset_exporter_cache_synced{resource="persistentvolumes"} 1
		statefulset_exporter_cache_synced{resource="nodes"} 1
		statefulset_exporter_cache_synced{resource="storageclasses"} 1
		statefulset_exporter_cache_synced{resource="volumeattachments"} 1
		statefulset_exporter_cache_synced{resource="poddisruptionbudgets"} 1
		statefulset_exporter_cache_synced{resource="services"} 1
		statefulset_exporter_cache_synced{resource="leases"} 1
	`), []string{"statefulset_exporter_api_reachable", "statefulset_exporter_cache_synced"})
}

// TestReadyzBeforeSync runs an exporter against an API server that refuses connections:
// it is alive (/healthz 200) but not ready (/readyz 503), reports the API unreachable and
// counts the refused probes.
func TestReadyzBeforeSync(t *testing.T) {
	t.Parallel()
	f := env(t)
	port, err := exporterbin.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	config := clientcmdapi.NewConfig()
	config.Clusters["down"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", port), CertificateAuthorityData: f.cluster.AdminConfig().TLSClientConfig.CAData}
	config.AuthInfos["down"] = &clientcmdapi.AuthInfo{Token: "unused"}
	config.Contexts["down"] = &clientcmdapi.Context{Cluster: "down", AuthInfo: "down"}
	config.CurrentContext = "down"
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	x := f.startExporter(t, "unreachable-api", "--kubeconfig="+kubeconfig, "--api.probe-interval=200ms")

	poll(t, x, "probe failures counted", func(s *scrape) (bool, string) {
		v, _ := s.value("statefulset_exporter_api_errors_total", "resource", "probe", "reason", "ConnectionRefused")
		reachable, ok := s.value("statefulset_exporter_api_reachable")
		return v >= 2 && ok && reachable == 0, fmt.Sprintf("probe connection_refused errors %v, api_reachable %v", v, reachable)
	}, nil)
	if code, body := get(t, x, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q, want 200 while the API server is down", code, body)
	}
	if code, body := get(t, x, "/readyz"); code != http.StatusServiceUnavailable || body != "caches not synced yet\n" {
		t.Errorf("/readyz = %d %q, want 503 before the caches synced", code, body)
	}
	s, err := x.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, smp := range s.find("statefulset_exporter_cache_synced") {
		if smp.value != 0 {
			t.Errorf("%s", f.render(s, smp))
		}
	}
	if got := s.find("statefulset_exporter_api_last_success_timestamp_seconds"); len(got) != 0 {
		t.Errorf("api_last_success_timestamp_seconds has a sample although no probe succeeded: %v", got[0].value)
	}
}
