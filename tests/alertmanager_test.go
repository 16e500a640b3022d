package tests

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// WebhookPlaceholder is the base URL of every receiver in
// deploy/alertmanager/alertmanager.yaml. End-to-end tests replace it with a test server.
const WebhookPlaceholder = "http://alert-receiver.example.invalid:9095"

// kubernetesMixinAlerts are the kubernetes-mixin alerts (kube-prometheus-stack) that
// the example configuration inhibits, with their severities.
var kubernetesMixinAlerts = map[string]string{
	"KubeStatefulSetReplicasMismatch":   "warning",
	"KubeStatefulSetUpdateNotRolledOut": "warning",
	"KubeStatefulSetGenerationMismatch": "warning",
}

// receiverBySeverity is the routing the example configuration promises.
var receiverBySeverity = map[string]string{
	"critical": "pager",
	"warning":  "ticket",
	"info":     "low-priority",
}

func loadAlertmanagerConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(filepath.Join(repoRoot(t), alertmanagerCfg))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAlertmanagerCheckConfig runs `amtool check-config`.
func TestAlertmanagerCheckConfig(t *testing.T) {
	out, err := runTool(t, repoRoot(t), "amtool", "check-config", alertmanagerCfg)
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

// TestAlertmanagerRoutes checks with `amtool config routes test` that every alert of the
// rules reaches the receiver of its severity, and that an alert without a known
// severity still reaches someone.
func TestAlertmanagerRoutes(t *testing.T) {
	root := repoRoot(t)
	type route struct {
		receiver string
		labels   []string
	}
	var cases []route
	alerts := alertRules(committedRules(t))
	for _, name := range slices.Sorted(maps.Keys(alerts)) {
		sev := alerts[name].Labels["severity"]
		receiver, ok := receiverBySeverity[sev]
		if !ok {
			t.Errorf("%s: severity %q has no receiver", name, sev)
			continue
		}
		cases = append(cases, route{receiver, []string{"alertname=" + name, "severity=" + sev, "cluster=eu-west-1", "namespace=data", "statefulset=postgres"}})
	}
	cases = append(cases,
		route{"ticket", []string{"alertname=SomethingElse"}},
		route{"ticket", []string{"alertname=SomethingElse", "severity=none"}},
	)
	for _, c := range cases {
		t.Run(strings.Join(c.labels[:min(2, len(c.labels))], ","), func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerCfg, "--verify.receivers=" + c.receiver}, c.labels...)
			out, err := runTool(t, root, "amtool", args...)
			if err != nil {
				t.Errorf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestAlertmanagerGroupingAndReceivers checks the grouping and that every receiver is a
// webhook under the single documented placeholder URL.
func TestAlertmanagerGroupingAndReceivers(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	var groupBy []string
	for _, l := range cfg.Route.GroupBy {
		groupBy = append(groupBy, string(l))
	}
	for _, l := range []string{"cluster", "namespace", "statefulset", "alertname"} {
		if !slices.Contains(groupBy, l) {
			t.Errorf("route group_by %v lacks %s", groupBy, l)
		}
	}
	if len(cfg.Receivers) == 0 {
		t.Fatal("no receivers")
	}
	for _, r := range cfg.Receivers {
		if len(r.WebhookConfigs) == 0 {
			t.Errorf("receiver %s has no webhook", r.Name)
		}
		for _, w := range r.WebhookConfigs {
			if u := string(w.URL); !strings.HasPrefix(u, WebhookPlaceholder+"/") {
				t.Errorf("receiver %s posts to %q, not under %s", r.Name, u, WebhookPlaceholder)
			}
		}
	}
}

// TestAlertmanagerNamesExist checks that the alert names the inhibit rules use are alerts
// of the rules, so that renaming an alert cannot silently break an inhibition.
func TestAlertmanagerNamesExist(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	alerts := slices.Sorted(maps.Keys(alertRules(committedRules(t))))
	alerts = append(alerts, slices.Sorted(maps.Keys(kubernetesMixinAlerts))...)
	literal := regexp.MustCompile(`^[A-Za-z0-9]+$`)
	for i, ir := range cfg.InhibitRules {
		for _, m := range append(slices.Clone(ir.SourceMatchers), ir.TargetMatchers...) {
			if m.Name != "alertname" {
				continue
			}
			matched := slices.ContainsFunc(alerts, m.Matches)
			if !matched {
				t.Errorf("inhibit rule %d: %s matches no alert", i+1, m)
			}
			if m.Type != labels.MatchEqual && m.Type != labels.MatchRegexp {
				continue
			}
			for _, alt := range strings.Split(m.Value, "|") {
				if literal.MatchString(alt) && !slices.Contains(alerts, alt) {
					t.Errorf("inhibit rule %d: %s names %s, which is not an alert", i+1, m, alt)
				}
			}
		}
	}
}

// TestInhibitionsNeverMuteHigherSeverity checks every pair of alerts an inhibit rule
// can join: the source must be at least as severe as the target, so that a ticket never
// silences a page. Matchers on labels other than alertname and the rules' own labels
// (namespace, statefulset, ...) are taken to match: they only narrow the pairs.
func TestInhibitionsNeverMuteHigherSeverity(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	rules := alertRules(committedRules(t))
	for name, severity := range kubernetesMixinAlerts {
		rules[name] = rulefmt.Rule{Alert: name, Labels: map[string]string{"severity": severity}}
	}
	rank := map[string]int{"info": 0, "warning": 1, "critical": 2}
	matches := func(ms []*labels.Matcher, name string) bool {
		known := model.LabelSet{"alertname": model.LabelValue(name)}
		for k, v := range rules[name].Labels {
			known[model.LabelName(k)] = model.LabelValue(v)
		}
		for _, m := range ms {
			if v, ok := known[model.LabelName(m.Name)]; ok && !m.Matches(string(v)) {
				return false
			}
		}
		return true
	}
	pairs := 0
	for i, ir := range cfg.InhibitRules {
		for _, source := range slices.Sorted(maps.Keys(rules)) {
			if !matches(ir.SourceMatchers, source) {
				continue
			}
			for _, target := range slices.Sorted(maps.Keys(rules)) {
				if target == source || !matches(ir.TargetMatchers, target) {
					continue
				}
				pairs++
				s, tg := rules[source].Labels["severity"], rules[target].Labels["severity"]
				if rank[s] < rank[tg] {
					t.Errorf("inhibit rule %d: %s (%s) mutes %s (%s)", i+1, source, s, target, tg)
				}
			}
		}
	}
	if pairs == 0 {
		t.Fatal("no inhibit rule joins two alerts")
	}
}

// staticAlerts is an alert provider that holds a fixed set of alerts.
type staticAlerts struct{ alerts []*types.Alert }

func (s staticAlerts) SlurpAndSubscribe(string) ([]*types.Alert, provider.AlertIterator) {
	return s.alerts, provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}
func (s staticAlerts) Subscribe(string) provider.AlertIterator {
	return provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}
func (s staticAlerts) GetPending() provider.AlertIterator {
	return provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}
func (s staticAlerts) Get(model.Fingerprint) (*types.Alert, error) { return nil, provider.ErrNotFound }
func (s staticAlerts) Put(context.Context, ...*types.Alert) error  { return nil }

// TestAlertmanagerInhibitions runs the inhibit rules of the example configuration through
// Alertmanager's inhibitor: given firing alerts, which label sets are muted.
func TestAlertmanagerInhibitions(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	rules := alertRules(committedRules(t))
	// alert returns the label set of an alert as Prometheus sends it: its rule's labels
	// plus the expression's labels.
	alert := func(name string, kv ...string) model.LabelSet {
		r, ok := rules[name]
		if !ok {
			t.Fatalf("no alert %s", name)
		}
		ls := model.LabelSet{"alertname": model.LabelValue(name)}
		for k, v := range r.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
		}
		return ls
	}
	// mixinAlert is a kubernetes-mixin alert as kube-prometheus-stack sends it.
	mixinAlert := func(name string, kv ...string) model.LabelSet {
		ls := model.LabelSet{"alertname": model.LabelValue(name), "severity": model.LabelValue(kubernetesMixinAlerts[name]),
			"job": "kube-state-metrics", "container": "kube-state-metrics"}
		for i := 0; i+1 < len(kv); i += 2 {
			ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
		}
		return ls
	}
	sts := func(ns, name string, kv ...string) []string {
		return append([]string{"namespace", ns, "statefulset", name}, kv...)
	}

	apiDown := alert("StatefulSetExporterAPIUnreachable", "job", "statefulset-exporter")
	for _, tc := range []struct {
		name   string
		firing []model.LabelSet
		muted  []model.LabelSet
		heard  []model.LabelSet
	}{
		{
			name:   "nothing muted without a source",
			firing: []model.LabelSet{alert("StatefulSetPodsCrashLooping", sts("data", "kafka")...)},
			heard: []model.LabelSet{
				alert("StatefulSetPodsCrashLooping", sts("data", "kafka")...),
				alert("StatefulSetReplicasNotReady", sts("data", "kafka")...),
				alert("ControlPlaneNoLeader", "namespace", "kube-system", "lease", "kube-scheduler"),
			},
		},
		{
			name:   "API unreachable mutes every alert derived from the exporter's data",
			firing: []model.LabelSet{apiDown},
			muted: []model.LabelSet{
				alert("StatefulSetNoReplicasReady", sts("data", "postgres")...),
				alert("StatefulSetReplicasNotReady", sts("data", "postgres")...),
				alert("StatefulSetRolloutStalled", sts("data", "kafka", "pod", "kafka-2")...),
				alert("StatefulSetPodStuckTerminating", sts("data", "zookeeper", "pod", "zookeeper-1", "node", "ip-10-0-3-7")...),
				alert("StatefulSetPVCPending", sts("data", "postgres", "persistentvolumeclaim", "data-postgres-2")...),
				alert("StatefulSetVolumeNoUsableNode", sts("data", "kafka", "pod", "kafka-2")...),
				alert("ControlPlaneLeaderFlapping", "namespace", "kube-system", "lease", "kube-scheduler"),
				alert("ControlPlaneNoLeader", "namespace", "kube-system", "lease", "kube-scheduler"),
				alert("StatefulSetSingleReplica", sts("data", "redis")...),
			},
			heard: []model.LabelSet{
				apiDown,
				alert("StatefulSetExporterAbsent"),
				alert("StatefulSetExporterResourceFailing", "resource", "pods"),
				alert("StatefulSetExporterResourceDisabled", "resource", "leases"),
			},
		},
		{
			name: "API unreachable in one cluster leaves the other clusters alone",
			firing: []model.LabelSet{
				alert("StatefulSetExporterAPIUnreachable", "job", "statefulset-exporter", "cluster", "eu-west-1"),
			},
			muted: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "postgres", "cluster", "eu-west-1")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "postgres", "cluster", "us-east-1")...),
				alert("StatefulSetReplicasNotReady", sts("data", "postgres")...),
			},
		},
		{
			name:   "no replica Ready mutes the StatefulSet's replica and pod alerts, not other StatefulSets nor actionable pod and volume alerts",
			firing: []model.LabelSet{alert("StatefulSetNoReplicasReady", sts("data", "postgres")...)},
			muted: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "postgres")...),
				alert("StatefulSetPodsCrashLooping", sts("data", "postgres")...),
				alert("StatefulSetPodsPending", sts("data", "postgres")...),
				alert("StatefulSetPodsUnschedulable", sts("data", "postgres")...),
				alert("StatefulSetContainerRestarting", sts("data", "postgres", "pod", "postgres-0", "container", "postgres")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetNoReplicasReady", sts("data", "postgres")...),
				alert("StatefulSetPodsCrashLooping", sts("data", "kafka")...),
				alert("StatefulSetPodsCrashLooping", sts("staging", "postgres")...),
				alert("StatefulSetPodStuckTerminating", sts("data", "postgres", "pod", "postgres-1", "node", "ip-10-0-3-7")...),
				alert("StatefulSetVolumeNoUsableNode", sts("data", "postgres", "pod", "postgres-1")...),
				alert("StatefulSetVolumeAttachError", sts("data", "postgres", "persistentvolumeclaim", "data-postgres-1")...),
			},
		},
		{
			name:   "a stalled rollout mutes replicas not Ready and the pod alerts of its StatefulSet",
			firing: []model.LabelSet{alert("StatefulSetRolloutStalled", sts("data", "kafka", "pod", "kafka-2")...)},
			muted: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "kafka")...),
				alert("StatefulSetPodsCrashLooping", sts("data", "kafka")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetRolloutStalled", sts("data", "kafka", "pod", "kafka-2")...),
				alert("StatefulSetNoReplicasReady", sts("data", "kafka")...),
				alert("StatefulSetGenerationNotObserved", sts("data", "kafka")...),
			},
		},
		{
			name: "a container that keeps restarting mutes the crash loop of its StatefulSet, nothing else",
			firing: []model.LabelSet{
				alert("StatefulSetContainerRestarting", sts("data", "kafka", "pod", "kafka-1", "container", "kafka")...),
			},
			muted: []model.LabelSet{
				alert("StatefulSetPodsCrashLooping", sts("data", "kafka")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetContainerRestarting", sts("data", "kafka", "pod", "kafka-1", "container", "kafka")...),
				alert("StatefulSetPodsCrashLooping", sts("data", "postgres")...),
				alert("StatefulSetReplicasNotReady", sts("data", "kafka")...),
				alert("StatefulSetNoReplicasReady", sts("data", "kafka")...),
			},
		},
		{
			name: "replicas not Ready mutes the pod alerts of its StatefulSet",
			firing: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "cassandra")...),
			},
			muted: []model.LabelSet{
				alert("StatefulSetPodsCrashLooping", sts("data", "cassandra")...),
				alert("StatefulSetContainerRestarting", sts("data", "cassandra", "pod", "cassandra-1", "container", "cassandra")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", sts("data", "cassandra")...),
			},
		},
		{
			name: "storage causes mute the pod symptoms of their StatefulSet",
			firing: []model.LabelSet{
				alert("StatefulSetVolumeNoUsableNode", sts("data", "kafka", "pod", "kafka-2", "persistentvolumeclaim", "data-kafka-2", "volume_zone", "eu-west-1c")...),
				alert("StatefulSetPVCPending", sts("data", "postgres", "persistentvolumeclaim", "data-postgres-2")...),
				alert("StatefulSetVolumeAttachError", sts("data", "zookeeper", "persistentvolumeclaim", "data-zookeeper-0", "node", "ip-10-0-2-11", "operation", "attach")...),
				alert("StatefulSetVolumeLost", sts("data", "etcd", "persistentvolumeclaim", "data-etcd-1", "persistentvolume", "pvc-1", "reason", "ClaimLost")...),
				alert("StatefulSetVolumeReleased", sts("data", "redis", "persistentvolumeclaim", "data-redis-0", "persistentvolume", "pvc-0", "reason", "VolumeReleased")...),
			},
			muted: []model.LabelSet{
				alert("StatefulSetPodsUnschedulable", sts("data", "kafka")...),
				alert("StatefulSetPodsUnschedulable", sts("data", "postgres")...),
				alert("StatefulSetPodsPending", sts("data", "zookeeper")...),
				alert("StatefulSetPodsPending", sts("data", "etcd")...),
			},
			heard: []model.LabelSet{
				alert("StatefulSetVolumeNoUsableNode", sts("data", "kafka", "pod", "kafka-2", "persistentvolumeclaim", "data-kafka-2", "volume_zone", "eu-west-1c")...),
				alert("StatefulSetReplicasNotReady", sts("data", "kafka")...),
				alert("StatefulSetPodsCrashLooping", sts("data", "zookeeper")...),
				alert("StatefulSetVolumeLost", sts("data", "etcd", "persistentvolumeclaim", "data-etcd-1", "persistentvolume", "pvc-1", "reason", "ClaimLost")...),
				alert("StatefulSetPodsPending", sts("data", "redis")...),
			},
		},
		{
			name: "ours mute kubernetes-mixin's alerts of the same StatefulSet only",
			firing: []model.LabelSet{
				alert("StatefulSetNoReplicasReady", sts("data", "postgres")...),
				alert("StatefulSetRolloutStalled", sts("data", "kafka", "pod", "kafka-2")...),
			},
			muted: []model.LabelSet{
				mixinAlert("KubeStatefulSetReplicasMismatch", sts("data", "postgres")...),
				mixinAlert("KubeStatefulSetUpdateNotRolledOut", sts("data", "kafka")...),
			},
			heard: []model.LabelSet{
				mixinAlert("KubeStatefulSetReplicasMismatch", sts("data", "kafka")...),
				mixinAlert("KubeStatefulSetUpdateNotRolledOut", sts("data", "postgres")...),
				mixinAlert("KubeStatefulSetGenerationMismatch", sts("data", "postgres")...),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			var firing []*types.Alert
			for _, ls := range tc.firing {
				firing = append(firing, &types.Alert{Alert: model.Alert{
					Labels: ls, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
				}})
			}
			ih := inhibit.NewInhibitor(staticAlerts{firing}, cfg.InhibitRules, types.NewMarker(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
			go ih.Run()
			defer ih.Stop()
			ih.WaitForLoading()
			for _, ls := range tc.muted {
				if !ih.Mutes(context.Background(), ls) {
					t.Errorf("not muted, want muted: %s", describe(ls))
				}
			}
			for _, ls := range tc.heard {
				if ih.Mutes(context.Background(), ls) {
					t.Errorf("muted, want notified: %s", describe(ls))
				}
			}
		})
	}
}

func describe(ls model.LabelSet) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		if k != "alertname" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, ls[k]))
		}
	}
	return fmt.Sprintf("%s{%s}", ls["alertname"], strings.Join(parts, ", "))
}

// TestAlertmanagerGrouping feeds alerts to Alertmanager's own dispatcher with the example
// routing tree and checks the notification groups it forms: pages of the same kind in
// several StatefulSets (a zone outage) make one group per alert name and cluster; info
// alerts make one digest per namespace; warnings stay one ticket per StatefulSet.
func TestAlertmanagerGrouping(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	rules := alertRules(committedRules(t))
	alert := func(name string, kv ...string) model.LabelSet {
		r, ok := rules[name]
		if !ok {
			t.Fatalf("no alert %s", name)
		}
		ls := model.LabelSet{"alertname": model.LabelValue(name), "cluster": "eu-west-1"}
		for k, v := range r.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
		}
		return ls
	}
	for _, tc := range []struct {
		name   string
		firing []model.LabelSet
		// groups lists each notification group as receiver and its alerts' "namespace/statefulset alertname".
		groups []string
	}{
		{
			name: "a zone outage pages once per kind of failure, listing every StatefulSet",
			firing: []model.LabelSet{
				alert("StatefulSetPodStuckTerminating", "namespace", "data", "statefulset", "kafka", "pod", "kafka-2", "node", "ip-10-0-3-7", "node_status", "unreachable"),
				alert("StatefulSetPodStuckTerminating", "namespace", "shop", "statefulset", "postgres", "pod", "postgres-1", "node", "ip-10-0-3-9", "node_status", "unreachable"),
				alert("StatefulSetNoReplicasReady", "namespace", "data", "statefulset", "zookeeper"),
				alert("StatefulSetNoReplicasReady", "namespace", "shop", "statefulset", "redis"),
				alert("StatefulSetNoReplicasReady", "namespace", "shop", "statefulset", "redis", "cluster", "us-east-1"),
			},
			groups: []string{
				"pager: data/kafka StatefulSetPodStuckTerminating, shop/postgres StatefulSetPodStuckTerminating",
				"pager: data/zookeeper StatefulSetNoReplicasReady, shop/redis StatefulSetNoReplicasReady",
				"pager: shop/redis StatefulSetNoReplicasReady",
			},
		},
		{
			name: "info alerts of two StatefulSets of a namespace make one digest",
			firing: []model.LabelSet{
				alert("StatefulSetSingleReplica", "namespace", "data", "statefulset", "redis"),
				alert("StatefulSetNoPodDisruptionBudget", "namespace", "data", "statefulset", "kafka"),
				alert("StatefulSetSingleReplica", "namespace", "data", "statefulset", "kafka"),
				alert("StatefulSetSingleReplica", "namespace", "shop", "statefulset", "redis"),
			},
			groups: []string{
				"low-priority: data/kafka StatefulSetNoPodDisruptionBudget, data/kafka StatefulSetSingleReplica, data/redis StatefulSetSingleReplica",
				"low-priority: shop/redis StatefulSetSingleReplica",
			},
		},
		{
			name: "warnings stay one ticket per StatefulSet and alert",
			firing: []model.LabelSet{
				alert("StatefulSetReplicasNotReady", "namespace", "data", "statefulset", "kafka"),
				alert("StatefulSetReplicasNotReady", "namespace", "data", "statefulset", "redis"),
			},
			groups: []string{
				"ticket: data/kafka StatefulSetReplicasNotReady",
				"ticket: data/redis StatefulSetReplicasNotReady",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dispatchGroups(t, cfg, tc.firing); !slices.Equal(got, tc.groups) {
				t.Errorf("notification groups:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.groups, "\n     "))
			}
		})
	}

	// The info route is a digest: no resolved messages, at most daily.
	info := dispatch.NewRoute(cfg.Route, nil).Match(alert("StatefulSetSingleReplica", "namespace", "data", "statefulset", "redis"))
	if len(info) != 1 || info[0].RouteOpts.Receiver != "low-priority" {
		t.Fatalf("info alert routed to %v", info)
	}
	if o := info[0].RouteOpts; o.GroupInterval < 24*time.Hour || o.RepeatInterval < 24*time.Hour {
		t.Errorf("info route: group_interval %s, repeat_interval %s, want a daily digest", o.GroupInterval, o.RepeatInterval)
	}
	for _, r := range cfg.Receivers {
		for _, w := range r.WebhookConfigs {
			if r.Name == "low-priority" && w.SendResolved() {
				t.Errorf("receiver %s sends resolved notifications", r.Name)
			}
		}
	}
}

// dispatchGroups routes the alerts with Alertmanager's dispatcher and returns its
// aggregation groups (one notification each), as "receiver: namespace/statefulset
// alertname, …", sorted.
func dispatchGroups(t *testing.T, cfg *config.Config, firing []model.LabelSet) []string {
	t.Helper()
	now := time.Now()
	var alerts []*types.Alert
	for _, ls := range firing {
		alerts = append(alerts, &types.Alert{Alert: model.Alert{Labels: ls, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)}})
	}
	reg := prometheus.NewRegistry()
	// Groups are read at once, before their group_wait ends; a flush would change nothing.
	noop := notify.StageFunc(func(ctx context.Context, _ *slog.Logger, as ...*types.Alert) (context.Context, []*types.Alert, error) {
		return ctx, as, nil
	})
	d := dispatch.NewDispatcher(staticAlerts{alerts}, dispatch.NewRoute(cfg.Route, nil), noop, types.NewMarker(reg),
		func(d time.Duration) time.Duration { return d }, time.Hour, nil, slog.New(slog.DiscardHandler), dispatch.NewDispatcherMetrics(false, reg))
	go d.Run(now)
	defer d.Stop()
	groups, _, err := d.Groups(context.Background(), func(*dispatch.Route) bool { return true }, func(*types.Alert, time.Time) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range groups {
		var members []string
		for _, a := range g.Alerts {
			members = append(members, fmt.Sprintf("%s/%s %s", a.Labels["namespace"], a.Labels["statefulset"], a.Labels["alertname"]))
		}
		slices.Sort(members)
		out = append(out, g.Receiver+": "+strings.Join(members, ", "))
	}
	slices.Sort(out)
	return out
}
