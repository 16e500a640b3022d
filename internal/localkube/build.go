package localkube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
)

const (
	// CacheEnv names the environment variable that overrides the cache
	// directory (default <repo>/.cache). Built binaries are stored in its
	// "kube" subdirectory.
	CacheEnv = "STATEFULSET_EXPORTER_CACHE"

	kubernetesModule = "k8s.io/kubernetes"
	// kubeToolModule pins the binaries localkube builds.
	kubeToolModule = "tests/tools/kube"

	// buildProgressInterval is how often a running build reports progress.
	buildProgressInterval = 30 * time.Second
)

// Binary is a program localkube builds from a tool module of this repository, which
// pins the release.
type Binary struct {
	// Name is the program's name, e.g. "kube-apiserver".
	Name string
	// Package is its main package.
	Package string
	// module is the tool module's directory relative to the repository root, and
	// versionModule the requirement of it whose version names the release.
	module, versionModule string
}

// The binaries localkube builds.
var (
	APIServer         = kubeBinary("kube-apiserver")
	ControllerManager = kubeBinary("kube-controller-manager")
	Scheduler         = kubeBinary("kube-scheduler")
	// Kwok simulates kubelets (sigs.k8s.io/kwok). The Kubernetes tool module pins it
	// too, so that it is built against the release's libraries, compiled once for all
	// four binaries.
	Kwok = Binary{Name: "kwok", Package: "sigs.k8s.io/kwok/cmd/kwok", module: kubeToolModule, versionModule: "sigs.k8s.io/kwok"}
)

// kubeBinary is a component of the Kubernetes release pinned by tests/tools/kube.
func kubeBinary(name string) Binary {
	return Binary{Name: name, Package: kubernetesModule + "/cmd/" + name, module: kubeToolModule, versionModule: kubernetesModule}
}

// ErrUnavailable marks errors caused by the environment lacking what a local
// cluster needs: the etcd binary, the Go toolchain, or a binary that
// can be built. Tests may skip on it (see the localkubetest package); every
// other error is a real failure.
var ErrUnavailable = errors.New("local Kubernetes control plane unavailable")

// KubernetesVersion returns the Kubernetes release (for example "v1.37.2")
// that tests/tools/kube pins and EnsureAPIServer builds.
func KubernetesVersion() (string, error) {
	return APIServer.Version()
}

// Version returns the release the tool module pins, e.g. "v1.37.2".
func (b Binary) Version() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return toolVersion(filepath.Join(root, b.module), b.versionModule)
}

// EnsureAPIServer is EnsureBinary(ctx, APIServer, logf).
func EnsureAPIServer(ctx context.Context, logf func(format string, args ...any)) (path string, err error) {
	return EnsureBinary(ctx, APIServer, logf)
}

// EnsureBinary returns the path of b built from the release its tool module pins,
// building it first if needed.
//
// Binaries are cached as <cache>/kube/<name>-<version>, where <cache> is
// $STATEFULSET_EXPORTER_CACHE or <repo>/.cache. A cached binary is reused while it is
// newer than the tool module's go.mod and go.sum. The first build of kube-apiserver
// takes several minutes on two cores (kube-controller-manager and kube-scheduler about
// a minute more each, kwok about 1.5 minutes); later builds come from Go's build cache.
// Concurrent callers, even in different processes, wait for a single build. Progress is
// reported through logf, which may be nil.
//
// Failures to locate the repository or the Go toolchain, or to build, wrap
// ErrUnavailable.
func EnsureBinary(ctx context.Context, b Binary, logf func(format string, args ...any)) (path string, err error) {
	logf = orDiscard(logf)

	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	toolDir := filepath.Join(root, b.module)
	version, err := toolVersion(toolDir, b.versionModule)
	if err != nil {
		return "", err
	}
	dir, err := cacheDir(root)
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, "kube")
	bin := filepath.Join(dir, b.Name+"-"+version)
	inputs := []string{filepath.Join(toolDir, "go.mod"), filepath.Join(toolDir, "go.sum")}

	if upToDate(bin, inputs) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache directory: %w", err)
	}
	unlock, err := lockFile(bin + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have finished the build while we waited.
	if upToDate(bin, inputs) {
		return bin, nil
	}

	if err := build(ctx, b, toolDir, version, bin, logf); err != nil {
		return "", err
	}
	return bin, nil
}

// build compiles b into bin, atomically.
func build(ctx context.Context, b Binary, toolDir, version, bin string, logf func(string, ...any)) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("%w: building %s needs the Go toolchain: %w", ErrUnavailable, b.Name, err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	defer os.Remove(tmp) // no-op once renamed

	args := []string{"build", "-buildvcs=false", "-o", tmp}
	if b.versionModule == kubernetesModule {
		args = append(args, "-ldflags", versionLDFlags(version))
	}
	cmd := exec.CommandContext(ctx, goTool, append(args, b.Package)...)
	cmd.Dir = toolDir
	// The tool module must be built on its own even if a go.work is around.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output

	logf("localkube: building %s %s into %s (the first build takes minutes; later ones hit Go's build cache)", b.Name, version, bin)
	started := time.Now()
	stopProgress := reportProgress(b.Name, started, logf)
	err = cmd.Run()
	stopProgress()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("building %s %s: %w", b.Name, version, ctxErr)
		}
		return fmt.Errorf("%w: building %s %s failed: %w\ncommand (in %s): %s\noutput:\n%s",
			ErrUnavailable, b.Name, version, err, toolDir, strings.Join(cmd.Args, " "), lastLines(output.Bytes(), logTailLines))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return fmt.Errorf("installing %s: %w", b.Name, err)
	}
	logf("localkube: built %s %s in %s", b.Name, version, time.Since(started).Round(time.Second))
	return nil
}

// reportProgress logs periodically until the returned function is called.
func reportProgress(name string, started time.Time, logf func(string, ...any)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(buildProgressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				logf("localkube: still building %s (%s elapsed)", name, time.Since(started).Round(time.Second))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// versionLDFlags stamps the version that /version reports; without it the
// server calls itself v0.0.0-master and clients may misjudge its features.
func versionLDFlags(version string) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	const pkg = "k8s.io/component-base/version"
	return fmt.Sprintf("-X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s", pkg, version, major, minor)
}

// toolVersion reads the version of module that the tool module in toolDir
// requires.
func toolVersion(toolDir, module string) (string, error) {
	path := filepath.Join(toolDir, "go.mod")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: reading the tool module: %w", ErrUnavailable, err)
	}
	file, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", path, err)
	}
	for _, req := range file.Require {
		if req.Mod.Path == module {
			return req.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", path, module)
}

// upToDate reports whether bin exists and is newer than every input.
func upToDate(bin string, inputs []string) bool {
	binInfo, err := os.Stat(bin)
	if err != nil || !binInfo.Mode().IsRegular() {
		return false
	}
	for _, in := range inputs {
		info, err := os.Stat(in)
		if err != nil || info.ModTime().After(binInfo.ModTime()) {
			return false
		}
	}
	return true
}

// cacheDir returns $STATEFULSET_EXPORTER_CACHE, or <root>/.cache.
func cacheDir(root string) (string, error) {
	dir := os.Getenv(CacheEnv)
	if dir == "" {
		return filepath.Join(root, ".cache"), nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s=%q: %w", CacheEnv, dir, err)
	}
	return abs, nil
}

// repoRoot returns the repository root (see repo.Root); not finding it wraps
// ErrUnavailable.
func repoRoot() (string, error) {
	root, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return root, nil
}

// orDiscard returns logf, or a function that discards its input if logf is nil.
func orDiscard(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}
