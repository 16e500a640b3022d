package rules

import (
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
)

// exporterGroup holds the alerts about the exporter itself.
func exporterGroup(b *builder) rulefmt.RuleGroup {
	c := b.cfg
	return rulefmt.RuleGroup{
		Name: "statefulset-exporter",
		Rules: []rulefmt.Rule{
			b.rule(alert{
				name: "StatefulSetExporterAPIUnreachable",
				// The exporter keeps serving the last state it saw. Its "for" is longer
				// than a normal EKS control-plane failover (about a minute), so a failover
				// does not notify; once it fires, Alertmanager inhibits the alerts derived
				// from the stale data (deploy/alertmanager/alertmanager.yaml). Critical:
				// it mutes the pages of every StatefulSet, so the blind state itself must
				// page whoever would have been paged.
				expr:     `max by (<c,>job) (statefulset_exporter_api_reachable{<x>}) == 0`,
				for_:     c.APIUnreachableFor,
				severity: severityCritical,
				summary:  "statefulset-exporter cannot reach the Kubernetes API server.",
				description: fmt.Sprintf(`
					statefulset-exporter (job {{ $labels.job }})<where> has not reached the Kubernetes API server for more than %s`,
					dur(c.APIUnreachableFor)) +
					b.lookup(`time() - max(statefulset_exporter_api_last_success_timestamp_seconds{})`, nil,
						`; its last successful call was {{ . | first | value | humanizeDuration }} ago`) +
					". The StatefulSet metrics it serves are stale and the alerts derived from them are inhibited.",
			}),
			b.rule(alert{
				name: "StatefulSetExporterAbsent",
				// Fires when no target is up, whether the targets are down or gone from
				// service discovery. absent() of a comparison carries no labels.
				expr:     `absent(up{<x>} == 1)`,
				for_:     c.ExporterAbsentFor,
				severity: severityWarning,
				summary:  "statefulset-exporter is not being scraped.",
				description: fmt.Sprintf(`
					No statefulset-exporter target matching {%s} has been up for %s. No StatefulSet alert can fire while it is gone.`,
					c.Selector, dur(c.ExporterAbsentFor)),
			}),
		},
	}
}
