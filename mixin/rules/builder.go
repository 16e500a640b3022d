package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/statefulset-exporter/statefulset-exporter/mixin"
)

// Severities. critical pages someone, warning opens a ticket or a chat message, info
// only records a risk (see deploy/alertmanager and docs/runbooks.md).
const (
	severityCritical = "critical"
	severityWarning  = "warning"
	severityInfo     = "info"
)

// builder turns the configuration into PromQL and alert annotations. Expressions and
// annotation templates are written with a few placeholders that the builder expands:
//
//	<x>      matchers of the exporter's series (Selector)
//	<w>      matchers of workload series (Selector and NamespaceSelector)
//	<l>      matchers of control-plane Lease series (Selector and LeaseSelector)
//	<c>      the cluster label in a multi-cluster setup, else nothing ("on (<c>)")
//	<c,>     the cluster label and a comma, else nothing ("by (<c,>namespace, lease)")
//	<by-c>   " by (cluster)" in a multi-cluster setup, else nothing ("max<by-c> (x)")
//	<sts>    the labels that identify a StatefulSet: <c,>namespace, statefulset
//	<ref>    (annotations) namespace/statefulset of the alert
//	<where>  (annotations) " in cluster <value>" in a multi-cluster setup, else nothing
//	<only-fresh>  after an instant vector of the exporter's series: drops the series of
//	         stale exporter replicas while another replica is fresh (see below)
//	<fresh>  the exporter replicas that are fresh: one series per replica, value 1
//
// # Several exporter replicas
//
// The exporter runs as two replicas (deploy/, the Helm chart). Both export the same
// series, told apart by their target labels (instance, pod). A replica is fresh when its
// latest statefulset_exporter_api_reachable, scraped within ReplicaStaleAfter, reads 1;
// otherwise it is stale: its API probe fails (its node is partitioned from the control
// plane: its informers see nothing new), or it is no longer scraped and its series linger
// for Prometheus' 5m lookback (it died without staleness markers, or Prometheus
// restarted), or in range functions (it died: its samples stay inside every
// max_over_time window). A replica stays known as stale for an hour after its last
// sample, longer than any range the rules read. The rule of thumb every alert follows:
//
//  1. Read the exporter's data through <only-fresh>: the series of stale replicas are left
//     out while at least one replica is fresh. When none is, nothing is left out: with a
//     single replica, or when every replica is blind, the rules see exactly what one
//     replica serves (the last state it saw), which StatefulSetExporterAPIUnreachable
//     flags and Alertmanager inhibits. A replica restart changes nothing: its old series
//     are left out as soon as they are stale and the other replica's continue.
//  2. Among fresh replicas, aggregate in the direction that never hides a bad state: max
//     of a gauge whose high value is the problem (unschedulable pods, an _info fact, a
//     generation lag), min of a gauge whose high value clears or excuses it (Ready
//     replicas, the Ready ratio, a rollout in progress, a lease held). Fresh replicas
//     agree but for the moment one informer is ahead of the other, and then the alert
//     fires a few seconds early rather than late. Aggregating to the object's labels also
//     drops the target labels, so two replicas make one alert without instance or pod.
//  3. A question about the past (did the StatefulSet exist 15m ago?) reads every replica,
//     stale or restarted ones included: freshness is about now.
//  4. The exporter's own health is the fresh replicas' health: the API counts as
//     reachable while at least one replica reaches it (StatefulSetExporterAPIUnreachable
//     fires when none does, not when every replica fails), because the data the alerts
//     read is then current and muting every StatefulSet page for one partitioned replica
//     would blind exactly the failure the second replica exists for. A kind counts as
//     failing when any fresh replica fails to list or watch it: that replica's frozen
//     cache still takes part in rule 2.
type builder struct {
	cfg    mixin.Config
	expand *strings.Replacer
}

func newBuilder(cfg mixin.Config) (*builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cluster, clusterComma, byCluster, where := "", "", "", ""
	if cfg.MultiCluster {
		if !model.LegacyValidation.IsValidLabelName(cfg.ClusterLabel) {
			return nil, fmt.Errorf("rules: ClusterLabel %q is not a valid label name", cfg.ClusterLabel)
		}
		cluster = cfg.ClusterLabel
		clusterComma = cluster + ", "
		byCluster = " by (" + cluster + ")"
		where = " in cluster {{ $labels." + cluster + " }}"
	}
	// A replica is fresh when its latest probe result, scraped within ReplicaStaleAfter,
	// is 1. The stale replicas are the others, counted only while some replica is fresh:
	// "unless on (<c>)" of an empty set would leave every series out.
	reachable := "statefulset_exporter_api_reachable{" + cfg.Selector + "}"
	on := "on (" + clusterComma + "instance)"
	fresh := fmt.Sprintf("last_over_time(%s[%s]) == 1", reachable, dur(cfg.ReplicaStaleAfter))
	// A replica seen within the last hour but not fresh is stale: a replica that died
	// has no current sample (Prometheus marked its series stale), yet the values it
	// exported before linger in every range function (max_over_time over 5m,
	// last_over_time over 15m) and must be left out too.
	seen := fmt.Sprintf("last_over_time(%s[1h])", reachable)
	onlyFresh := fmt.Sprintf("unless %s (%s unless %s %s and on (%s) %s)", on, seen, on, fresh, cluster, fresh)
	return &builder{
		cfg: cfg,
		expand: strings.NewReplacer(
			"<only-fresh>", onlyFresh,
			"<fresh>", "("+fresh+")",
			"<x>", cfg.Selector,
			"<w>", mixin.JoinMatchers(cfg.Selector, cfg.NamespaceSelector),
			"<l>", mixin.JoinMatchers(cfg.Selector, cfg.LeaseSelector),
			"<c>", cluster,
			"<c,>", clusterComma,
			"<by-c>", byCluster,
			"<sts>", clusterComma+"namespace, statefulset",
			"<ref>", "{{ $labels.namespace }}/{{ $labels.statefulset }}",
			"<where>", where,
		),
	}, nil
}

// promql expands the placeholders of an expression and removes the indentation the Go
// source gives it, so that the rule file shows it as written.
func (b *builder) promql(expr string) string {
	return b.expand.Replace(dedent(expr))
}

// text expands the placeholders of an annotation.
func (b *builder) text(s string) string {
	return b.expand.Replace(strings.TrimSpace(s))
}

// dedent removes leading and trailing blank lines and the common indentation.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = strings.TrimRight(l[indent:], " \t")
		} else {
			lines[i] = strings.TrimSpace(l)
		}
	}
	return strings.Join(lines, "\n")
}

// lookup returns annotation template text that runs a query about the alert's object when
// the notification is rendered and, when it returns anything, renders body with the
// result as dot. query must contain exactly one empty selector "{}": it becomes the
// exporter selector plus matchers that pin pin (and the cluster label) to the alert's
// label values. Use it for details that must not be alert labels because they change
// while the alert is active (a label change would restart the alert's "for").
func (b *builder) lookup(query string, pin []string, body string) string {
	if strings.Count(query, "{}") != 1 {
		panic("rules: lookup query needs exactly one {} selector: " + query)
	}
	if b.cfg.MultiCluster {
		pin = append([]string{b.cfg.ClusterLabel}, pin...)
	}
	matchers := []string{strings.ReplaceAll(b.cfg.Selector, "%", "%%")}
	args := make([]string, 0, len(pin))
	for _, l := range pin {
		matchers = append(matchers, l+`="%s"`)
		args = append(args, "$labels."+l)
	}
	q := strings.Replace(query, "{}", "{"+strings.Join(matchers, ", ")+"}", 1)
	format := "`" + q + "`"
	if strings.Contains(q, "`") {
		format = strconv.Quote(q)
	}
	return fmt.Sprintf("{{ with printf %s | query }}%s{{ end }}", strings.Join(append([]string{format}, args...), " "), body)
}

// maxListedPods bounds the pods a notification lists by name.
const maxListedPods = 10

// notReadyPods returns annotation text that names, when the notification is rendered,
// the pods of the alert's StatefulSet that are not Ready and why, in Kubernetes' words
// as the exporter's statefulset_pod_not_ready_info carries them, e.g.
// " Pods not Ready: db-0 (CrashLoopBackOff, container db, last terminated: OOMKilled)."
// At most maxListedPods are named, the first in name order (db-10 sorts before db-2),
// then how many there are in all.
func (b *builder) notReadyPods() string {
	sts := []string{"namespace", "statefulset"}
	// The template, not topk, picks the pods, so that every render names the same ones.
	return b.lookup(`max by (pod, reason, container, last_termination_reason) (statefulset_pod_not_ready_info{})`, sts,
		fmt.Sprintf(` Pods not Ready: {{ range $i, $p := sortByLabel "pod" . }}{{ if lt $i %d }}{{ if $i }}; {{ end }}{{ $p.Labels.pod }} ({{ $p.Labels.reason }}`+
			`{{ with $p.Labels.container }}, container {{ . }}{{ end }}{{ with $p.Labels.last_termination_reason }}, last terminated: {{ . }}{{ end }}){{ end }}{{ end }}`+
			`{{ if gt (len .) %d }}, of {{ len . }} in all{{ end }}.`, maxListedPods, maxListedPods))
}

// alert describes one alerting rule.
type alert struct {
	name        string
	expr        string        // with placeholders
	for_        time.Duration // 0: fire on the first evaluation that matches
	keepFiring  time.Duration // keep_firing_for: 0 for none
	severity    string
	summary     string // one line, no templates that name objects
	description string // names the objects through $labels; with placeholders
}

// rule builds the alerting rule with the labels and annotations every alert carries.
func (b *builder) rule(a alert) rulefmt.Rule {
	return rulefmt.Rule{
		Alert:         a.name,
		Expr:          b.promql(a.expr),
		For:           model.Duration(a.for_),
		KeepFiringFor: model.Duration(a.keepFiring),
		Labels: map[string]string{
			"severity": a.severity,
		},
		Annotations: map[string]string{
			"summary":     b.text(a.summary),
			"description": b.text(a.description),
			"runbook_url": b.cfg.RunbookURL(a.name),
		},
	}
}

// record builds a recording rule.
func (b *builder) record(name, expr string) rulefmt.Rule {
	return rulefmt.Rule{Record: name, Expr: b.promql(expr)}
}

// dur formats a duration the way Prometheus writes it ("15m", "1h30m").
func dur(d time.Duration) string {
	return model.Duration(d).String()
}

// seconds formats a duration as a number of seconds for use in PromQL.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
