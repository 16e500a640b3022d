package localkube

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// clientGoPackages are the client-go packages the exporter, promtool and the
// Kubernetes binaries all compile.
var clientGoPackages = []string{"k8s.io/client-go/kubernetes", "k8s.io/client-go/tools/cache"}

func TestToolModuleSharesClientGo(t *testing.T) {
	// Go's build cache reuses a compiled package only when every module below it is at
	// the same version. The Kubernetes tool module and the Helm chart's test module keep
	// client-go's modules at the main module's versions, so that a cold CI compiles
	// client-go once, not once for kube-apiserver and again for promtool and the tests
	// (about 2.5 minutes on two cores each time).
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	exporter := moduleVersions(t, root, clientGoPackages)
	if len(exporter) == 0 {
		t.Fatal("client-go's packages need no module")
	}
	for _, module := range []string{kubeToolModule, "tests/chart"} {
		other := moduleVersions(t, filepath.Join(root, module), clientGoPackages)
		var drift []string
		for _, path := range slices.Sorted(maps.Keys(exporter)) {
			if other[path] != exporter[path] {
				drift = append(drift, path+"@"+exporter[path]+" (it has "+other[path]+")")
			}
		}
		if len(drift) > 0 {
			t.Errorf("in %s, run `GOWORK=off go get` of:\n%s", module, strings.Join(drift, "\n"))
		}
	}
}

// moduleVersions maps each module that packages import, directly or not, to the
// version the module in dir builds them with.
func moduleVersions(t *testing.T, dir string, packages []string) map[string]string {
	t.Helper()
	// go test caches a result by the files the test opens, not those go list reads.
	for _, name := range []string{"go.mod", "go.sum"} {
		if _, err := os.ReadFile(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f",
		"{{with .Module}}{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}{{end}}"}, packages...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	versions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok {
			versions[path] = version
		}
	}
	return versions
}
