// Package rules builds the Prometheus alerting and recording rules shipped with
// statefulset-exporter from a mixin.Config.
//
// The alerts are documented in docs/runbooks.md (one section per alert, which the
// runbook_url annotation points to) and tested with promtool in tests/. Alerts derived
// from the exporter's data are meant to be inhibited in Alertmanager while the exporter
// cannot reach the API server (StatefulSetExporterAPIUnreachable), see
// deploy/alertmanager/alertmanager.yaml.
package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Groups returns the recording and alerting rule groups for cfg. The result is checked:
// every expression parses, the groups pass rulefmt's validation (templates included) and
// every alert carries a severity, a summary, a description and a runbook_url.
func Groups(cfg mixin.Config) ([]rulefmt.RuleGroup, error) {
	b, err := newBuilder(cfg)
	if err != nil {
		return nil, err
	}
	groups := []rulefmt.RuleGroup{
		recordingGroup(b),
		workloadGroup(b),
		storageGroup(b),
		controlPlaneGroup(b),
		exporterGroup(b),
		haGroup(b),
	}
	if err := check(groups); err != nil {
		return nil, err
	}
	return groups, nil
}

// Parser returns the PromQL parser the rules are checked with.
func Parser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

var alertNamePattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)

// check validates groups the way Prometheus does when it loads a rule file, plus the
// conventions of this mixin.
func check(groups []rulefmt.RuleGroup) error {
	var errs []error
	p := Parser()
	names := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if _, err := p.ParseExpr(r.Expr); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", g.Name, name, err))
			}
			if names[name] && r.Alert != "" {
				errs = append(errs, fmt.Errorf("%s: alert %s defined twice", g.Name, name))
			}
			names[name] = true
			if r.Alert == "" {
				continue
			}
			if !alertNamePattern.MatchString(r.Alert) {
				errs = append(errs, fmt.Errorf("%s: alert name %q is not CamelCase", g.Name, r.Alert))
			}
			switch r.Labels["severity"] {
			case severityCritical, severityWarning, severityInfo:
			default:
				errs = append(errs, fmt.Errorf("%s: %s: severity %q", g.Name, r.Alert, r.Labels["severity"]))
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					errs = append(errs, fmt.Errorf("%s: %s: no %s annotation", g.Name, r.Alert, a))
				}
			}
		}
	}
	content, err := RuleFileYAML(groups)
	if err != nil {
		return err
	}
	if _, perrs := rulefmt.Parse(content, false, model.LegacyValidation, p, slog.New(slog.DiscardHandler)); len(perrs) > 0 {
		errs = append(errs, perrs...)
	}
	return errors.Join(errs...)
}

// AlertNames returns the names of the alerts in groups, in order.
func AlertNames(groups []rulefmt.RuleGroup) []string {
	var names []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}
