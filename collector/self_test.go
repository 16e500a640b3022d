package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/statefulset-exporter/statefulset-exporter/mixin/rules"
)

var (
	grPDB   = schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}
	grVA    = schema.GroupResource{Group: "storage.k8s.io", Resource: "volumeattachments"}
	grLease = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	grSvc   = schema.GroupResource{Resource: "services"}
)

// apiErrorLines returns every statefulset_exporter_api_errors_total line, all zero
// except the given "resource/reason" counts.
func apiErrorLines(counts map[string]int) string {
	var out []string
	for _, res := range append(append([]string(nil), allResources...), "probe") {
		for _, reason := range apiErrorReasons {
			out = append(out, fmt.Sprintf(`statefulset_exporter_api_errors_total{reason=%q,resource=%q} %d`, reason, res, counts[res+"/"+reason]))
		}
	}
	return lines(out...)
}

// perResourceLines returns one line per watched resource of a self metric, value 1
// except for the resources in zero.
func perResourceLines(name string, zero ...string) string {
	var out []string
	for _, res := range allResources {
		v := 1
		if slices.Contains(zero, res) {
			v = 0
		}
		out = append(out, fmt.Sprintf(`%s{resource=%q} %d`, name, res, v))
	}
	return lines(out...)
}

func TestSelfMetricsAllEnabled(t *testing.T) {
	set := newStatefulSet("ns", "web", 1)
	env := newTestEnv(t, nil, set, newPod(set, 0), newNode("node-a", zoneKey, "a"))
	env.expect(lines(
		perResourceLines("statefulset_exporter_resource_enabled"),
		perResourceLines("statefulset_exporter_cache_synced"),
		apiErrorLines(nil),
	), "statefulset_exporter_resource_enabled", "statefulset_exporter_cache_synced", "statefulset_exporter_api_errors_total")

	// Only resources that had an event have a last-event timestamp: the fake clock's now.
	env.expect(fmt.Sprintf(`
		statefulset_exporter_last_event_timestamp_seconds{resource="nodes"} %[1]s
		statefulset_exporter_last_event_timestamp_seconds{resource="pods"} %[1]s
		statefulset_exporter_last_event_timestamp_seconds{resource="statefulsets"} %[1]s
	`, ts(testNow)), "statefulset_exporter_last_event_timestamp_seconds")

	env.clock.Advance(time.Minute)
	if _, err := env.client.CoreV1().Nodes().Create(context.Background(), newNode("node-b", zoneKey, "b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(fmt.Sprintf(`
		statefulset_exporter_last_event_timestamp_seconds{resource="nodes"} %[2]s
		statefulset_exporter_last_event_timestamp_seconds{resource="pods"} %[1]s
		statefulset_exporter_last_event_timestamp_seconds{resource="statefulsets"} %[1]s
	`, ts(testNow), ts(testNow.Add(time.Minute))), "statefulset_exporter_last_event_timestamp_seconds")

	mfs := gather(t, env.collector)
	d := mfs["statefulset_exporter_collect_duration_seconds"]
	if d == nil || len(d.GetMetric()) != 1 || d.GetMetric()[0].GetGauge().GetValue() <= 0 {
		t.Errorf("statefulset_exporter_collect_duration_seconds = %v, want one positive sample", d)
	}
}

func TestForbiddenOptionalResources(t *testing.T) {
	set := newStatefulSet("ns", "web", 2, withClaimTemplates("data"))
	pvc := newPVC(set, "data", 0, corev1.ClaimBound)
	// No PDB selects web and it has no Service: no_pdb and no_governing_service apply
	// while PDBs and Services are watched.
	objs := []runtime.Object{set, newPod(set, 0), pvc, newNode("node-a", zoneKey, "a"),
		newPDB("ns", "other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}),
		newService("ns", "other", corev1.ClusterIPNone),
		newAttachment("va", pvc.Spec.VolumeName, "node-a", true, false),
		newLease("kube-scheduler", "node-a_4b6c5c1e-8f3a-4b8e-9d8e-2f1a0b9c7d6e", 1),
	}
	allOn := map[string]string{
		"statefulset_ha_risk_info":                    riskLines("no_pdb", "single_zone", "no_governing_service"),
		"statefulset_volume_attachment_error_info":    `statefulset_volume_attachment_error_info{namespace="ns",node="node-a",operation="attach",persistentvolumeclaim="data-web-0",statefulset="web"} 1`,
		"statefulset_control_plane_lease_holder_info": `statefulset_control_plane_lease_holder_info{holder="node-a",lease="kube-scheduler",namespace="kube-system"} 1`,
	}
	notFound := func(gr schema.GroupResource) envReactor {
		return envReactor{verb: "list", resource: gr.Resource, fn: func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewNotFound(gr, "")
		}}
	}
	cases := []struct {
		name     string
		reactors []envReactor
		off      []string
		errors   map[string]int
		want     map[string]string // overrides of allOn
	}{
		{name: "nothing forbidden", want: allOn},
		{
			name:     "poddisruptionbudgets forbidden",
			reactors: []envReactor{forbidden("list", grPDB)},
			off:      []string{resPodDisruptionBudgets},
			errors:   map[string]int{"poddisruptionbudgets/Forbidden": 1},
			want:     map[string]string{"statefulset_ha_risk_info": riskLines("single_zone", "no_governing_service")},
		},
		{
			name:     "services forbidden",
			reactors: []envReactor{forbidden("list", grSvc)},
			off:      []string{resServices},
			errors:   map[string]int{"services/Forbidden": 1},
			want:     map[string]string{"statefulset_ha_risk_info": riskLines("no_pdb", "single_zone")},
		},
		{
			name:     "volumeattachments forbidden",
			reactors: []envReactor{forbidden("list", grVA)},
			off:      []string{resVolumeAttachments},
			errors:   map[string]int{"volumeattachments/Forbidden": 1},
			want:     map[string]string{"statefulset_volume_attachment_error_info": ""},
		},
		{
			name:     "leases forbidden",
			reactors: []envReactor{forbidden("list", grLease)},
			off:      []string{resLeases},
			errors:   map[string]int{"leases/Forbidden": 1},
			want:     map[string]string{"statefulset_control_plane_lease_holder_info": ""},
		},
		{
			name:     "leases not served",
			reactors: []envReactor{notFound(grLease)},
			off:      []string{resLeases},
			errors:   map[string]int{"leases/Other": 1},
			want:     map[string]string{"statefulset_control_plane_lease_holder_info": ""},
		},
		{
			name: "all four forbidden",
			reactors: []envReactor{forbidden("list", grPDB), forbidden("list", grSvc), forbidden("list", grVA),
				forbidden("list", grLease)},
			off: []string{resPodDisruptionBudgets, resServices, resVolumeAttachments, resLeases},
			errors: map[string]int{"poddisruptionbudgets/Forbidden": 1, "services/Forbidden": 1,
				"volumeattachments/Forbidden": 1, "leases/Forbidden": 1},
			want: map[string]string{
				"statefulset_ha_risk_info":                    riskLines("single_zone"),
				"statefulset_volume_attachment_error_info":    "",
				"statefulset_control_plane_lease_holder_info": "",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnvWith(t, nil, envOptions{reactors: tc.reactors}, objs...)
			env.expect(perResourceLines("statefulset_exporter_resource_enabled", tc.off...), "statefulset_exporter_resource_enabled")
			env.expect(perResourceLines("statefulset_exporter_cache_synced", tc.off...), "statefulset_exporter_cache_synced")
			env.expect(failingLines(tc.off...), "statefulset_exporter_resource_failing")
			env.expect(apiErrorLines(tc.errors), "statefulset_exporter_api_errors_total")
			for name, want := range allOn {
				if w, ok := tc.want[name]; ok {
					want = w
				}
				env.expect(want, name)
			}
			if !env.collector.Ready() {
				t.Error("Ready() = false although every enabled informer synced")
			}
			// Everything else still works.
			env.expect(`
				statefulset_replicas_desired{namespace="ns",statefulset="web"} 2
				statefulset_pods{namespace="ns",phase="Running",statefulset="web"} 1
				statefulset_ready_zones{namespace="ns",statefulset="web"} 1
			`, "statefulset_replicas_desired", "statefulset_pods", "statefulset_ready_zones")
		})
	}
}

// TestOptionalKindFollowsRBAC: a connection error leaves an optional kind on, Forbidden
// switches it off without holding readiness back, and once RBAC allows it again it comes
// back by itself, so an outage at start-up or a passing 403 never switches it off for good.
func TestOptionalKindFollowsRBAC(t *testing.T) {
	var pdbAllowed atomic.Bool
	refused := func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, &url.Error{Op: "Get", URL: "https://10.0.0.1/apis", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	}
	forbiddenUntilAllowed := func(k8stesting.Action) (bool, runtime.Object, error) {
		if pdbAllowed.Load() {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, "", errors.New("RBAC: access denied"))
	}
	d := DefaultConfig()
	cfg := &d
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// No PDB selects web: no_pdb applies once PDBs are watched.
	set := newStatefulSet("ns", "web", 3)
	client := newFakeClient(set, newLease("kube-scheduler", "a", 0), governing(set),
		newPDB("ns", "other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}))
	client.PrependReactor("list", "leases", refused)
	client.PrependReactor("list", "poddisruptionbudgets", forbiddenUntilAllowed)
	c, err := New(client, *cfg, discardLogger(), WithProbe(func(context.Context) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the PDB list to be refused", func() bool { return !c.watch.resources[resPodDisruptionBudgets].enabled() })
	waitFor("the lease list to fail", func() bool {
		return selfValue(c, func(m *selfMetrics) float64 { return m.apiErrors[[2]string{resLeases, reasonConnectionRefused}] }) > 0
	})
	if !c.watch.resources[resLeases].enabled() {
		t.Fatal("leases switched off on a connection error; only RBAC refusals switch a kind off")
	}
	if c.Ready() {
		t.Fatal("ready although the leases never listed")
	}
	expectExposition(t, c, "", "statefulset_ha_risk_info")
	if v := selfValue(c, func(m *selfMetrics) float64 {
		for _, r := range m.resources {
			if r.name == resPodDisruptionBudgets {
				return boolFloat(r.enabled)
			}
		}
		return -1
	}); v != 0 {
		t.Fatalf("statefulset_exporter_resource_enabled{resource=\"poddisruptionbudgets\"} = %v, want 0", v)
	}

	pdbAllowed.Store(true)
	waitFor("the PDBs to come back", func() bool {
		r := c.watch.resources[resPodDisruptionBudgets]
		return r.enabled() && r.informer.HasSynced()
	})
	expectExposition(t, c, riskLines("no_pdb"), "statefulset_ha_risk_info")

	// Off and on again without any PDB event in the namespace: the scrapes follow.
	r := c.watch.resources[resPodDisruptionBudgets]
	r.markForbidden(r.shards[0])
	expectExposition(t, c, "", "statefulset_ha_risk_info")
	r.mu.Lock()
	r.shards[0].forbidden = false
	r.mu.Unlock()
	expectExposition(t, c, riskLines("no_pdb"), "statefulset_ha_risk_info")
}

// probeSwitch is a probe whose result the test changes.
type probeSwitch struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (p *probeSwitch) probe(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.err
}

func (p *probeSwitch) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func gaugeValue(t *testing.T, env *testEnv, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mf := gather(t, env.collector)[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if labelsMatch(m, labels) {
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestAPIReachableProbe(t *testing.T) {
	p := &probeSwitch{err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	cfg := configWith(func(c *Config) { c.APIProbeInterval = 100 * time.Millisecond })
	env := newTestEnvWith(t, cfg, envOptions{probe: p.probe})
	refused := map[string]string{"resource": "probe", "reason": "ConnectionRefused"}
	eventually(t, "a failed probe counted", func() bool {
		v, _ := gaugeValue(t, env, "statefulset_exporter_api_errors_total", refused)
		return v >= 1
	})
	env.expect(`statefulset_exporter_api_reachable 0`, "statefulset_exporter_api_reachable", "statefulset_exporter_api_last_success_timestamp_seconds")

	env.clock.Advance(time.Minute)
	p.set(nil)
	env.expectEventually(fmt.Sprintf(`
		statefulset_exporter_api_reachable 1
		statefulset_exporter_api_last_success_timestamp_seconds %s
	`, ts(testNow.Add(time.Minute))), "statefulset_exporter_api_reachable", "statefulset_exporter_api_last_success_timestamp_seconds")
	errorsBefore, _ := gaugeValue(t, env, "statefulset_exporter_api_errors_total", refused)

	// Unreachable again: the last success stays, the reachability drops, a timeout counts.
	env.clock.Advance(time.Minute)
	p.set(context.DeadlineExceeded)
	env.expectEventually(fmt.Sprintf(`
		statefulset_exporter_api_reachable 0
		statefulset_exporter_api_last_success_timestamp_seconds %s
	`, ts(testNow.Add(time.Minute))), "statefulset_exporter_api_reachable", "statefulset_exporter_api_last_success_timestamp_seconds")
	if v, _ := gaugeValue(t, env, "statefulset_exporter_api_errors_total", map[string]string{"resource": "probe", "reason": "Timeout"}); v < 1 {
		t.Errorf("probe timeouts counted: %v, want >= 1", v)
	}
	if v, _ := gaugeValue(t, env, "statefulset_exporter_api_errors_total", refused); v != errorsBefore {
		t.Errorf("connection_refused count moved from %v to %v while the probe succeeded or timed out", errorsBefore, v)
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o deadline reached" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyAPIError(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), reasonUnauthorized},
		{"forbidden", apierrors.NewForbidden(gr, "x", errors.New("rbac")), reasonForbidden},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), reasonThrottled},
		{"timeout status", apierrors.NewTimeoutError("took too long", 1), reasonTimeout},
		{"server timeout", apierrors.NewServerTimeout(gr, "list", 1), reasonTimeout},
		{"internal error", apierrors.NewInternalError(errors.New("etcd down")), reasonServerError},
		{"service unavailable", apierrors.NewServiceUnavailable("failing over"), reasonServerError},
		{"unexpected 502", apierrors.NewGenericServerResponse(502, "get", gr, "", "bad gateway", 0, false), reasonServerError},
		{"net.OpError ECONNREFUSED", refused, reasonConnectionRefused},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, reasonConnectionRefused},
		{"url.Error wrapping ECONNREFUSED", &url.Error{Op: "Get", URL: "https://10.0.0.1/version", Err: refused}, reasonConnectionRefused},
		{"context deadline", context.DeadlineExceeded, reasonTimeout},
		{"wrapped context deadline", fmt.Errorf("list pods: %w", context.DeadlineExceeded), reasonTimeout},
		{"url.Error with a timeout", &url.Error{Op: "Get", URL: "https://10.0.0.1/version", Err: timeoutErr{}}, reasonTimeout},
		{"net.OpError timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, reasonTimeout},
		{"wrapped unauthorized", fmt.Errorf("watch: %w", apierrors.NewUnauthorized("x")), reasonUnauthorized},
		{"wrapped forbidden", fmt.Errorf("a: %w", fmt.Errorf("b: %w", apierrors.NewForbidden(gr, "", errors.New("no")))), reasonForbidden},
		{"wrapped throttled", fmt.Errorf("x: %w", apierrors.NewTooManyRequests("", 0)), reasonThrottled},
		{"wrapped internal", fmt.Errorf("x: %w", apierrors.NewInternalError(errors.New("boom"))), reasonServerError},
		{"flattened connection refused", errors.New(`Get "https://10.0.0.1/api": dial tcp 10.0.0.1:443: connect: connection refused`), reasonConnectionRefused},
		{"flattened client timeout", errors.New(`Get "https://x": net/http: request canceled (Client.Timeout exceeded while awaiting headers)`), reasonTimeout},
		{"flattened TLS handshake timeout", errors.New("net/http: TLS handshake timeout"), reasonTimeout},
		{"flattened i/o timeout", errors.New("read tcp 1.2.3.4:5->6.7.8.9:443: i/o timeout"), reasonTimeout},
		{"not found", apierrors.NewNotFound(gr, "x"), reasonOther},
		{"conflict", apierrors.NewConflict(gr, "x", errors.New("changed")), reasonOther},
		{"bad request", apierrors.NewBadRequest("nope"), reasonOther},
		{"plain error", errors.New("something odd"), reasonOther},
		{"EOF", io.EOF, reasonConnectionRefused},
		{"non-timeout net error", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}, reasonOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyAPIError(tc.err); got != tc.want {
				t.Errorf("classifyAPIError(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if tc.err != nil && !slices.Contains(apiErrorReasons, classifyAPIError(tc.err)) {
				t.Errorf("reason %q is not in apiErrorReasons", classifyAPIError(tc.err))
			}
		})
	}
}

func TestRecordWatchError(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.collector
	c.watch.recordWatchError(resPods, io.EOF)
	c.watch.recordWatchError(resPods, fmt.Errorf("watch closed: %w", io.EOF))
	c.watch.recordWatchError(resPods, apierrors.NewResourceExpired("too old resource version"))
	c.watch.recordWatchError(resPods, apierrors.NewGone("gone"))
	c.watch.recordWatchError(resPods, apierrors.NewTooManyRequests("", 1))
	c.watch.recordWatchError(resNodes, apierrors.NewUnauthorized(""))
	c.watch.recordWatchError(resNodes, apierrors.NewUnauthorized(""))
	c.watch.recordWatchError(resLeases, errors.New("weird"))
	env.expect(apiErrorLines(map[string]int{
		"pods/Throttled": 1, "nodes/Unauthorized": 2, "leases/Other": 1,
	}), "statefulset_exporter_api_errors_total")
}

func TestAPIErrorReasonsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range apiErrorReasons {
		if seen[r] || strings.TrimSpace(r) == "" {
			t.Errorf("reason %q duplicated or blank", r)
		}
		seen[r] = true
	}
	got := append([]string(nil), apiErrorReasons...)
	sort.Strings(got)
	want := []string{"ConnectionRefused", "Forbidden", "Other", "ServerError", "Throttled", "Timeout", "Unauthorized"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("apiErrorReasons = %v, want the documented %v", got, want)
	}
}

// selfValue reads the exporter's own state under its lock.
func selfValue(c *Collector, read func(*selfMetrics) float64) float64 {
	c.self.mu.Lock()
	defer c.self.mu.Unlock()
	return read(c.self)
}

// failingLines returns one statefulset_exporter_resource_failing line per watched
// resource, 1 for the resources in failing and 0 for the others.
func failingLines(failing ...string) string {
	var out []string
	for _, res := range allResources {
		out = append(out, fmt.Sprintf(`statefulset_exporter_resource_failing{resource=%q} %d`, res, boolInt(slices.Contains(failing, res))))
	}
	return lines(out...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestResourceFailing: a required kind whose list or watch keeps failing while the API
// server answers (RBAC revoked, a broken conversion webhook, an etcd problem for one
// resource) reads failing, without touching the other kinds, until a list succeeds
// again.
func TestResourceFailing(t *testing.T) {
	gr := func(res string) schema.GroupResource {
		if res == resStatefulSets {
			return schema.GroupResource{Group: "apps", Resource: res}
		}
		return schema.GroupResource{Resource: res}
	}
	cases := []struct {
		name, verb, resource string
		err                  error
		reason               string
	}{
		{"pods list forbidden (RBAC revoked)", "list", resPods, apierrors.NewForbidden(gr(resPods), "", errors.New("RBAC: access denied")), reasonForbidden},
		{"statefulsets list fails in a conversion webhook (retried in place)", "list", resStatefulSets,
			apierrors.NewInternalError(errors.New(`conversion webhook for apps/v1, Kind=StatefulSet failed: Post "https://webhook.svc:443/convert": context deadline exceeded`)), reasonServerError},
		{"pods watch forbidden while the list works", "watch", resPods, apierrors.NewForbidden(gr(resPods), "", errors.New("RBAC: access denied")), reasonForbidden},
		{"nodes list times out in etcd", "list", resNodes, apierrors.NewTimeoutError("etcd request timed out", 0), reasonTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			set := newStatefulSet("ns", "web", 1)
			client := newFakeClient(set, newPod(set, 0), newNode("node-a", zoneKey, "a"))
			if tc.verb == "watch" {
				client.PrependWatchReactor(tc.resource, func(k8stesting.Action) (bool, watch.Interface, error) {
					if broken.Load() {
						return true, nil, tc.err
					}
					return false, nil, nil
				})
			} else {
				client.PrependReactor(tc.verb, tc.resource, func(k8stesting.Action) (bool, runtime.Object, error) {
					if broken.Load() {
						return true, nil, tc.err
					}
					return false, nil, nil
				})
			}
			c, err := New(client, DefaultConfig(), discardLogger(), WithProbe(func(context.Context) error { return nil }))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c.Start(ctx)
			failing := func(res string) bool { return c.watch.resources[res].isFailing() }
			waitUntil(t, tc.resource+" failing", func() bool {
				return failing(tc.resource) && selfValue(c, func(m *selfMetrics) float64 { return m.apiErrors[[2]string{tc.resource, tc.reason}] }) > 0
			})
			if !c.watch.resources[tc.resource].enabled() {
				t.Errorf("required kind %s switched off", tc.resource)
			}
			expectExposition(t, c, failingLines(tc.resource), "statefulset_exporter_resource_failing")
			// It stays failing for as long as the calls fail (a watch that fails after
			// each successful relist reads failing most of the time: sampled here).
			bad := 0
			for range 50 {
				if failing(tc.resource) {
					bad++
				}
				time.Sleep(10 * time.Millisecond)
			}
			if bad < 40 {
				t.Errorf("%s read failing in %d of 50 samples while its calls failed", tc.resource, bad)
			}

			broken.Store(false)
			waitUntil(t, tc.resource+" good again", func() bool { return !failing(tc.resource) && c.Ready() })
			expectExposition(t, c, failingLines(), "statefulset_exporter_resource_failing")
		})
	}
}

// TestRecordWatchErrorSetsFailing: a failure the reflector reports sets failing; the
// normal ends of a watch do not.
func TestRecordWatchErrorSetsFailing(t *testing.T) {
	env := newTestEnv(t, nil)
	r := env.collector.watch.resources[resPods]
	env.collector.watch.recordWatchError(resPods, apierrors.NewInternalError(errors.New("etcdserver: leader changed")))
	env.expect(failingLines(resPods), "statefulset_exporter_resource_failing")
	// Normal watch ends are not failures.
	r.setFailing(false)
	env.collector.watch.recordWatchError(resPods, io.EOF)
	env.collector.watch.recordWatchError(resPods, apierrors.NewResourceExpired("too old resource version"))
	env.expect(failingLines(), "statefulset_exporter_resource_failing")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchedKindsMatchTheRules: the rules' mapping of kinds to the alerts that need them
// (mixin/rules) names the exporter's resources, with its optional kinds (in the
// ClusterRole's order, which mixin/rules checks).
func TestWatchedKindsMatchTheRules(t *testing.T) {
	var names []string
	for _, k := range rules.WatchedKinds() {
		names = append(names, k.Resource)
		if k.Optional != optionalResources[k.Resource] {
			t.Errorf("%s: optional %v in the rules, %v in the exporter", k.Resource, k.Optional, optionalResources[k.Resource])
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(allResources))) {
		t.Errorf("rules know %v, the exporter watches %v", names, allResources)
	}
}
