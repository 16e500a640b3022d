package e2e

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Exporter thresholds, passed as flags. They are shorter than the "for" durations of the
// test rules, as the defaults are (10m and 5m against minutes of "for").
const (
	rolloutStallAfter     = 5 * time.Second
	terminatingStuckAfter = 2 * time.Second
	apiProbeInterval      = 1 * time.Second
)

// Prometheus and Alertmanager timing for the test.
const (
	scrapeInterval = 1 * time.Second // also evaluation_interval
	// groupWait is Alertmanager's group_wait. The shipped 30s gives an inhibiting alert
	// that fires in the same evaluation as its target time to arrive; 2s still covers one
	// evaluation interval plus sending.
	groupWait     = 2 * time.Second
	groupInterval = 2 * time.Second
	// repeatInterval is long enough that no notification repeats during the test.
	repeatInterval = time.Hour
)

// clusterLabel is set as an external label of the test Prometheus, the way a
// single-cluster setup names its cluster: it is attached to every alert sent to
// Alertmanager, whose grouping and inhibitions use it.
const clusterLabel = "e2e"

// durationScale shortens the durations of mixin.TestConfig (minutes and half minutes) to
// seconds. Dividing every duration by the same factor keeps the order between them that
// the shipped inhibitions rely on: for example StatefulSetNoReplicasReady fires before
// StatefulSetPodsCrashLooping, which it inhibits.
const durationScale = 10

// testMixinConfig returns mixin.TestConfig with every time.Duration field divided by
// durationScale. Fields added to mixin.Config later are shortened too.
//
// One exception: StatefulSetHighRestartRate reads a 5-minute rate (the recording rule),
// which no configuration shortens. Its "for" keeps the default so that it never fires
// here: the scenarios write a pod's restartCount in one jump right after creating it,
// which a scrape can catch in between, and a 5-minute rate of that jump with a
// seconds-long "for" would fire at random, unlike a real crash loop, whose restarts the
// kubelet's back-off spreads over minutes.
func testMixinConfig() mixin.Config {
	c := mixin.TestConfig()
	v := reflect.ValueOf(&c).Elem()
	durationType := reflect.TypeFor[time.Duration]()
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == durationType {
			f.SetInt(f.Int() / durationScale)
		}
	}
	c.RestartRateFor = mixin.DefaultConfig().RestartRateFor
	return c
}

// prometheusConfig scrapes the exporter as job "statefulset-exporter" (the selector of
// the default configuration) with honor_labels, as the shipped ServiceMonitor does, and
// sends alerts to the Alertmanager at alertmanagerAddr.
func prometheusConfig(exporterAddr, alertmanagerAddr, ruleFileName string) []byte {
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
      - targets: ['%[5]s']
`, promDuration(scrapeInterval), clusterLabel, ruleFileName, alertmanagerAddr, exporterAddr)
}

// alertmanagerConfig returns the shipped Alertmanager configuration with two kinds of
// changes, made on the parsed YAML so that the routing tree, the matchers and the
// inhibitions stay exactly as shipped:
//
//   - every webhook receiver URL keeps its path (/pager, /ticket, /low-priority) but points
//     at webhookURL instead of the placeholder host;
//   - every group_wait, group_interval and repeat_interval in the routing tree is replaced
//     with the test's short timers.
//
// Receivers that are not webhooks are an error: the test could not observe them, and
// Alertmanager would try to reach real services.
func alertmanagerConfig(shipped []byte, webhookURL string) ([]byte, error) {
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
	// The root route always gets the test timers (a missing key would mean Alertmanager's
	// defaults, which are minutes); child routes only where they override them.
	route["group_wait"], route["group_interval"], route["repeat_interval"] = promDuration(groupWait), promDuration(groupInterval), promDuration(repeatInterval)
	shortenTimers(route)

	receivers, ok := doc["receivers"].([]any)
	if !ok || len(receivers) == 0 {
		return nil, fmt.Errorf("alertmanager.yaml: no receivers")
	}
	for _, r := range receivers {
		recv, _ := r.(map[string]any)
		name, _ := recv["name"].(string)
		for key := range recv {
			if key != "name" && key != "webhook_configs" {
				return nil, fmt.Errorf("alertmanager.yaml: receiver %q has %s, the end-to-end test only intercepts webhook_configs", name, key)
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

func shortenTimers(route map[string]any) {
	for key, d := range map[string]time.Duration{"group_wait": groupWait, "group_interval": groupInterval, "repeat_interval": repeatInterval} {
		if _, ok := route[key]; ok {
			route[key] = promDuration(d)
		}
	}
	children, _ := route["routes"].([]any)
	for _, c := range children {
		if child, ok := c.(map[string]any); ok {
			shortenTimers(child)
		}
	}
}

// promDuration formats d the way Prometheus and Alertmanager write durations ("1h").
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// receiverPath returns the webhook path of the shipped receiver for a severity.
func receiverPath(severity string) string {
	switch severity {
	case "critical":
		return "/pager"
	case "info":
		return "/low-priority"
	default:
		return "/ticket"
	}
}

// oneLine shortens a text for log output.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
