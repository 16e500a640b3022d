package rules

import (
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// recordingGroup holds the recording rules, named level:metric:operations. They keep the
// StatefulSet labels only: taking the max across series drops the target labels of the
// exporter (instance, pod) and deduplicates the two exporter pods that both get scraped
// for a moment during the exporter's own rolling update, or the replicas of the exporter.
// A sum would count them twice. Stale replicas are left out (builder.go).
func recordingGroup(b *builder) rulefmt.RuleGroup {
	return rulefmt.RuleGroup{
		Name: "statefulset-recording",
		Rules: []rulefmt.Rule{
			// Container restarts per second. The counter survives pod re-creation, so a
			// StatefulSet whose pods are deleted and recreated keeps its history.
			b.record(mixin.RecordContainerRestartsRate5m, `
				max by (<sts>) (
				  rate(statefulset_container_restarts_total{<w>}[5m]) <only-fresh>
				)`),
		},
	}
}
