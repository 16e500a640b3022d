package dashboards

import (
	"testing"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// recordingRuleNames returns the series of the recording rules that dashboard queries
// may select besides the exporter's own series.
func recordingRuleNames(t *testing.T, cfg mixin.Config) []string {
	t.Helper()
	return nil
}
