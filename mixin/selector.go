package mixin

import (
	"fmt"
	"strings"
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
