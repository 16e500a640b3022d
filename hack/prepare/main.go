// Command prepare builds, before any test or the demo runs, every binary they start
// that the Go toolchain builds from the module proxy: kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (internal/localkube, cached in
// .cache/kube) and the module's promtool and amtool tools (Go's build cache).
//
// On a fresh machine these builds take several minutes on two cores; done first, they
// no longer count against the time limits of the tests that start the binaries, and
// parallel test packages do not build the same thing at once. kube-apiserver is built
// first, then promtool and amtool alongside the other Kubernetes binaries.
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
	// kube-apiserver first: it compiles client-go, which every later build reuses.
	if err := ensure(ctx, logger, localkube.APIServer); err != nil {
		return err
	}
	// promtool and amtool have nothing else to share with the Kubernetes binaries, and
	// one go build leaves part of two cores idle: build them alongside.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tools := make(chan error, 1)
	if demoOnly {
		tools <- nil
	} else {
		go func() { tools <- buildTools(ctx, logger) }()
	}
	for _, b := range []localkube.Binary{localkube.ControllerManager, localkube.Scheduler, localkube.Kwok} {
		if err := ensure(ctx, logger, b); err != nil {
			cancel()
			<-tools
			return err
		}
	}
	if err := <-tools; err != nil {
		return err
	}
	logger.Printf("ready in %s", time.Since(start).Round(time.Second))
	return nil
}

// ensure builds b unless its cached binary is up to date.
func ensure(ctx context.Context, logger *log.Logger, b localkube.Binary) error {
	path, err := localkube.EnsureBinary(ctx, b, logger.Printf)
	if err != nil {
		return err
	}
	logger.Printf("%s: %s", b.Name, path)
	return nil
}

// buildTools builds the module's promtool and amtool into Go's build cache.
func buildTools(ctx context.Context, logger *log.Logger) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	for _, name := range []string{"promtool", "amtool"} {
		started := time.Now()
		path, err := gotool.Path(ctx, root, name)
		if err != nil {
			return fmt.Errorf("building %s: %w", name, err)
		}
		logger.Printf("%s: %s (%s)", name, path, time.Since(started).Round(time.Second))
	}
	return nil
}
