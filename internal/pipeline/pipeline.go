// Package pipeline runs statefulset-exporter's whole alerting pipeline as real processes
// on loopback, for the end-to-end test and the demo:
//
//	statefulset-exporter binary, watching a cluster through a kubeconfig
//	  -> Prometheus, scraping it and evaluating the mixin's rules
//	    -> Alertmanager, with the shipped routing tree and inhibitions
//	      -> a webhook that records every notification
//
// The rules come from the mixin with a caller-given configuration (FastMixinConfig
// shortens every "for" to seconds) and the Alertmanager configuration is
// deploy/alertmanager/alertmanager.yaml with only the receivers' base URL and the
// grouping timers replaced (AlertmanagerConfig): the same files users load, nothing
// edited by hand.
package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/statefulset-exporter/statefulset-exporter/internal/exporterbin"
	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// AlertmanagerConfigFile is the shipped Alertmanager configuration, relative to the
// repository root.
const AlertmanagerConfigFile = "deploy/alertmanager/alertmanager.yaml"

// ruleFileName is the name of the generated rule file in Prometheus's directory.
const ruleFileName = "statefulset-exporter.rules.yaml"

// Options configure Start.
type Options struct {
	// ExporterBinary is the statefulset-exporter binary (exporterbin.Build).
	ExporterBinary string
	// ExporterArgs are its flags: at least --kubeconfig. A --web.listen-address among
	// them is kept; without one the exporter gets a free port.
	ExporterArgs []string
	// Replicas, when set, replace ExporterArgs: Start runs one exporter per replica and
	// Prometheus scrapes each as a target of the same job, as the shipped ServiceMonitor
	// scrapes the two replicas of deploy/ and the chart.
	Replicas []Replica
	// Mixin configures the rules, e.g. FastMixinConfig().
	Mixin mixin.Config
	// Timings of Prometheus and Alertmanager; zero means FastTimings.
	Timings Timings
	// Cluster is the external label cluster of Prometheus; empty means "local".
	Cluster string
	// Dir is the parent of Prometheus's and Alertmanager's temporary directories; empty
	// means os.TempDir().
	Dir string
	// Logf gets one line per notification and progress messages; nil discards them.
	Logf func(string, ...any)
}

// Replica is one exporter replica of a pipeline.
type Replica struct {
	// Args are its flags, as Options.ExporterArgs.
	Args []string
	// Labels are its target labels besides job and instance, as service discovery gives
	// them to an exporter pod (namespace, pod, ...); see Target.
	Labels map[string]string
}

// Pipeline is a running pipeline. Stop it when done.
type Pipeline struct {
	// Exporter is the first (or only) exporter.
	Exporter *exporterbin.Process
	// Exporters are the exporters, in the order of Options.Replicas (one without them).
	Exporters    []*exporterbin.Process
	Prometheus   *promstack.Process
	Alertmanager *promstack.Process
	Webhook      *Webhook
	// Rules are the rule groups Prometheus loaded.
	Rules []rulefmt.RuleGroup
	// AlertmanagerConfig is the configuration Alertmanager runs with.
	AlertmanagerConfig []byte
}

// ErrUnavailable is wrapped by Start's error when Prometheus or Alertmanager is not
// installed.
var ErrUnavailable = promstack.ErrUnavailable

// Start starts the exporter, the webhook, Alertmanager and Prometheus, and returns once
// Prometheus has loaded every rule and scraped the exporter with its caches synced. ctx
// bounds start-up; Stop ends the processes (they also die with the calling process).
func Start(ctx context.Context, opts Options) (_ *Pipeline, err error) {
	promBin, promErr := promstack.FindPrometheus()
	amBin, amErr := promstack.FindAlertmanager()
	if err := errors.Join(promErr, amErr); err != nil {
		return nil, err
	}
	timings := opts.Timings
	if timings == (Timings{}) {
		timings = FastTimings
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p := &Pipeline{}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()

	groups, err := rules.Groups(opts.Mixin)
	if err != nil {
		return nil, err
	}
	ruleYAML, err := rules.RuleFileYAML(groups)
	if err != nil {
		return nil, err
	}
	p.Rules = groups
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	shipped, err := os.ReadFile(filepath.Join(root, AlertmanagerConfigFile))
	if err != nil {
		return nil, err
	}

	replicas := opts.Replicas
	if len(replicas) == 0 {
		replicas = []Replica{{Args: opts.ExporterArgs}}
	}
	var targets []Target
	for i, r := range replicas {
		x, err := exporterbin.Start(ctx, opts.ExporterBinary, r.Args...)
		if err != nil {
			return nil, fmt.Errorf("exporter %d: %w", i, err)
		}
		p.Exporters = append(p.Exporters, x)
		u, err := url.Parse(x.URL)
		if err != nil {
			return nil, err
		}
		targets = append(targets, Target{Addr: u.Host, Labels: r.Labels})
	}
	p.Exporter = p.Exporters[0]
	for i, x := range p.Exporters {
		if err := poll(ctx, time.Minute, func() error { _, err := x.Get(ctx, "/readyz"); return err }); err != nil {
			return nil, fmt.Errorf("exporter %d never became ready: %w\n%s", i, err, promstack.Tail(x.Log(), 40))
		}
	}

	p.Webhook = StartWebhook(logf)
	if p.AlertmanagerConfig, err = AlertmanagerConfig(shipped, p.Webhook.URL, timings); err != nil {
		return nil, err
	}
	p.Alertmanager, err = promstack.StartAlertmanager(ctx, promstack.AlertmanagerOptions{Binary: amBin, Dir: opts.Dir, Config: p.AlertmanagerConfig})
	if err != nil {
		return nil, err
	}
	p.Prometheus, err = promstack.StartPrometheus(ctx, promstack.PrometheusOptions{
		Binary:    promBin,
		Dir:       opts.Dir,
		Config:    PrometheusConfigTargets(targets, p.Alertmanager.Addr, ruleFileName, cmp.Or(opts.Cluster, "local"), timings),
		RuleFiles: map[string][]byte{ruleFileName: ruleYAML},
	})
	if err != nil {
		return nil, err
	}
	if err := p.waitPrometheusReady(ctx); err != nil {
		return nil, err
	}
	var urls []string
	for _, x := range p.Exporters {
		urls = append(urls, x.URL)
	}
	logf("pipeline: exporter %s, prometheus %s, alertmanager %s, webhook %s", strings.Join(urls, " and "), p.Prometheus.URL, p.Alertmanager.URL, p.Webhook.URL)
	return p, nil
}

// Stop stops every process and removes Prometheus's and Alertmanager's directories.
func (p *Pipeline) Stop() {
	if p.Prometheus != nil {
		p.Prometheus.Cleanup()
	}
	if p.Alertmanager != nil {
		p.Alertmanager.Cleanup()
	}
	if p.Webhook != nil {
		p.Webhook.Close()
	}
	for _, x := range p.Exporters {
		x.Stop()
	}
}

// Logs returns the last n lines of each process's log, for a failure message.
func (p *Pipeline) Logs(n int) string {
	var b strings.Builder
	for i, x := range p.Exporters {
		name := "exporter"
		if len(p.Exporters) > 1 {
			name = fmt.Sprintf("exporter %d", i)
		}
		fmt.Fprintf(&b, "%s log (tail):\n%s\n", name, promstack.Tail(x.Log(), n))
	}
	for _, proc := range []*promstack.Process{p.Prometheus, p.Alertmanager} {
		if proc != nil {
			fmt.Fprintf(&b, "%s log (tail):\n%s\n", proc.Name, proc.LogTail(n))
		}
	}
	return b.String()
}

// Summaries maps each alert of the rules to its summary annotation.
func (p *Pipeline) Summaries() map[string]string {
	out := map[string]string{}
	for _, g := range p.Rules {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r.Annotations["summary"]
			}
		}
	}
	return out
}

// waitPrometheusReady waits until Prometheus has loaded every rule and scraped every
// exporter successfully, with its caches synced.
func (p *Pipeline) waitPrometheusReady(ctx context.Context) error {
	ready := fmt.Sprintf(`count(up{job="statefulset-exporter"} == 1 and on (instance) statefulset_exporter_cache_synced{resource="statefulsets"} == 1) == %d`, len(p.Exporters))
	err := poll(ctx, time.Minute, func() error {
		if err := RulesLoaded(ctx, p.Prometheus, p.Rules); err != nil {
			return err
		}
		body, err := p.Prometheus.Get(ctx, "/api/v1/query?query="+url.QueryEscape(ready))
		if err != nil {
			return err
		}
		if !strings.Contains(string(body), `"result":[{`) {
			return errors.New("not every exporter is scraped yet")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prometheus not ready: %w\n%s", err, p.Prometheus.LogTail(40))
	}
	return nil
}

// RulesLoaded returns nil when prom has loaded as many rules as groups hold, and an
// error saying how many it has otherwise.
func RulesLoaded(ctx context.Context, prom *promstack.Process, groups []rulefmt.RuleGroup) error {
	want := 0
	for _, g := range groups {
		want += len(g.Rules)
	}
	body, err := prom.Get(ctx, "/api/v1/rules")
	if err != nil {
		return err
	}
	var resp struct {
		Data struct {
			Groups []struct {
				Rules []json.RawMessage `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return err
	}
	loaded := 0
	for _, g := range resp.Data.Groups {
		loaded += len(g.Rules)
	}
	if loaded != want {
		return fmt.Errorf("%d of %d rules loaded", loaded, want)
	}
	return nil
}

// poll calls fn every 100ms until it returns nil, ctx ends or timeout passes; it
// returns fn's last error then.
func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
