package dashboards

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// firingAlertLabels are the labels the firing-alerts table shows: what the alerts of
// mixin/rules name besides the StatefulSet (the pod, its container or claim, Kubernetes'
// reason), then the runbook address added by firingAlerts.
var firingAlertLabels = []string{"alertname", "severity", "pod", "container", "persistentvolumeclaim", "reason", "runbook_url"}

// firingAlerts lists the firing alerts of the selected StatefulSet, each with the
// runbook_url of its rule as a label. ALERTS carries labels only, not the runbook_url
// annotation, and Grafana cannot lower-case the alert name into Config.RunbookURLPattern,
// so one label_replace per alert of mixin/rules adds it. Alerts of other rule sets
// (kubernetes-mixin's KubeStatefulSet*) are listed without one.
func firingAlerts(s scope, runbookURLs map[string]string) string {
	expr := "ALERTS" + s.alerts()
	for _, name := range slices.Sorted(maps.Keys(runbookURLs)) {
		// $ starts a capture reference in the replacement; alert names are literal regexps.
		url := strings.ReplaceAll(runbookURLs[name], "$", "$$")
		expr = fmt.Sprintf(`label_replace(%s, "runbook_url", %q, "alertname", %q)`, expr, url, name)
	}
	return fmt.Sprintf("max by (%s) (%s)", strings.Join(firingAlertLabels, ", "), expr)
}

func firingAlertsTable(s scope, runbookURLs map[string]string) *table.PanelBuilder {
	return tableOf(firingAlertLabels...).
		Height(6).
		Title("Firing alerts").
		Description("The alerts firing for this StatefulSet, as Prometheus evaluates them (before Alertmanager's "+
			"inhibitions). Click an alert for its runbook; alerts of other rule sets, such as kubernetes-mixin's, have none.").
		NoValue("No alert firing").
		WithTarget(tableQuery(firingAlerts(s, runbookURLs), "A")).
		OverrideByName("Value", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("runbook_url", []dashboard.DynamicConfigValue{hidden()}).
		OverrideByName("alertname", []dashboard.DynamicConfigValue{
			displayName("Alert"), externalLink("Runbook of ${__data.fields.alertname}", "${__data.fields.runbook_url}"),
		}).
		OverrideByName("severity", []dashboard.DynamicConfigValue{displayName("Severity"), mappings(severities...), colorText()}).
		OverrideByName("pod", []dashboard.DynamicConfigValue{displayName("Pod")}).
		OverrideByName("container", []dashboard.DynamicConfigValue{displayName("Container")}).
		OverrideByName("persistentvolumeclaim", []dashboard.DynamicConfigValue{displayName("PVC")}).
		OverrideByName("reason", []dashboard.DynamicConfigValue{displayName("Reason")})
}
