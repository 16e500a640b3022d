package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/statefulset-exporter/statefulset-exporter/collector"
)

const defaultAddress = ":9817"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2 // bad flags or unusable configuration
)

// run parses args, serves until SIGINT or SIGTERM, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("statefulset-exporter", "Prometheus exporter of derived Kubernetes StatefulSet health.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Version(version.Print(collector.ProgramName))
	app.HelpFlag.Short('h')

	var (
		kube          kubeFlags
		memLimit      memLimitFlags
		collectorCfg  = collector.DefaultConfig()
		logCfg        = &promslog.Config{Writer: stderr}
		metricsPath   = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		noSelfMetrics = app.Flag("web.disable-exporter-metrics", "Exclude the Go runtime and process metrics of the exporter itself.").Bool()
		enablePprof   = app.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").Bool()
		shutdownAfter = app.Flag("web.shutdown-timeout", "How long in-flight scrapes may take to finish on SIGTERM.").Default("10s").Duration()
		// Each scrape in flight holds its gathered families until its response is
		// written. 10 leaves room for an HA Prometheus pair, agents and people on each
		// replica, and bounds a scrape storm to 10 gathers (docs/benchmarks.md).
		maxRequests = app.Flag("web.max-requests", "Maximum number of concurrent scrapes of the metrics path; beyond it the exporter answers 503. 0 means no limit.").Default("10").Int()
		// exporter-toolkit applies TLS and basic auth to every path of the server it
		// runs; Kubernetes probes cannot send credentials (without putting them in the
		// pod spec), so the probes get a listener of their own.
		probeAddress = app.Flag("web.probe-address", "Also serve /healthz and /readyz, and only them, on this address, in plain HTTP without authentication (for Kubernetes probes when --web.config.file requires basic auth or client certificates). Empty: no probe listener.").String()
		webFlags     = kingpinflag.AddFlags(app, defaultAddress)
	)
	kube.register(app)
	memLimit.register(app)
	collectorCfg.RegisterFlags(app)
	promslogflag.AddFlags(app, logCfg)

	exited := false
	app.Terminate(func(int) { exited = true })
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: %s (see --help)\n", describeParseError(err, args))
		return exitUsage
	}
	if exited { // --help or --version
		return exitOK
	}
	if err := collectorCfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: %v\n", err)
		return exitUsage
	}
	if err := memLimit.validate(); err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: %v\n", err)
		return exitUsage
	}
	if *webFlags.WebConfigFile != "" {
		if err := web.Validate(*webFlags.WebConfigFile); err != nil {
			// YAML errors span several lines ("yaml: unmarshal errors:\n  line 4: ...").
			fmt.Fprintf(stderr, "statefulset-exporter: --web.config.file: %s\n", strings.Join(strings.Fields(err.Error()), " "))
			return exitUsage
		}
	}
	restCfg, source, err := kube.restConfig()
	if err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: %v\n", err)
		return exitUsage
	}

	logger := promslog.New(logCfg)
	klog.SetSlogLogger(logger.With("component", "client-go"))
	logger.Info("starting statefulset-exporter", "version", version.Info(), "build_context", version.BuildContext())
	logger.Info("kubernetes API", "host", restCfg.Host, "config", source)
	memLimit.apply(logger)
	setGCPercent()

	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: kubernetes client: %v\n", err)
		return exitUsage
	}
	probe, err := newAPIProbe(restCfg, collectorCfg.APIProbeInterval)
	if err != nil {
		fmt.Fprintf(stderr, "statefulset-exporter: kubernetes client: %v\n", err)
		return exitUsage
	}
	coll, err := collector.New(client, collectorCfg, logger, collector.WithProbe(probe))
	if err != nil {
		logger.Error("building the collector failed", "err", err)
		return exitError
	}

	// The registry holds what is encoded on each scrape; the collector's StatefulSet
	// families are kept pre-encoded and written by its handler (newMux).
	registry := prometheus.NewRegistry()
	registry.MustRegister(coll.Others(), versioncollector.NewCollector(collector.ProgramName))
	if !*noSelfMetrics {
		registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	coll.Start(ctx)

	if *maxRequests < 0 {
		fmt.Fprintf(stderr, "statefulset-exporter: --web.max-requests must be 0 (no limit) or more, not %d\n", *maxRequests)
		return exitUsage
	}
	var probeServer *http.Server
	if *probeAddress != "" {
		l, err := net.Listen("tcp", *probeAddress)
		if err != nil {
			logger.Error("listening for probes failed", "address", *probeAddress, "err", err)
			return exitError
		}
		probeMux := http.NewServeMux()
		handleProbes(probeMux, coll)
		probeServer = &http.Server{Handler: probeMux, ReadHeaderTimeout: 10 * time.Second}
		logger.Info("serving probes without authentication", "address", l.Addr().String(), "paths", "/healthz,/readyz")
		go func() { _ = probeServer.Serve(l) }()
		defer probeServer.Close()
	}

	mux, err := newMux(registry, coll, *metricsPath, *enablePprof, *maxRequests, logger)
	if err != nil {
		logger.Error("building the landing page failed", "err", err)
		return exitError
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, webFlags, logger) }()

	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serving failed", "err", err)
			return exitError
		}
		return exitOK
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", *shutdownAfter)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownAfter)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		logger.Error("graceful shutdown failed", "err", err)
		return exitError
	}
	return exitOK
}

// describeParseError names the flag whose value kingpin rejected, since kingpin's
// value errors (e.g. `time: invalid duration "soon"`) do not.
func describeParseError(err error, args []string) string {
	msg := err.Error()
	if strings.Contains(msg, "flag") {
		return msg
	}
	for i, arg := range args {
		name, value, ok := strings.Cut(arg, "=")
		if !ok && i+1 < len(args) {
			value = args[i+1]
		}
		if strings.HasPrefix(name, "--") && value != "" && strings.Contains(msg, value) {
			return name + ": " + msg
		}
	}
	return msg
}

// newMux serves the metrics of coll and registry (which holds coll.Others(), not coll),
// the landing page and the health endpoints. At most maxRequests scrapes run at once
// (0: no limit); the handler answers 503 beyond.
func newMux(registry *prometheus.Registry, coll *collector.Collector, metricsPath string, enablePprof bool, maxRequests int, logger *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, coll.Handler(registry, collector.HandlerOpts{
		ErrorLog:            logger,
		Registry:            registry,
		MaxRequestsInFlight: maxRequests,
	}))
	handleProbes(mux, coll)
	if enablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "StatefulSet Exporter",
			Description: "Derived health of Kubernetes StatefulSets",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/healthz", Text: "Health (process alive)"},
				{Address: "/readyz", Text: "Readiness (caches synced)"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// handleProbes serves /healthz and /readyz on mux.
func handleProbes(mux *http.ServeMux, coll *collector.Collector) {
	// /healthz never depends on the API server: a control-plane failover must not get
	// the exporter restarted.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	// /readyz is ready once every watched resource has been listed once, and stays
	// ready afterwards: the caches keep serving the last known state.
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !coll.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "caches not synced yet\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}
