package mixin_test

import (
	"strings"
	"testing"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

func TestJoinMatchersAndSelector(t *testing.T) {
	for _, tc := range []struct {
		lists []string
		want  string // JoinMatchers; Selector is it in braces
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{" ", "\t"}, ""},
		{[]string{`job="x"`}, `job="x"`},
		{[]string{`job="x"`, ""}, `job="x"`},
		{[]string{"", `job="x"`}, `job="x"`},
		{[]string{` job="x" `, "", `namespace=~"prod-.*"`}, `job="x", namespace=~"prod-.*"`},
		{[]string{`namespace="a"`, `job="x"`}, `namespace="a", job="x"`},
		{[]string{`job="x", instance="y"`, `lease="l"`}, `job="x", instance="y", lease="l"`},
	} {
		if got := mixin.JoinMatchers(tc.lists...); got != tc.want {
			t.Errorf("JoinMatchers(%q) = %q, want %q", tc.lists, got, tc.want)
		}
		if got, want := mixin.Selector(tc.lists...), "{"+tc.want+"}"; got != want {
			t.Errorf("Selector(%q) = %q, want %q", tc.lists, got, want)
		}
	}
}

func TestValidateRejectsBraces(t *testing.T) {
	for name, mutate := range map[string]func(*mixin.Config){
		"Selector":          func(c *mixin.Config) { c.Selector = `{job="x"}` },
		"NamespaceSelector": func(c *mixin.Config) { c.NamespaceSelector = `{namespace="prod"}` },
		"LeaseSelector":     func(c *mixin.Config) { c.LeaseSelector = `lease="a"}` },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mixin.DefaultConfig()
			mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		})
	}
	for name, cfg := range map[string]mixin.Config{"DefaultConfig": mixin.DefaultConfig(), "TestConfig": mixin.TestConfig()} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestJob(t *testing.T) {
	if job, err := mixin.DefaultConfig().Job(); err != nil || job != "statefulset-exporter" {
		t.Errorf("mixin.DefaultConfig().Job() = %q, %v", job, err)
	}
	for _, sel := range []string{`job=~"statefulset-exporter"`, `namespace="monitoring"`, `job="a"}`} {
		c := mixin.DefaultConfig()
		c.Selector = sel
		if job, err := c.Job(); err == nil {
			t.Errorf("Selector %s: Job() = %q, want an error", sel, job)
		}
	}
}
