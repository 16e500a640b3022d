// Command prepare builds, before any test or the demo runs, every binary they start
// that the Go toolchain builds from the module proxy: kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (internal/localkube, cached in
// .cache/kube) and the module's promtool and amtool tools (Go's build cache).
//
// On a fresh machine these builds take several minutes on two cores; done first, they
// no longer count against the time limits of the tests that start the binaries, and
// parallel test packages do not build the same thing at once.
//
// Usage: go run ./hack/prepare [--demo]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/gotool"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
)

func main() {
	demoOnly := flag.Bool("demo", false, "build only what the demo needs (the simulated cluster's binaries)")
	flag.Parse()
	logger := log.New(os.Stderr, "prepare: ", log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := prepare(ctx, logger, *demoOnly); err != nil {
		logger.Printf("error: %v", err)
		os.Exit(1)
	}
}

func prepare(ctx context.Context, logger *log.Logger, demoOnly bool) error {
	start := time.Now()
	binaries := []localkube.Binary{localkube.APIServer, localkube.ControllerManager, localkube.Scheduler, localkube.Kwok}
	for _, b := range binaries {
		path, err := localkube.EnsureBinary(ctx, b, logger.Printf)
		if err != nil {
			return err
		}
		logger.Printf("%s: %s", b.Name, path)
	}
	if !demoOnly {
		root, err := repo.Root()
		if err != nil {
			return err
		}
		for _, name := range []string{"promtool", "amtool"} {
			path, err := gotool.Path(ctx, root, name)
			if err != nil {
				return fmt.Errorf("building %s: %w", name, err)
			}
			logger.Printf("%s: %s", name, path)
		}
	}
	logger.Printf("ready in %s", time.Since(start).Round(time.Second))
	return nil
}
