// Command soak runs statefulset-exporter for a long time on the simulated EKS cluster
// (internal/simcluster) under churn, with the whole alerting pipeline
// (internal/pipeline: Prometheus with the shipped rules, Alertmanager with the shipped
// routing, a webhook recording the notifications), and checks three things at the end:
//
//   - the alerts that fired are exactly those expected: the deliberately broken
//     StatefulSets' alerts fire, naming the pod and why, and the repaired one's resolve;
//     nothing else fires through pods flapping, pods deleted, StatefulSets scaled, the
//     controllers' Leases moving and kube-apiserver restarts;
//   - the exporter's goroutines, heap and resident memory stay below a bound set by
//     their maximum during the warm-up, and do not trend upwards;
//   - the exporter, Prometheus and Alertmanager ran throughout.
//
// It prints a markdown report and exits 1 when a check fails. hack/soak.sh runs it; it
// is not part of go test.
//
//	go run ./cmd/soak --duration=1h
//	go run ./cmd/soak --duration=12m --apiserver-restart-every=3m --warmup=4m   # a short run
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/localkube"
	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simcluster"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Exporter flags of the soak: the rollout threshold is shortened so that the broken
// rollout is reported within the short run (the default is 10m); everything else is
// the exporter's default, and the rules are the shipped ones.
var exporterFlags = []string{
	"--rollout.stall-after=1m",
	"--terminating.stuck-after=30s",
	"--api.probe-interval=2s",
}

// clusterLabel is the soak Prometheus's external label cluster.
const clusterLabel = "soak"

// timings of Prometheus and Alertmanager: a scrape every 2s (fine-grained figures, and
// an hour of it stays small), notifications within seconds, no repeat within the run.
var timings = pipeline.Timings{Scrape: 2 * time.Second, GroupWait: 2 * time.Second, GroupInterval: 2 * time.Second, RepeatInterval: 24 * time.Hour}

type options struct {
	duration, warmup, sampleEvery     time.Duration
	apiRestartEvery, apiDown          time.Duration
	cmFailoverAt, schedulerFailoverAt time.Duration
	breakAt, repairAfter              time.Duration
	flapEvery, flapFor, scaleEvery    time.Duration
	deleteEvery                       time.Duration
	report                            string
}

func main() {
	app := kingpin.New("soak", "Run statefulset-exporter under churn on a simulated EKS cluster and check its alerts and resources.")
	var o options
	app.Flag("duration", "How long the churn runs, after start-up.").Default("1h").DurationVar(&o.duration)
	app.Flag("warmup", "Samples before this are the warm-up that sets the resource bounds.").Default("10m").DurationVar(&o.warmup)
	app.Flag("sample-every", "How often the exporter's goroutines and memory are sampled.").Default("30s").DurationVar(&o.sampleEvery)
	app.Flag("apiserver-restart-every", "Period of the kube-apiserver restarts (0: none).").Default("10m").DurationVar(&o.apiRestartEvery)
	app.Flag("apiserver-down", "How long kube-apiserver stays killed before it is started again (its start-up comes on top).").Default("0s").DurationVar(&o.apiDown)
	app.Flag("cm-failover-at", "When kube-controller-manager is killed and started again (default: 45% of --duration).").DurationVar(&o.cmFailoverAt)
	app.Flag("scheduler-failover-at", "When kube-scheduler is killed and started again (default: 75% of --duration).").DurationVar(&o.schedulerFailoverAt)
	app.Flag("break-at", "When the broken StatefulSets are broken.").Default("1m").DurationVar(&o.breakAt)
	app.Flag("repair-after", "How long after its alert fired the broken rollout is repaired.").Default("2m").DurationVar(&o.repairAfter)
	app.Flag("flap-every", "Period of the flapper's bursts.").Default("40s").DurationVar(&o.flapEvery)
	app.Flag("flap-for", "How long a pod stays unready in a readiness burst.").Default("20s").DurationVar(&o.flapFor)
	app.Flag("scale-every", "Period of the churn StatefulSet's scalings (3 <-> 4 replicas).").Default("3m").DurationVar(&o.scaleEvery)
	app.Flag("delete-every", "Period of the churn StatefulSet's pod deletions.").Default("2m").DurationVar(&o.deleteEvery)
	app.Flag("report", "Also write the markdown report to this file.").StringVar(&o.report)
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}
	if o.cmFailoverAt == 0 {
		o.cmFailoverAt = o.duration * 45 / 100
	}
	if o.schedulerFailoverAt == 0 {
		o.schedulerFailoverAt = o.duration * 75 / 100
	}
	logger := log.New(os.Stderr, "soak: ", log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := soak(ctx, logger, o)
	if err != nil {
		logger.Printf("error: %v", err)
		os.Exit(1)
	}
	text := report.Markdown()
	fmt.Print(text)
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(text), 0o644); err != nil {
			logger.Printf("writing %s: %v", o.report, err)
		}
	}
	if report.Failed() {
		os.Exit(1)
	}
}

func soak(ctx context.Context, logger *log.Logger, o options) (Report, error) {
	logf := logger.Printf
	dir, err := os.MkdirTemp("", "statefulset-exporter-soak-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)

	logf("starting the simulated EKS cluster")
	cluster, err := simcluster.Start(ctx, simcluster.Options{Dir: dir})
	if err != nil {
		return Report{}, err
	}
	defer cluster.Stop()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig, false); err != nil {
		return Report{}, err
	}
	binary, err := exporterbin.Build(ctx, dir)
	if err != nil {
		return Report{}, err
	}
	logf("creating the workloads")
	if err := setupWorkloads(ctx, cluster); err != nil {
		return Report{}, err
	}
	cfg := mixin.DefaultConfig()
	p, err := pipeline.Start(ctx, pipeline.Options{
		ExporterBinary: binary,
		ExporterArgs:   append([]string{"--kubeconfig=" + kubeconfig}, exporterFlags...),
		Mixin:          cfg,
		Timings:        timings,
		Cluster:        clusterLabel,
		Dir:            dir,
	})
	if err != nil {
		return Report{}, err
	}
	defer p.Stop()
	logf("pipeline up: exporter %s, Prometheus %s, Alertmanager %s", p.Exporter.URL, p.Prometheus.URL, p.Alertmanager.URL)

	r := Report{Started: time.Now()}
	r.Settings = settings(o, cfg)
	runCtx, stopChurn := context.WithTimeout(ctx, o.duration)
	defer stopChurn()
	alerts := pipeline.WatchAlerts(runCtx, p.Prometheus, time.Second)
	leases := watchLeases(runCtx, cluster.Client)
	count := newCounter()
	var samples sampler
	var wg sync.WaitGroup
	wg.Go(func() { samples.run(runCtx, p.Exporter, o.sampleEvery) })
	fl := &flapper{client: cluster.Client, count: count, logf: logf, flapFor: o.flapFor,
		maxCrashes: cfg.RestartsThreshold - 1, crashWindow: cfg.RestartsWindow + 10*time.Minute}
	wg.Go(func() { fl.run(runCtx, o.flapEvery) })
	wg.Go(func() { scaler(runCtx, cluster.Client, count, logf, o.scaleEvery) })
	wg.Go(func() { deleter(runCtx, cluster.Client, count, logf, o.deleteEvery) })
	cp := &controlPlane{c: cluster, count: count, logf: logf, down: o.apiDown}
	wg.Go(func() { cp.supervise(runCtx) })
	var problems []string
	var maxOutage time.Duration
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
		logf(format, args...)
	}
	wg.Go(func() {
		// No restart in the last minute: the run would end before the controllers lead
		// again.
		for k := 1; o.apiRestartEvery > 0 && time.Duration(k)*o.apiRestartEvery+time.Minute <= o.duration; k++ {
			if !sleepUntil(runCtx, r.Started.Add(time.Duration(k)*o.apiRestartEvery)) {
				return
			}
			logf("restarting kube-apiserver")
			outage, err := cp.restartAPIServer(runCtx)
			count.add("API server restarts", err)
			if err != nil && runCtx.Err() == nil {
				problem("kube-apiserver restart %d: %v", k, err)
			}
			mu.Lock()
			maxOutage = max(maxOutage, outage)
			mu.Unlock()
			logf("kube-apiserver back after %s", outage.Round(100*time.Millisecond))
		}
	})
	for _, f := range []struct {
		name string
		at   time.Duration
	}{{localkube.ControllerManagerName, o.cmFailoverAt}, {localkube.SchedulerName, o.schedulerFailoverAt}} {
		wg.Go(func() {
			if !sleepUntil(runCtx, r.Started.Add(f.at)) {
				return
			}
			logf("failover of %s", f.name)
			err := cp.failover(runCtx, f.name)
			count.add(f.name+" failovers", err)
			if err != nil && runCtx.Err() == nil {
				problem("failover of %s: %v", f.name, err)
			}
		})
	}
	repaired := false
	wg.Go(func() {
		if !sleepUntil(runCtx, r.Started.Add(o.breakAt)) {
			return
		}
		logf("breaking %s and %s", nsRollout, nsStuck)
		if err := breakRollout(runCtx, cluster.Client); err != nil {
			problem("breaking %s: %v", nsRollout, err)
			return
		}
		if err := breakStuck(runCtx, cluster.Client); err != nil {
			problem("breaking %s: %v", nsStuck, err)
		}
		// Repair the rollout repairAfter after its alert fired, so that its resolution
		// is seen within the run.
		var fired time.Time
		err := wait.PollUntilContextCancel(runCtx, time.Second, false, func(context.Context) (bool, error) {
			a, ok := alerts.Firing(map[string]string{"alertname": "StatefulSetRolloutStalled", "namespace": nsRollout})
			fired = a.FirstFiring
			return ok, nil
		})
		if err != nil || !sleepUntil(runCtx, fired.Add(o.repairAfter)) {
			return
		}
		logf("repairing %s", nsRollout)
		for runCtx.Err() == nil {
			if err := repairRollout(runCtx, cluster.Client); err == nil {
				mu.Lock()
				repaired = true
				mu.Unlock()
				return
			} else {
				logf("repairing %s: %v", nsRollout, err)
			}
			time.Sleep(time.Second)
		}
	})

	logf("churning for %s", o.duration)
	watchProcesses(runCtx, p, problem)
	wg.Wait()
	r.Ended = time.Now()
	logf("churn over; collecting the results")

	mu.Lock()
	r.Problems = problems
	wasRepaired, outage := repaired, maxOutage
	mu.Unlock()
	final, err := firingNow(ctx, p)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("reading Prometheus's alerts at the end: %v", err))
	}
	if n, err := alerts.Errors(); n > 10 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d polls of Prometheus's alerts failed (last: %v)", n, err))
	}
	if bad := p.Webhook.BadRequests(); len(bad) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d bad webhook requests, the first: %s", len(bad), bad[0]))
	}
	transitions := leases.Transitions()
	dead := leases.LongestDead()
	r.Expected = expectations(cfg, transitions, dead, wasRepaired, outage)
	r.Verdict = Judge(r.Expected, firedAlerts(alerts.All(), p.Webhook.All(), final))
	r.Bounds = CheckBounds(samples.all(), r.Started, o.warmup, Bounds)
	r.Churn = churnLines(count, transitions, dead, cfg)
	return r, nil
}

// expectations are the alerts the breakage raises: the stalled rollout and the stuck
// pod must fire, naming the pod; their consequences may. ControlPlaneLeaderFlapping
// may fire for a Lease only if the soak itself saw it change holder
// LeaderChangesThreshold times within LeaderChangesWindow, ControlPlaneNoLeader only
// for a Lease the soak saw without a live holder for NoLeaderFor, and
// StatefulSetExporterAPIUnreachable only if an API server restart lasted longer than its
// "for": then it is the alert doing its job, not a phantom.
func expectations(cfg mixin.Config, transitions map[string][]time.Time, dead map[string]time.Duration, repaired bool, maxOutage time.Duration) []Expectation {
	rollout := map[string]string{"namespace": nsRollout, "statefulset": nsRollout}
	stuck := map[string]string{"namespace": nsStuck, "statefulset": nsStuck}
	with := func(labels map[string]string, k, v string) map[string]string {
		out := maps.Clone(labels)
		out[k] = v
		return out
	}
	out := []Expectation{
		{Alert: "StatefulSetRolloutStalled", Labels: with(rollout, "pod", nsRollout+"-2"), Required: true, Repaired: repaired,
			Mentions: `waiting for pod ` + nsRollout + `-2 \((CrashLoopBackOff|ContainerTerminated|ReadinessFailing)`, Why: "rollout to a crash-looping container"},
		{Alert: "StatefulSetPodStuckTerminating", Labels: with(stuck, "pod", nsStuck+"-1"), Required: true,
			Mentions: `\(node status: ready\)`, Why: "pod held by a finalizer"},
		// Consequences: the new pod restarts again and again, and stays unready.
		{Alert: "StatefulSetContainerRestarting", Labels: rollout, Why: "the crash-looping pod"},
		{Alert: "StatefulSetPodsCrashLooping", Labels: rollout, Why: "the crash-looping pod"},
		{Alert: "StatefulSetReplicasNotReady", Labels: rollout, Why: "the crash-looping pod"},
		{Alert: "StatefulSetReplicasNotReady", Labels: stuck, Why: "the stuck pod is not replaced"},
	}
	for _, lease := range []string{localkube.ControllerManagerName, localkube.SchedulerName} {
		if n := MaxInWindow(transitions[lease], cfg.LeaderChangesWindow); n >= cfg.LeaderChangesThreshold {
			out = append(out, Expectation{Alert: "ControlPlaneLeaderFlapping", Labels: map[string]string{"lease": lease},
				Why: fmt.Sprintf("%d leader changes seen within %s", n, cfg.LeaderChangesWindow)})
		}
		if d := dead[lease]; d >= cfg.NoLeaderFor {
			out = append(out, Expectation{Alert: "ControlPlaneNoLeader", Labels: map[string]string{"lease": lease},
				Why: fmt.Sprintf("no live holder for %s", d.Round(time.Second))})
		}
	}
	if maxOutage >= cfg.APIUnreachableFor {
		out = append(out, Expectation{Alert: "StatefulSetExporterAPIUnreachable",
			Why: fmt.Sprintf("kube-apiserver was down for %s, its for is %s", maxOutage.Round(100*time.Millisecond), cfg.APIUnreachableFor)})
	}
	return out
}

// firedAlerts merges what Prometheus showed firing (polled every second) with what
// Alertmanager notified (which sees an alert that fired between two polls), by alert
// name and labels; final holds the label strings of the alerts firing at the end.
func firedAlerts(seen []pipeline.SeenAlert, notified []pipeline.Notification, final map[string]bool) []Fired {
	byKey := map[string]*Fired{}
	var order []string
	add := func(labels map[string]string, at time.Time, description string) *Fired {
		labels = maps.Clone(labels)
		delete(labels, "cluster") // the external label, on notifications only
		key := pipeline.LabelString(labels)
		f := byKey[key]
		if f == nil {
			f = &Fired{Alert: labels["alertname"], Labels: labels, First: at, Description: description, FiringAtEnd: final[key]}
			byKey[key] = f
			order = append(order, key)
		}
		if at.Before(f.First) {
			f.First = at
		}
		return f
	}
	for _, s := range seen {
		if !s.FirstFiring.IsZero() {
			add(s.Labels, s.FirstFiring, s.FiringMessage)
		}
	}
	for _, n := range notified {
		if n.Alert.Status == "firing" {
			add(n.Alert.Labels, n.At, n.Alert.Annotations["description"])
		}
	}
	out := make([]Fired, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// firingNow returns the label strings of the alerts Prometheus has firing.
func firingNow(ctx context.Context, p *pipeline.Pipeline) (map[string]bool, error) {
	body, err := p.Prometheus.Get(ctx, "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data struct {
			Alerts []pipeline.ActiveAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, a := range resp.Data.Alerts {
		if a.State == "firing" {
			out[pipeline.LabelString(a.Labels)] = true
		}
	}
	return out, nil
}

// watchProcesses returns when ctx ends, reporting a process of the pipeline that exited
// meanwhile.
func watchProcesses(ctx context.Context, p *pipeline.Pipeline, problem func(string, ...any)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		switch {
		case p.Exporter.Exited():
			problem("the exporter exited: %v\n%s", p.Exporter.ExitErr(), p.Logs(40))
			return
		case p.Prometheus.Exited(), p.Alertmanager.Exited():
			problem("Prometheus or Alertmanager exited\n%s", p.Logs(40))
			return
		}
	}
}

// sampler reads the exporter's goroutines and memory from its /metrics.
type sampler struct {
	mu      sync.Mutex
	samples []Sample
	errs    int
}

func (s *sampler) run(ctx context.Context, exp *exporterbin.Process, every time.Duration) {
	for {
		body, err := exp.Get(ctx, "/metrics")
		if err == nil {
			var smp Sample
			smp, err = parseSample(body)
			smp.At = time.Now()
			if err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, smp)
				s.mu.Unlock()
			}
		}
		if err != nil && ctx.Err() == nil {
			s.mu.Lock()
			s.errs++
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (s *sampler) all() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// parseSample reads go_goroutines, go_memstats_heap_inuse_bytes and
// process_resident_memory_bytes from an exposition.
func parseSample(text string) (Sample, error) {
	var s Sample
	fields := map[string]*float64{
		"go_goroutines": &s.Goroutines, "go_memstats_heap_inuse_bytes": &s.HeapInuse, "process_resident_memory_bytes": &s.RSS,
	}
	found := 0
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		dst := fields[name]
		if !ok || dst == nil {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		*dst = v
		found++
	}
	if found != len(fields) {
		return s, fmt.Errorf("found %d of the %d process metrics", found, len(fields))
	}
	return s, nil
}

func settings(o options, cfg mixin.Config) []string {
	return []string{
		fmt.Sprintf("duration %s, warm-up %s, a sample every %s", o.duration, o.warmup, o.sampleEvery),
		fmt.Sprintf("kube-apiserver restarted every %s (killed, started again after %s)", o.apiRestartEvery, o.apiDown),
		fmt.Sprintf("kube-controller-manager failover at %s, kube-scheduler failover at %s", o.cmFailoverAt, o.schedulerFailoverAt),
		fmt.Sprintf("breakage at %s; the rollout repaired %s after its alert fired", o.breakAt, o.repairAfter),
		fmt.Sprintf("flapper: a burst every %s (unready for %s; every third a single crash, at most %d per pod within %s)",
			o.flapEvery, o.flapFor, cfg.RestartsThreshold-1, cfg.RestartsWindow),
		fmt.Sprintf("churn: scaled 3 <-> 4 every %s, a pod deleted every %s", o.scaleEvery, o.deleteEvery),
		fmt.Sprintf("rules: mixin.DefaultConfig (the shipped rules); exporter flags %s", strings.Join(exporterFlags, " ")),
	}
}

func churnLines(c *counter, transitions map[string][]time.Time, dead map[string]time.Duration, cfg mixin.Config) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, what := range []string{"API server restarts", localkube.ControllerManagerName + " failovers", localkube.SchedulerName + " failovers",
		"exited and restarted", "readiness bursts", "crash bursts", "scalings", "pod deletions"} {
		line := fmt.Sprintf("%s: %d", what, c.counts[what])
		if n := c.errs[what]; n > 0 {
			line += fmt.Sprintf(" (%d failed)", n)
		}
		if notes := c.notes[what]; len(notes) > 0 {
			line += " — " + strings.Join(notes, "; ")
		}
		out = append(out, line)
	}
	for _, lease := range []string{localkube.ControllerManagerName, localkube.SchedulerName} {
		out = append(out, fmt.Sprintf("Lease %s changed holder %d times (at most %d within %s; ControlPlaneLeaderFlapping's threshold is %d), and had no live holder for at most %s (ControlPlaneNoLeader's for is %s)",
			lease, len(transitions[lease]), MaxInWindow(transitions[lease], cfg.LeaderChangesWindow), cfg.LeaderChangesWindow, cfg.LeaderChangesThreshold,
			dead[lease].Round(100*time.Millisecond), cfg.NoLeaderFor))
	}
	return out
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// waitUntil polls cond every half second until it holds, ctx ends or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, string)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, state := cond(ctx)
		last = state
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("not within %s (last: %s): %w", timeout, last, err)
	}
	return nil
}
