package localkube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

const (
	// CacheEnv names the environment variable that overrides the cache
	// directory (default <repo>/.cache). kube-apiserver binaries are stored
	// in its "kube" subdirectory.
	CacheEnv = "STATEFULSET_EXPORTER_CACHE"

	// toolModuleDir is the module, relative to the repository root, that
	// pins the Kubernetes release kube-apiserver is built from.
	toolModuleDir = "tests/tools/kube"

	kubernetesModule = "k8s.io/kubernetes"
	apiServerPackage = kubernetesModule + "/cmd/kube-apiserver"

	// buildProgressInterval is how often a running build reports progress.
	buildProgressInterval = 30 * time.Second
)

// ErrUnavailable marks errors caused by the environment lacking what a local
// cluster needs: the etcd binary, the Go toolchain, or a kube-apiserver that
// can be built. Tests may skip on it (see the localkubetest package); every
// other error is a real failure.
var ErrUnavailable = errors.New("local Kubernetes control plane unavailable")

// KubernetesVersion returns the Kubernetes release (for example "v1.37.2")
// that tests/tools/kube pins and EnsureAPIServer builds.
func KubernetesVersion() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return toolVersion(filepath.Join(root, toolModuleDir))
}

// EnsureAPIServer returns the path of a kube-apiserver binary built from the
// k8s.io/kubernetes release pinned in tests/tools/kube/go.mod, building it
// first if needed.
//
// Binaries are cached as <cache>/kube/kube-apiserver-<version>, where <cache>
// is $STATEFULSET_EXPORTER_CACHE or <repo>/.cache. A cached binary is reused
// while it is newer than the tool module's go.mod and go.sum. The first build
// compiles all of kube-apiserver and takes several minutes (about five on two
// cores); later builds come from Go's build cache. Concurrent callers, even
// in different processes, wait for a single build. Progress is reported
// through logf, which may be nil.
//
// Failures to locate the repository or the Go toolchain, or to build, wrap
// ErrUnavailable.
func EnsureAPIServer(ctx context.Context, logf func(format string, args ...any)) (path string, err error) {
	logf = orDiscard(logf)

	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	toolDir := filepath.Join(root, toolModuleDir)
	version, err := toolVersion(toolDir)
	if err != nil {
		return "", err
	}
	dir, err := cacheDir(root)
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, "kube")
	bin := filepath.Join(dir, "kube-apiserver-"+version)
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

	if err := buildAPIServer(ctx, toolDir, version, bin, logf); err != nil {
		return "", err
	}
	return bin, nil
}

// buildAPIServer compiles kube-apiserver into bin, atomically.
func buildAPIServer(ctx context.Context, toolDir, version, bin string, logf func(string, ...any)) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("%w: building kube-apiserver needs the Go toolchain: %w", ErrUnavailable, err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	defer os.Remove(tmp) // no-op once renamed

	args := append([]string{"build", "-buildvcs=false", "-o", tmp, "-ldflags", versionLDFlags(version)}, apiServerPackage)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = toolDir
	// The tool module must be built on its own even if a go.work is around.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output

	logf("localkube: building kube-apiserver %s into %s (the first build takes several minutes; later ones hit Go's build cache)", version, bin)
	started := time.Now()
	stopProgress := reportProgress(started, logf)
	err = cmd.Run()
	stopProgress()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("building kube-apiserver %s: %w", version, ctxErr)
		}
		return fmt.Errorf("%w: building kube-apiserver %s failed: %w\ncommand (in %s): %s\noutput:\n%s",
			ErrUnavailable, version, err, toolDir, strings.Join(cmd.Args, " "), lastLines(output.Bytes(), logTailLines))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return fmt.Errorf("installing kube-apiserver: %w", err)
	}
	logf("localkube: built kube-apiserver %s in %s", version, time.Since(started).Round(time.Second))
	return nil
}

// reportProgress logs periodically until the returned function is called.
func reportProgress(started time.Time, logf func(string, ...any)) (stop func()) {
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
				logf("localkube: still building kube-apiserver (%s elapsed)", time.Since(started).Round(time.Second))
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

// toolVersion reads the k8s.io/kubernetes version required by the tool
// module in toolDir.
func toolVersion(toolDir string) (string, error) {
	path := filepath.Join(toolDir, "go.mod")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: reading the Kubernetes tool module: %w", ErrUnavailable, err)
	}
	file, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", path, err)
	}
	for _, req := range file.Require {
		if req.Mod.Path == kubernetesModule {
			return req.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", path, kubernetesModule)
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

// repoRoot finds the repository root: the closest ancestor containing the
// Kubernetes tool module, searched from this source file (which works for
// tests and `go run`) and then from the working directory (which works for a
// binary built elsewhere and run from within the repository).
func repoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, start := range starts {
		for dir := start; ; {
			if _, err := os.Stat(filepath.Join(dir, toolModuleDir, "go.mod")); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("%w: no directory containing %s/go.mod above %s",
		ErrUnavailable, toolModuleDir, strings.Join(starts, " or "))
}

// orDiscard returns logf, or a function that discards its input if logf is nil.
func orDiscard(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}
