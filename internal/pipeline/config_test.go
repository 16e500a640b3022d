package pipeline

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/statefulset-exporter/statefulset-exporter/internal/repo"
	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// These tests need no binaries: they check the configurations the pipeline derives, so
// that a skipped end-to-end test still catches a shipped file the derivation cannot
// handle.

// TestAlertmanagerConfigKeepsShippedRouting checks that the test configuration differs
// from the shipped one only in the receivers' host and the grouping timers.
func TestAlertmanagerConfigKeepsShippedRouting(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, AlertmanagerConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	const hook = "http://127.0.0.1:12345"
	out, err := AlertmanagerConfig(shipped, hook, FastTimings)
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := yaml.Unmarshal(shipped, &before); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	timers := map[string]string{
		"group_wait": PromDuration(FastTimings.GroupWait), "group_interval": PromDuration(FastTimings.GroupInterval), "repeat_interval": PromDuration(FastTimings.RepeatInterval),
	}
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		switch av := a.(type) {
		case map[string]any:
			bv, _ := b.(map[string]any)
			for k := range bv {
				// The root route always gets the test timers, set or not in the shipped file.
				if _, ok := av[k]; !ok && (path != ".route" || timers[k] == "") {
					t.Errorf("%s.%s added", path, k)
				}
			}
			for k, v := range av {
				p := path + "." + k
				switch {
				case timers[k] != "":
					if bv[k] != timers[k] {
						t.Errorf("%s = %v, want the test timer %s", p, bv[k], timers[k])
					}
				case k == "url":
					u, err := url.Parse(v.(string))
					if err != nil {
						t.Fatal(err)
					}
					if want := hook + u.Path; bv[k] != want {
						t.Errorf("%s = %v, want %q", p, bv[k], want)
					}
				default:
					walk(p, v, bv[k])
				}
			}
		case []any:
			bv, _ := b.([]any)
			if len(av) != len(bv) {
				t.Errorf("%s: %d items, want %d", path, len(bv), len(av))
				return
			}
			for i := range av {
				walk(path+"[]", av[i], bv[i])
			}
		default:
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s = %v, want the shipped %v", path, b, a)
			}
		}
	}
	walk("", before, after)
	for _, path := range []string{"/pager", "/ticket", "/low-priority"} {
		if !strings.Contains(string(out), hook+path) {
			t.Errorf("no receiver posts to %s%s", hook, path)
		}
	}
}

// TestMixinConfigForSeconds checks the shortened rule configuration.
func TestFastMixinConfig(t *testing.T) {
	cfg := FastMixinConfig()
	if _, err := rules.Groups(cfg); err != nil {
		t.Fatal(err)
	}
	base := mixin.TestConfig()
	v, b := reflect.ValueOf(cfg), reflect.ValueOf(base)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type != reflect.TypeFor[time.Duration]() {
			continue
		}
		got, was := time.Duration(v.Field(i).Int()), time.Duration(b.Field(i).Int())
		if got != was/DurationScale {
			t.Errorf("%s = %s, want %s / %d", f.Name, got, was, DurationScale)
		}
		// Anything shorter than two evaluation intervals would fire on a single scrape;
		// 0 switches a duration off (KeepFiringFor in TestConfig).
		if got < 2*FastTimings.Scrape && was != 0 {
			t.Errorf("%s = %s is shorter than two evaluation intervals", f.Name, got)
		}
	}
}

// TestPrometheusConfigTargets checks that several replicas are targets of one job, each
// with its own target labels, and that PrometheusConfig still scrapes one target.
func TestPrometheusConfigTargets(t *testing.T) {
	targets := []Target{
		{Addr: "127.0.0.1:1001", Labels: map[string]string{"pod": "statefulset-exporter-x-a", "namespace": "monitoring"}},
		{Addr: "127.0.0.1:1002", Labels: map[string]string{"pod": "statefulset-exporter-x-b", "namespace": "monitoring"}},
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			HonorLabels   bool   `yaml:"honor_labels"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(PrometheusConfigTargets(targets, "127.0.0.1:9093", "r.yaml", "c", FastTimings), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].JobName != "statefulset-exporter" || !cfg.ScrapeConfigs[0].HonorLabels {
		t.Fatalf("want one job statefulset-exporter with honor_labels, got %+v", cfg.ScrapeConfigs)
	}
	static := cfg.ScrapeConfigs[0].StaticConfigs
	if len(static) != len(targets) {
		t.Fatalf("%d static configs, want %d", len(static), len(targets))
	}
	for i, tg := range targets {
		if !reflect.DeepEqual(static[i].Targets, []string{tg.Addr}) || !reflect.DeepEqual(static[i].Labels, tg.Labels) {
			t.Errorf("target %d: %v %v, want %s %v", i, static[i].Targets, static[i].Labels, tg.Addr, tg.Labels)
		}
	}
	one := string(PrometheusConfig("127.0.0.1:1001", "127.0.0.1:9093", "r.yaml", "c", FastTimings))
	if !strings.HasSuffix(one, "    static_configs:\n      - targets: ['127.0.0.1:1001']\n") {
		t.Errorf("PrometheusConfig does not end with its one target, without labels:\n%s", one)
	}
}
