// Package dashboards builds the Grafana dashboards shipped with statefulset-exporter from
// the mixin configuration, with the Grafana Foundation SDK. The generator in cmd/mixin
// writes them to dashboards/.
//
// Every query selects the exporter's series with Config.Selector (and
// Config.NamespaceSelector for workload series) and the dashboard's template variables:
// datasource, cluster (only when Config.MultiCluster), namespace and statefulset (lease on
// the control-plane dashboard).
package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

// Dashboard UIDs. They are part of the dashboards' URLs: links between the dashboards use
// them, so they never change.
const (
	overviewUID     = "sts-exporter-overview"
	statefulSetUID  = "sts-exporter-statefulset"
	controlPlaneUID = "sts-exporter-control-plane"
)

// builders lists the dashboards by file name. runbooks maps every alert of mixin/rules to
// its runbook_url.
var builders = []struct {
	file  string
	build func(cfg mixin.Config, runbooks map[string]string) *dashboard.DashboardBuilder
}{
	{"statefulset-overview.json", overview},
	{"statefulset-detail.json", statefulSet},
	{"statefulset-control-plane.json", controlPlane},
}

// Generate returns every dashboard, keyed by file name, as JSON indented by two spaces
// with a trailing newline. The output depends on cfg only.
func Generate(cfg mixin.Config) (map[string][]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	runbooks, err := alertRunbooks(cfg)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(builders))
	for _, b := range builders {
		d, err := b.build(cfg, runbooks).Build()
		if err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", b.file, err)
		}
		finalize(&d)
		data, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", b.file, err)
		}
		out[b.file] = append(unescapeHTML(data), '\n')
	}
	return out, nil
}

// finalize numbers rows and panels in layout order and names unnamed queries A, B, C…
// in panel order, as Grafana would when saving the dashboard. It also unsets the links'
// placement, which the SDK defaults to Grafana 12's controls menu, so that the links show
// above the panels in every Grafana version (panel links have no placement at all).
func finalize(d *dashboard.Dashboard) {
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	id := uint32(0)
	number := func(p *dashboard.Panel) {
		id++
		p.Id = cog.ToPtr(id)
		for i := range p.Links {
			p.Links[i].Placement = nil
		}
		for i, t := range p.Targets {
			q, ok := t.(prometheus.Dataquery)
			if !ok || q.RefId != nil {
				continue
			}
			ref := refID(i)
			q.RefId = &ref
			p.Targets[i] = q
		}
	}
	for i := range d.Panels {
		switch {
		case d.Panels[i].Panel != nil:
			number(d.Panels[i].Panel)
		case d.Panels[i].RowPanel != nil:
			row := d.Panels[i].RowPanel
			id++
			row.Id = id
			for j := range row.Panels {
				number(&row.Panels[j])
			}
		}
	}
}

// unescapeHTML undoes encoding/json's escaping of <, > and & in strings, which keeps JSON
// safe to embed in HTML but makes queries such as "x > 0" hard to read in review. The SDK's
// own MarshalJSON methods escape too, so json.Encoder.SetEscapeHTML cannot prevent it.
func unescapeHTML(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 == len(data) {
			out = append(out, data[i])
			continue
		}
		if esc := data[i:min(i+6, len(data))]; len(esc) == 6 {
			switch string(esc) {
			case `\u003c`:
				out, i = append(out, '<'), i+5
				continue
			case `\u003e`:
				out, i = append(out, '>'), i+5
				continue
			case `\u0026`:
				out, i = append(out, '&'), i+5
				continue
			}
		}
		// Any other escape, \\ included, is kept as it is.
		out, i = append(out, data[i], data[i+1]), i+1
	}
	return out
}

// alertRunbooks returns the runbook_url of every alert of the rules generated from cfg.
func alertRunbooks(cfg mixin.Config) (map[string]string, error) {
	groups, err := rules.Groups(cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	out := map[string]string{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r.Annotations["runbook_url"]
			}
		}
	}
	return out, nil
}

// refID returns A…Z, then AA, AB… for the i-th query of a panel.
func refID(i int) string {
	var b strings.Builder
	for {
		b.WriteByte(byte('A' + i%26))
		i = i/26 - 1
		if i < 0 {
			break
		}
	}
	r := []byte(b.String())
	for l, h := 0, len(r)-1; l < h; l, h = l+1, h-1 {
		r[l], r[h] = r[h], r[l]
	}
	return string(r)
}

// restartRateUnit is the Grafana unit of restart rates: restarts per second.
const restartRateUnit = "cps"

// restartRate is the container restart rate per StatefulSet (per cluster too in
// multi-cluster setups) of the StatefulSets the variables select, from the recording rule
// of mixin/rules.
func restartRate(s scope) string {
	return mixin.RecordContainerRestartsRate5m + s.recorded()
}
