package pipeline

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Timings are the Prometheus and Alertmanager timers of a short-lived pipeline.
type Timings struct {
	// Scrape is the scrape and evaluation interval.
	Scrape time.Duration
	// GroupWait and GroupInterval replace Alertmanager's grouping timers everywhere in
	// the routing tree. The shipped 30s group_wait gives an inhibiting alert that fires
	// in the same evaluation as its target the time to arrive; a couple of seconds still
	// cover one evaluation interval plus sending.
	GroupWait, GroupInterval time.Duration
	// RepeatInterval should be long enough that nothing repeats while the pipeline runs.
	RepeatInterval time.Duration
}

// FastTimings scrape every second and notify within seconds.
var FastTimings = Timings{Scrape: time.Second, GroupWait: 2 * time.Second, GroupInterval: 2 * time.Second, RepeatInterval: time.Hour}

// DurationScale shortens the durations of mixin.TestConfig (minutes and half minutes) to
// seconds in FastMixinConfig.
const DurationScale = 10

// FastMixinConfig returns mixin.TestConfig with every time.Duration field divided by
// DurationScale, so that alerts fire seconds after their condition holds. Dividing every
// duration by the same factor keeps the order between them that the shipped inhibitions
// rely on: for example StatefulSetNoReplicasReady fires before
// StatefulSetPodsCrashLooping, which it inhibits. Fields added to mixin.Config later are
// shortened too.
func FastMixinConfig() mixin.Config {
	c := mixin.TestConfig()
	v := reflect.ValueOf(&c).Elem()
	durationType := reflect.TypeFor[time.Duration]()
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == durationType {
			f.SetInt(f.Int() / DurationScale)
		}
	}
	return c
}

// PrometheusConfig scrapes the exporter as job "statefulset-exporter" (the selector of
// the default mixin configuration) with honor_labels, as the shipped ServiceMonitor
// does, labels everything with the external label cluster, and sends alerts to the
// Alertmanager at alertmanagerAddr.
func PrometheusConfig(exporterAddr, alertmanagerAddr, ruleFileName, cluster string, t Timings) []byte {
	return PrometheusConfigTargets([]Target{{Addr: exporterAddr}}, alertmanagerAddr, ruleFileName, cluster, t)
}

// Target is one exporter replica Prometheus scrapes.
type Target struct {
	// Addr is host:port; Prometheus makes it the instance label, which tells replicas
	// apart in the rules (mixin/rules/builder.go).
	Addr string
	// Labels are the target labels service discovery gives the replica besides job and
	// instance (the shipped ServiceMonitor: namespace, pod, service, ...). With
	// honor_labels, a label of the same name on an exported series wins.
	Labels map[string]string
}

// PrometheusConfigTargets is PrometheusConfig for several exporter replicas: one job
// "statefulset-exporter" with one target per replica, as the shipped ServiceMonitor
// scrapes every endpoint of its Service.
func PrometheusConfigTargets(targets []Target, alertmanagerAddr, ruleFileName, cluster string, t Timings) []byte {
	var static strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&static, "      - targets: ['%s']\n", tg.Addr)
		if len(tg.Labels) > 0 {
			static.WriteString("        labels:\n")
			for _, k := range slices.Sorted(maps.Keys(tg.Labels)) {
				fmt.Fprintf(&static, "          %s: %q\n", k, tg.Labels[k])
			}
		}
	}
	return fmt.Appendf(nil, `global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
  external_labels:
    cluster: %[2]s
rule_files:
  - %[3]s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['%[4]s']
scrape_configs:
  - job_name: statefulset-exporter
    honor_labels: true
    static_configs:
%[5]s`, PromDuration(t.Scrape), cluster, ruleFileName, alertmanagerAddr, static.String())
}

// AgentConfig is the configuration of one cluster's Prometheus in agent mode in a
// multi-cluster setup (docs/multicluster.md): it scrapes the exporter like
// PrometheusConfig does and remote-writes everything, labelled with the external label
// cluster, to the central Prometheus at remoteWriteURL (its /api/v1/write). It has no
// rules and no Alertmanager: the central Prometheus evaluates the rules. The queue sends
// at least every scrape interval (the default deadline is 5s) and retries within a
// second, so that the central view lags the cluster by about one interval.
func AgentConfig(exporterAddr, remoteWriteURL, cluster string, t Timings) []byte {
	return fmt.Appendf(nil, `global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  external_labels:
    cluster: %[2]s
scrape_configs:
  - job_name: statefulset-exporter
    honor_labels: true
    static_configs:
      - targets: ['%[3]s']
remote_write:
  - url: %[4]s
    queue_config:
      batch_send_deadline: %[1]s
      min_backoff: 100ms
      max_backoff: %[1]s
`, PromDuration(t.Scrape), cluster, exporterAddr, remoteWriteURL)
}

// CentralConfig is the configuration of the central Prometheus of a multi-cluster setup:
// it scrapes nothing, receives the agents' remote writes (run it with
// --web.enable-remote-write-receiver), evaluates the rules of ruleFileName and sends
// alerts to the Alertmanager at alertmanagerAddr. It has no external label cluster: the
// label comes with every series from the agent that wrote it.
func CentralConfig(alertmanagerAddr, ruleFileName string, t Timings) []byte {
	return fmt.Appendf(nil, `global:
  evaluation_interval: %[1]s
rule_files:
  - %[2]s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['%[3]s']
`, PromDuration(t.Scrape), ruleFileName, alertmanagerAddr)
}

// AlertmanagerConfig returns the shipped Alertmanager configuration with two kinds of
// changes, made on the parsed YAML so that the routing tree, the matchers and the
// inhibitions stay exactly as shipped:
//
//   - every webhook receiver URL keeps its path (/pager, /ticket, /low-priority) but points
//     at webhookURL instead of the placeholder host;
//   - every group_wait, group_interval and repeat_interval in the routing tree is replaced
//     with the timers of t.
//
// Receivers that are not webhooks are an error: they could not be observed, and
// Alertmanager would try to reach real services.
func AlertmanagerConfig(shipped []byte, webhookURL string, t Timings) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(shipped, &doc); err != nil {
		return nil, fmt.Errorf("alertmanager.yaml: %w", err)
	}
	target, err := url.Parse(webhookURL)
	if err != nil {
		return nil, err
	}
	route, ok := doc["route"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("alertmanager.yaml: no route")
	}
	timers := map[string]string{
		"group_wait": PromDuration(t.GroupWait), "group_interval": PromDuration(t.GroupInterval), "repeat_interval": PromDuration(t.RepeatInterval),
	}
	// The root route always gets the timers (a missing key would mean Alertmanager's
	// defaults, which are minutes); child routes only where they override them.
	for k, v := range timers {
		route[k] = v
	}
	replaceTimers(route, timers)

	receivers, ok := doc["receivers"].([]any)
	if !ok || len(receivers) == 0 {
		return nil, fmt.Errorf("alertmanager.yaml: no receivers")
	}
	for _, r := range receivers {
		recv, _ := r.(map[string]any)
		name, _ := recv["name"].(string)
		for key := range recv {
			if key != "name" && key != "webhook_configs" {
				return nil, fmt.Errorf("alertmanager.yaml: receiver %q has %s, only webhook_configs can be redirected", name, key)
			}
		}
		hooks, _ := recv["webhook_configs"].([]any)
		for _, h := range hooks {
			hook, _ := h.(map[string]any)
			raw, _ := hook["url"].(string)
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("alertmanager.yaml: receiver %q: webhook url %q: %v", name, raw, err)
			}
			u.Scheme, u.Host = target.Scheme, target.Host
			hook["url"] = u.String()
		}
	}
	return yaml.Marshal(doc)
}

func replaceTimers(route map[string]any, timers map[string]string) {
	for key, d := range timers {
		if _, ok := route[key]; ok {
			route[key] = d
		}
	}
	children, _ := route["routes"].([]any)
	for _, c := range children {
		if child, ok := c.(map[string]any); ok {
			replaceTimers(child, timers)
		}
	}
}

// PromDuration formats d the way Prometheus and Alertmanager write durations ("1h").
func PromDuration(d time.Duration) string { return model.Duration(d).String() }

// ReceiverPath returns the webhook path of the shipped receiver for a severity.
func ReceiverPath(severity string) string {
	switch severity {
	case "critical":
		return "/pager"
	case "info":
		return "/low-priority"
	default:
		return "/ticket"
	}
}
