// Command demo shows what statefulset-exporter is for. It starts a simulated EKS
// cluster on loopback (the real kube-apiserver, kube-controller-manager and
// kube-scheduler, kwok's simulated kubelets on six nodes over three zones, a simulated
// EBS CSI driver), the exporter, a Prometheus loading the shipped rules and an
// Alertmanager with the shipped routing; breaks StatefulSets the way they break in
// production; and keeps a live view of the alerts that fire, for which StatefulSet, pod
// and reason, and where they were routed, until Ctrl-C.
//
// The rules are the mixin's, generated from a configuration whose "for" durations are
// seconds instead of minutes (pipeline.FastMixinConfig); the exporter's own thresholds
// are shortened with its flags. Nothing is edited by hand.
//
//	go run ./cmd/demo             # until Ctrl-C
//	go run ./cmd/demo --once      # wait until every broken StatefulSet alerts, print the view, exit (CI)
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// Exporter thresholds of the demo, shorter than the rules' "for" durations as the
// defaults are (10m and 5m against minutes).
const (
	rolloutStallAfter     = 5 * time.Second
	terminatingStuckAfter = 2 * time.Second
)

// clusterLabel is the demo Prometheus's external label cluster.
const clusterLabel = "demo"

// onceTimeout bounds --once after the breakage: the lost node needs the node monitor
// grace period (30s), the eviction toleration and the stuck threshold before its alert's
// "for" even starts; everything else alerts within a minute.
const onceTimeout = 4 * time.Minute

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, stdout io.Writer) int {
	app := kingpin.New("demo", "Break StatefulSets on a simulated EKS cluster and watch statefulset-exporter's alerts.")
	listen := app.Flag("web.listen-address", "Where the exporter listens.").Default("127.0.0.1:9817").String()
	once := app.Flag("once", "Wait until every broken StatefulSet has a firing alert, print the view once, and exit.").Bool()
	refresh := app.Flag("refresh", "How often the live view is redrawn.").Default("2s").Duration()
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	logger := log.New(stdout, "demo: ", log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first Ctrl-C the demo cleans up; a second one ends it at once (the
	// processes it started die with it).
	context.AfterFunc(ctx, stop)
	opts := options{listen: *listen, once: *once, refresh: *refresh, terminal: isTerminal(stdout)}
	err := demo(ctx, logger, opts, stdout)
	switch {
	case err != nil && ctx.Err() != nil:
		logger.Printf("stopped")
	case err != nil:
		logger.Printf("error: %v", err)
		return 1
	}
	return 0
}

type options struct {
	listen   string
	once     bool
	refresh  time.Duration
	terminal bool // redraw in place; otherwise print the view when it changes
}

func demo(ctx context.Context, logger *log.Logger, opts options, stdout io.Writer) error {
	start := time.Now()
	since := func() time.Duration { return time.Since(start).Round(time.Second) }
	dir, err := os.MkdirTemp("", "statefulset-exporter-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	logger.Printf("starting the simulated EKS cluster")
	cluster, err := simcluster.Start(ctx, simcluster.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	logger.Printf("cluster up: %d nodes in %s (%s)", len(cluster.Nodes), zones(cluster), since())

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		return err
	}
	logger.Printf("building the exporter")
	binary, err := exporterbin.Build(ctx, dir)
	if err != nil {
		return err
	}

	seeds := simscenario.Seeds()
	logger.Printf("creating %d StatefulSets and waiting until the healthy ones are Ready", len(seeds))
	if err := simscenario.Concurrently(seeds, func(s simscenario.Seed) error {
		if s.Setup == nil {
			return nil
		}
		return s.Setup(ctx, cluster)
	}); err != nil {
		return err
	}

	p, err := pipeline.Start(ctx, pipeline.Options{
		ExporterBinary: binary,
		ExporterArgs: []string{
			"--kubeconfig=" + kubeconfig,
			"--web.listen-address=" + opts.listen,
			"--rollout.stall-after=" + rolloutStallAfter.String(),
			"--terminating.stuck-after=" + terminatingStuckAfter.String(),
			"--api.probe-interval=1s",
		},
		Mixin:   pipeline.FastMixinConfig(),
		Cluster: clusterLabel,
		Dir:     dir,
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	logger.Printf("pipeline up (%s)", since())

	fmt.Fprintf(stdout, "\n  exporter      %s/metrics\n  Prometheus    %s/alerts\n  Alertmanager  %s\n  kubeconfig    %s (admin)\n\n",
		p.Exporter.URL, p.Prometheus.URL, p.Alertmanager.URL, kubeconfig)
	fmt.Fprintf(stdout, "StatefulSets (namespace = name):\n")
	for _, s := range seeds {
		kind := "broken"
		if s.Quiet {
			kind = "fine"
		}
		fmt.Fprintf(stdout, "  %-16s %-6s %s\n", s.Name, kind, s.Description)
	}
	fmt.Fprintln(stdout)

	logger.Printf("breaking them")
	// The quiet look-alikes first, until they settle (see simscenario.Seed).
	for _, quiet := range []bool{true, false} {
		if err := simscenario.Concurrently(seeds, func(s simscenario.Seed) error {
			if s.Break == nil || s.Quiet != quiet {
				return nil
			}
			return s.Break(ctx, cluster)
		}); err != nil {
			return err
		}
	}
	brokenAt := time.Now()

	watcher := pipeline.WatchAlerts(ctx, p.Prometheus, time.Second)
	v := &viewer{p: p, seeds: seeds, out: stdout, terminal: opts.terminal && !opts.once}
	if opts.once {
		return v.waitAll(ctx, watcher, brokenAt, onceTimeout)
	}
	fmt.Fprintf(stdout, "Alerts fire once their condition has held for the rule's \"for\" (seconds here). Ctrl-C stops and cleans up.\n\n")
	tick := time.NewTicker(opts.refresh)
	defer tick.Stop()
	for {
		v.show(v.snapshot(ctx, watcher))
		select {
		case <-ctx.Done():
			logger.Printf("stopping")
			return nil
		case <-tick.C:
		}
		switch {
		case ctx.Err() != nil:
		case p.Exporter.Exited():
			return fmt.Errorf("the exporter exited: %v\n%s", p.Exporter.ExitErr(), p.Logs(40))
		case p.Prometheus.Exited(), p.Alertmanager.Exited():
			return fmt.Errorf("Prometheus or Alertmanager exited\n%s", p.Logs(40))
		}
	}
}

func zones(c *simcluster.Cluster) string {
	var zs []string
	for _, n := range c.Nodes {
		if !slices.Contains(zs, n.Zone) {
			zs = append(zs, n.Zone)
		}
	}
	return strings.Join(zs, ", ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
