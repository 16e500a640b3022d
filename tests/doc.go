// Package tests holds the repository-level checks of the alerting mixin: promtool runs
// the rule unit tests (tests/*.yaml) and checks rules/, amtool checks the example
// Alertmanager configuration (deploy/alertmanager), and Go tests keep the rules, the
// metrics reference (docs/metrics.md), the runbooks (docs/runbooks.md) and the unit tests
// in agreement. Run them with `go test ./tests/`.
package tests
