package collector

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
)

// ProgramName is the exporter's name in its version output and its build-info metric
// (statefulset_exporter_build_info); its self metrics share the prefix.
const ProgramName = "statefulset_exporter"

// Collector is a prometheus.Collector of derived StatefulSet, control-plane and
// self metrics. Create it with New, start it with Start.
type Collector struct {
	cfg    Config
	client kubernetes.Interface
	logger *slog.Logger
	now    func() time.Time
	probe  func(ctx context.Context) error

	watch *watcher
	trackers
	self     *selfMetrics
	recovery *recoverySignal // fired when the API probe succeeds after failing

	// memoMu serialises collections, which update the memos.
	memoMu sync.Mutex
	memoStore
	// exposeTook is how long the handler's last refresh of the pre-encoded exposition
	// took, in nanoseconds, counted in statefulset_exporter_collect_duration_seconds.
	exposeTook atomic.Int64

	startOnce sync.Once
}

// Option changes how a Collector is built.
type Option func(*Collector)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(c *Collector) { c.now = now } }

// WithProbe replaces the API reachability probe (by default the discovery client's
// ServerVersion call).
func WithProbe(probe func(ctx context.Context) error) Option {
	return func(c *Collector) { c.probe = probe }
}

// New builds a Collector and its informers. cfg must have passed Validate.
func New(client kubernetes.Interface, cfg Config, logger *slog.Logger, opts ...Option) (*Collector, error) {
	c := &Collector{
		cfg:       cfg,
		client:    client,
		logger:    logger,
		now:       time.Now,
		trackers:  trackers{restarts: newRestartTracker(), leases: newLeaseTracker()},
		self:      newSelfMetrics(allResources, apiErrorReasons),
		recovery:  newRecoverySignal(),
		memoStore: newMemoStore(),
	}
	c.probe = func(context.Context) error {
		_, err := client.Discovery().ServerVersion()
		return err
	}
	if cfg.BindDurationHistogram {
		c.binds = newBindDurations()
	}
	for _, o := range opts {
		o(c)
	}
	c.watch = &watcher{trackers: c.trackers, client: client, cfg: &c.cfg, logger: logger, now: c.now, self: c.self, recovery: c.recovery, dirty: newDirtyTracker(questionsOf)}
	if err := c.watch.buildInformers(); err != nil {
		return nil, err
	}
	return c, nil
}

// Start starts the informers and the API probe and returns at once; everything stops
// when ctx is done.
func (c *Collector) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		c.watch.start(ctx)
		go c.probeLoop(ctx)
	})
}

// WaitForSync blocks until the collector is Ready, or ctx ends. It reports whether it
// became Ready.
func (c *Collector) WaitForSync(ctx context.Context) bool {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for !c.Ready() {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
	}
	return true
}

// Ready tells whether every enabled informer has completed its first list. An optional
// kind that RBAC forbids does not hold readiness back.
func (c *Collector) Ready() bool { return c.watch.ready() }

func (c *Collector) probeLoop(ctx context.Context) {
	ticker := time.NewTicker(c.cfg.APIProbeInterval)
	defer ticker.Stop()
	failing := false
	for {
		probeCtx, cancel := context.WithTimeout(ctx, max(c.cfg.APIProbeInterval, time.Second))
		err := c.probe(probeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			reason := classifyAPIError(err)
			c.self.countAPIError("probe", reason)
			c.self.probed(false, c.now())
			c.logger.Warn("API server probe failed", "reason", reason, "err", err)
			failing = true
		} else {
			if failing {
				// Wake the list/watch retries at once instead of at their next backoff.
				c.recovery.fire()
				c.logger.Info("API server reachable again")
				failing = false
			}
			c.self.probed(true, c.now())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	describeFamilies(ch, workloadFamilies)
	describeFamilies(ch, restartsFamilies)
	describeFamilies(ch, leaseFamilies)
	if c.binds != nil {
		describeFamilies(ch, bindDurationFamilies)
	}
	describeFamilies(ch, selfFamilies)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	started := time.Now()
	c.collectWorkloads(ch)
	c.collectLeases(ch)
	c.collectBindDurations(ch)
	c.collectSelf(ch, started)
}
