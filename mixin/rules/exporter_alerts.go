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
				// page whoever would have been paged. With several replicas it fires when
				// no fresh replica reaches the API (a replica that does is enough: its data
				// is current), whatever stale replicas last said (builder.go).
				expr: `
					min by (<c,>job) (statefulset_exporter_api_reachable{<x>}) == 0
					unless on (<c,>job)
					<fresh>`,
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
				// Critical: while the exporter is gone no StatefulSet or control-plane
				// alert can fire, and a pod that has not come back within the "for" (longer
				// than an eviction from a dead node) will not without a human: crash loop,
				// image, RBAC, a changed service discovery.
				expr:     b.absentExpr(),
				for_:     c.ExporterAbsentFor,
				severity: severityCritical,
				summary:  "statefulset-exporter is not being scraped.",
				description: fmt.Sprintf(`
					No statefulset-exporter target matching {%s}%s has been up for %s. No StatefulSet or control-plane alert can fire while it is gone.`,
					c.Selector, b.absentWhere(), dur(c.ExporterAbsentFor)),
			}),
			b.rule(alert{
				name: "StatefulSetExporterResourceFailing",
				// The probe answers, so StatefulSetExporterAPIUnreachable stays quiet, but
				// the list or watch of one required kind keeps failing: RBAC revoked on it,
				// a broken conversion webhook, an etcd problem for that resource. Its cache
				// is frozen or empty and the alerts that need it are dark. max_over_time
				// bridges a watch that breaks again after each successful relist. Critical:
				// it does not recover without a human, and the pages it hides would have
				// been critical too. Any fresh replica failing counts: its frozen cache
				// takes part in the rules' max and min; a replica whose probe fails is
				// StatefulSetExporterAPIUnreachable's, or nobody's while another is fresh.
				expr: fmt.Sprintf(`
					max by (<c,>resource) (
					  max_over_time(statefulset_exporter_resource_failing{<x>, resource=~%q}[2m]) <only-fresh>
					) == 1
					and on (<c>)
					<fresh>`, kindsRegex(false)),
				for_:       c.ResourceFailingFor,
				keepFiring: c.KeepFiringFor,
				severity:   severityCritical,
				summary:    "statefulset-exporter cannot keep a resource's cache up to date.",
				description: fmt.Sprintf(`
					statefulset-exporter<where> has been failing to list or watch {{ $labels.resource }} for more than %s while the API server answers its probe: its cache of {{ $labels.resource }} is not kept up to date`,
					dur(c.ResourceFailingFor)) + b.lastErrors() +
					". These alerts cannot fire, or fire on stale data: " + darkAlerts(false) + ".",
			}),
			b.rule(alert{
				name: "StatefulSetExporterResourceDisabled",
				// An optional kind is switched off (RBAC forbids it, or the API server
				// does not serve it): the exporter stays ready and exports everything else,
				// so without this alert the alerts that need the kind would be silently
				// dark. Warning: nothing is broken now, but a human decides whether to
				// grant the access or accept the gap (and silence this).
				expr: fmt.Sprintf(`
					min by (<c,>resource) (statefulset_exporter_resource_enabled{<x>, resource=~%q} <only-fresh>) == 0`, kindsRegex(true)),
				for_:     c.ResourceDisabledFor,
				severity: severityWarning,
				summary:  "statefulset-exporter has switched off an optional resource.",
				description: fmt.Sprintf(`
					statefulset-exporter<where> has not watched {{ $labels.resource }} for more than %s: RBAC forbids listing it or the API server does not serve it`,
					dur(c.ResourceDisabledFor)) + b.lastErrors() +
					". These alerts cannot fire: " + darkAlerts(true) + ".",
			}),
		},
	}
}

// absentExpr is the expression of StatefulSetExporterAbsent. absent() of a comparison
// carries no labels, so in a multi-cluster setup it would stay quiet while any other
// cluster's exporter is up: there, every cluster whose exporter was scraped within
// ExporterAbsentLookback but is not up now fires on its own, and absent_over_time covers
// a fresh install whose exporter was never up.
func (b *builder) absentExpr() string {
	if !b.cfg.MultiCluster {
		// Fires when no target is up, whether the targets are down or gone from
		// service discovery.
		return `absent(up{<x>} == 1)`
	}
	return fmt.Sprintf(`
		(
		  max by (<c>) (max_over_time(up{<x>}[%[1]s]))
		  unless on (<c>)
		  max by (<c>) (up{<x>} == 1)
		)
		or
		absent_over_time(up{<x>}[%[1]s])`, dur(b.cfg.ExporterAbsentLookback))
}

// absentWhere names the cluster of StatefulSetExporterAbsent when it has one (not for the
// absent_over_time of a fresh install).
func (b *builder) absentWhere() string {
	if !b.cfg.MultiCluster {
		return ""
	}
	return "{{ with $labels." + b.cfg.ClusterLabel + " }} in cluster {{ . }}{{ end }}"
}

// lastErrors returns annotation text naming the reasons of the alert's resource's
// failed calls over the last 10 minutes, most frequent first.
func (b *builder) lastErrors() string {
	return b.lookup(`sort_desc(max by (reason) (increase(statefulset_exporter_api_errors_total{}[10m])) > 0)`,
		[]string{"resource"},
		`; errors in the last 10 minutes: {{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ $e.Labels.reason }}{{ end }}`)
}
