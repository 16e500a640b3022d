package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/pipeline"
	"github.com/statefulset-exporter/statefulset-exporter/internal/simscenario"
)

// viewer renders the alerts of a running pipeline.
type viewer struct {
	p        *pipeline.Pipeline
	seeds    []simscenario.Seed
	out      io.Writer
	terminal bool
	last     string // key of the last view printed off a terminal
}

// row is one firing alert as the view shows it.
type row struct {
	namespace, statefulset string
	alert, severity        string
	pod, reason            string
	firingFor              time.Duration
	route                  string // the receiver notified, "inhibited", "silenced" or "not yet notified"
	description            string
}

// snapshot is what the view shows at one moment.
type snapshot struct {
	at      time.Time
	firing  []row
	pending int
	// quietAlerts are alerts (pending or firing) of the quiet look-alikes: there must be
	// none.
	quietAlerts []string
}

// Routes of a firing alert that has not reached a receiver.
const (
	routeInhibited = "inhibited"
	routeSilenced  = "silenced"
	routeWaiting   = "not yet notified"
)

func (v *viewer) snapshot(ctx context.Context, w *pipeline.AlertWatcher) snapshot {
	s := snapshot{at: time.Now()}
	suppressed := v.suppressed(ctx)
	notReady := v.notReadyPods(ctx)
	claims := v.claimReasons(ctx)
	quiet := map[string]bool{}
	for _, seed := range v.seeds {
		quiet[seed.Name] = seed.Quiet
	}
	for _, a := range w.Current() {
		ns := a.Labels["namespace"]
		if quiet[ns] {
			s.quietAlerts = append(s.quietAlerts, fmt.Sprintf("%s %s%s", a.State, a.Labels["alertname"], pipeline.LabelString(a.Labels)))
		}
		if a.State != "firing" {
			s.pending++
			continue
		}
		r := row{
			namespace: ns, statefulset: a.Labels["statefulset"],
			alert: a.Labels["alertname"], severity: a.Labels["severity"],
			pod: a.Labels["pod"], reason: a.Labels["reason"],
			firingFor:   s.at.Sub(a.ActiveAt).Round(time.Second),
			description: a.Annotations["description"],
		}
		if pvc := a.Labels["persistentvolumeclaim"]; pvc != "" && r.reason == "" {
			r.reason = claims[ns+"/"+pvc]
		}
		explain(&r, a.Labels, notReady[ns+"/"+r.statefulset])
		key := v.withCluster(a.Labels)
		switch n, ok := v.p.Webhook.Last(key); {
		case ok && n.Alert.Status == "firing":
			r.route = strings.TrimPrefix(n.Path, "/")
		case suppressed[pipeline.LabelString(key)] != "":
			r.route = suppressed[pipeline.LabelString(key)]
		default:
			r.route = routeWaiting
		}
		s.firing = append(s.firing, r)
	}
	slices.SortFunc(s.firing, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(severityRank(a.severity), severityRank(b.severity)),
			cmp.Compare(a.alert, b.alert), cmp.Compare(a.pod, b.pod))
	})
	return s
}

// podReason is a pod that is not Ready and why, as the exporter says.
type podReason struct{ pod, reason string }

// notReadyPods asks Prometheus which pods of each StatefulSet are not Ready and why
// (statefulset_pod_not_ready_info), keyed by namespace/statefulset, in pod order.
func (v *viewer) notReadyPods(ctx context.Context) map[string][]podReason {
	out := map[string][]podReason{}
	for _, m := range v.query(ctx, `max by (namespace, statefulset, pod, reason) (statefulset_pod_not_ready_info{job="statefulset-exporter"})`) {
		key := m["namespace"] + "/" + m["statefulset"]
		out[key] = append(out[key], podReason{m["pod"], m["reason"]})
	}
	for _, pods := range out {
		slices.SortFunc(pods, func(a, b podReason) int { return cmp.Compare(a.pod, b.pod) })
	}
	return out
}

// claimReasons asks Prometheus why each claim that is Pending or in trouble is so
// (statefulset_pvc_pending_created_timestamp_seconds, statefulset_pvc_problem_info),
// keyed by namespace/claim: the claim alerts keep the reason out of their labels, so
// that a change of reason does not restart their "for".
func (v *viewer) claimReasons(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, q := range []string{
		`max by (namespace, persistentvolumeclaim, reason) (statefulset_pvc_pending_created_timestamp_seconds{job="statefulset-exporter"})`,
		`max by (namespace, persistentvolumeclaim, reason) (statefulset_pvc_problem_info{job="statefulset-exporter"})`,
	} {
		for _, m := range v.query(ctx, q) {
			out[m["namespace"]+"/"+m["persistentvolumeclaim"]] = m["reason"]
		}
	}
	return out
}

// query returns the label sets of an instant query's result; none on any error.
func (v *viewer) query(ctx context.Context, q string) []map[string]string {
	body, err := v.p.Prometheus.Get(ctx, "/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return nil
	}
	var resp struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return nil
	}
	out := make([]map[string]string, 0, len(resp.Data.Result))
	for _, r := range resp.Data.Result {
		out = append(out, r.Metric)
	}
	return out
}

// explain fills in the pod and reason columns of a workload alert that names no pod
// (or no reason) from the pods the exporter reports not Ready: the first, and how many
// more. Alerts about a claim or an info-level risk are left as they are.
func explain(r *row, labels map[string]string, pods []podReason) {
	if len(pods) == 0 || r.severity == "info" || labels["persistentvolumeclaim"] != "" {
		return
	}
	if r.pod == "" {
		r.pod = pods[0].pod
		if len(pods) > 1 {
			r.pod += fmt.Sprintf("(+%d)", len(pods)-1)
		}
		if r.reason == "" {
			r.reason = pods[0].reason
		}
		return
	}
	if i := slices.IndexFunc(pods, func(p podReason) bool { return p.pod == r.pod }); i >= 0 && r.reason == "" {
		r.reason = pods[i].reason
	}
}

// withCluster adds the external label Prometheus attaches to the alerts it sends.
func (v *viewer) withCluster(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	out["cluster"] = clusterLabel
	return out
}

// suppressed asks Alertmanager which alerts it holds back, keyed by their labels.
func (v *viewer) suppressed(ctx context.Context) map[string]string {
	body, err := v.p.Alertmanager.Get(ctx, "/api/v2/alerts")
	if err != nil {
		return nil
	}
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State       string   `json:"state"`
			InhibitedBy []string `json:"inhibitedBy"`
			SilencedBy  []string `json:"silencedBy"`
		} `json:"status"`
	}
	if json.Unmarshal(body, &alerts) != nil {
		return nil
	}
	out := map[string]string{}
	for _, a := range alerts {
		switch {
		case len(a.Status.InhibitedBy) > 0:
			out[pipeline.LabelString(a.Labels)] = routeInhibited
		case len(a.Status.SilencedBy) > 0:
			out[pipeline.LabelString(a.Labels)] = routeSilenced
		}
	}
	return out
}

// show prints s: redrawn in place on a terminal, otherwise only when it changed.
func (v *viewer) show(s snapshot) {
	text := render(s)
	// Off a terminal, a new view only when an alert or its route changed, not every time
	// the firing durations tick.
	if key := s.key(); !v.terminal {
		if key == v.last {
			return
		}
		v.last = key
	}
	if v.terminal {
		fmt.Fprint(v.out, "\033[H\033[2J")
	}
	fmt.Fprintf(v.out, "%s  %s", s.at.Format(time.TimeOnly), text)
}

// render formats the firing alerts as a table, each followed by its description.
func render(s snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d alert(s) firing, %d pending\n\n", len(s.firing), s.pending)
	if len(s.firing) == 0 {
		return b.String()
	}
	// The table is aligned over the alert lines only; each description follows its
	// alert unaligned.
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATEFULSET\tALERT\tSEVERITY\tPOD\tREASON\tFIRING\tROUTED TO")
	for _, r := range s.firing {
		where := r.namespace + "/" + r.statefulset
		if r.namespace == "" {
			where = "(cluster)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", where, r.alert, r.severity, dash(r.pod), dash(r.reason), r.firingFor, r.route)
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	b.WriteString(lines[0] + "\n")
	for i, r := range s.firing {
		b.WriteString(lines[i+1] + "\n")
		if r.description != "" {
			fmt.Fprintf(&b, "    %s\n", oneLine(r.description))
		}
	}
	if len(s.quietAlerts) > 0 {
		fmt.Fprintf(&b, "\nunexpected alerts of healthy look-alikes: %s\n", strings.Join(s.quietAlerts, "; "))
	}
	return b.String()
}

// waitAll waits until every broken seed has a firing alert above info severity, every
// firing alert has been routed (notified, inhibited or silenced), and the firing alerts
// have not changed for stableFor; then it prints the view. It fails at once if a quiet
// seed alerts, and after timeout if a broken seed never alerted.
func (v *viewer) waitAll(ctx context.Context, w *pipeline.AlertWatcher, since time.Time, timeout time.Duration) error {
	deadline := since.Add(timeout)
	var lastKey string
	var lastChange time.Time
	for {
		s := v.snapshot(ctx, w)
		if len(s.quietAlerts) > 0 {
			v.show(s)
			return fmt.Errorf("healthy look-alikes raised alerts: %s", strings.Join(s.quietAlerts, "; "))
		}
		if key := s.key(); key != lastKey {
			lastKey, lastChange = key, s.at
		}
		silent := v.silentSeeds(s)
		unrouted := slices.ContainsFunc(s.firing, func(r row) bool { return r.route == routeWaiting })
		if len(silent) == 0 && !unrouted && s.at.Sub(lastChange) >= stableFor {
			v.show(s)
			return nil
		}
		if time.Now().After(deadline) {
			v.show(s)
			return fmt.Errorf("within %s of the breakage, no alert fired for %s (or an alert was never routed)\n%s",
				timeout, strings.Join(silent, ", "), v.p.Logs(30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// stableFor is how long the firing alerts must stay the same before --once prints
// them: longer than the "for" of the demo's rules (a few seconds), so that the slower
// alerts of a StatefulSet (a stuck pod after the workload went down) are in.
const stableFor = 10 * time.Second

// key identifies the firing alerts and their routes, without the times.
func (s snapshot) key() string {
	var b strings.Builder
	for _, r := range s.firing {
		fmt.Fprintf(&b, "%s/%s %s %s %s\n", r.namespace, r.alert, r.pod, r.reason, r.route)
	}
	return b.String()
}

// silentSeeds returns the broken seeds without a firing alert above info.
func (v *viewer) silentSeeds(s snapshot) []string {
	var out []string
	for _, seed := range v.seeds {
		if seed.Quiet {
			continue
		}
		if !slices.ContainsFunc(s.firing, func(r row) bool {
			return r.namespace == seed.Name && (r.severity != "info" || seed.InfoOnly)
		}) {
			out = append(out, seed.Name)
		}
	}
	return out
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	default:
		return 2
	}
}

func dash(s string) string { return cmp.Or(s, "-") }

// oneLine collapses the white space of s, line breaks included.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
