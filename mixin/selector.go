package mixin

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// JoinMatchers joins lists of label matchers, such as Config.Selector and
// Config.NamespaceSelector, into one comma-separated list for use inside a selector's
// braces. It keeps their order, trims each list and leaves out empty ones, so that
// JoinMatchers(`job="x"`, "", `namespace="a"`) is `job="x", namespace="a"` and
// JoinMatchers() is "".
func JoinMatchers(lists ...string) string {
	var nonEmpty []string
	for _, m := range lists {
		if m = strings.TrimSpace(m); m != "" {
			nonEmpty = append(nonEmpty, m)
		}
	}
	return strings.Join(nonEmpty, ", ")
}

// Selector is JoinMatchers in braces: a vector selector without a metric name, "{}" when
// every list is empty.
func Selector(lists ...string) string {
	return "{" + JoinMatchers(lists...) + "}"
}

// checkMatcherLists reports a selector of c written with braces: the rules and dashboards
// join them with other matchers inside braces of their own.
func (c Config) checkMatcherLists() error {
	for _, f := range []struct{ name, value string }{
		{"Selector", c.Selector},
		{"NamespaceSelector", c.NamespaceSelector},
		{"LeaseSelector", c.LeaseSelector},
	} {
		if strings.ContainsAny(f.value, "{}") {
			return fmt.Errorf("mixin: %s %q must be a list of matchers without braces", f.name, f.value)
		}
	}
	return nil
}

// Job returns the value of Selector's job="…" matcher: the job the exporter's scrape
// configuration (ServiceMonitor, chart) must produce for the rules to match.
func (c Config) Job() (string, error) {
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(Selector(c.Selector))
	if err != nil {
		return "", fmt.Errorf("mixin: Selector %q: %w", c.Selector, err)
	}
	for _, m := range ms {
		if m.Name == "job" && m.Type == labels.MatchEqual {
			return m.Value, nil
		}
	}
	return "", fmt.Errorf("mixin: Selector %q has no job=\"…\" matcher", c.Selector)
}
