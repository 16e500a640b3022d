package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

const testUUID = "4b6c5c1e-8f3a-4b8e-9d8e-2f1a0b9c7d6e"

func TestHolderLabel(t *testing.T) {
	long := strings.Repeat("a", 1000)
	cases := []struct{ in, want string }{
		{"ip-10-0-1-2.ec2.internal_" + testUUID, "ip-10-0-1-2.ec2.internal"},
		{"ip-10-0-1-2.ec2.internal_" + strings.ToUpper(testUUID), "ip-10-0-1-2.ec2.internal"},
		{"node-a", "node-a"},
		{"node-a_not-a-uuid", "node-a_not-a-uuid"},
		{"node-a_" + testUUID + "_b", "node-a_" + testUUID + "_b"}, // only a trailing suffix
		{"node-a-" + testUUID, "node-a-" + testUUID},               // the separator is "_"
		{"_" + testUUID, ""},
		{"node-a_" + testUUID[:35], "node-a_" + testUUID[:35]},
		{"\xffnode\xfe_" + testUUID, "\uFFFDnode\uFFFD"},
		{long + "_" + testUUID, long[:maxLabelValueLength]},
		{strings.Repeat("é", 200), strings.Repeat("é", 126)}, // cut on a rune boundary
		{"", ""},
	}
	for _, tc := range cases {
		got := holderLabel(tc.in)
		if got != tc.want {
			t.Errorf("holderLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > maxLabelValueLength {
			t.Errorf("holderLabel(%q) = %q: invalid or too long", tc.in, got)
		}
	}
}

func leaseIn(ns string, l *coordinationv1.Lease) *coordinationv1.Lease {
	l.Namespace = ns
	return l
}

func TestLeaseSamples(t *testing.T) {
	acquired := testNow.Add(-10 * time.Minute)
	renewed := testNow.Add(-2 * time.Second)
	noTimes := newLease("bare", "node-b", 0)
	noTimes.Spec.RenewTime, noTimes.Spec.AcquireTime, noTimes.Spec.LeaseDurationSeconds, noTimes.Spec.LeaseTransitions = nil, nil, nil, nil
	nilHolder := newLease("nil-holder", "", 3)
	nilHolder.Spec.HolderIdentity = nil
	longHolder := strings.Repeat("x", 400) + "_" + testUUID
	env := newTestEnv(t, nil,
		newLease("kube-scheduler", "ip-10-0-1-2.ec2.internal_"+testUUID, 4),
		newLease("released", "", 7),
		nilHolder, noTimes,
		newLease("odd", "\xff\xfebad_"+testUUID, 0),
		newLease("long", longHolder, 0),
		leaseIn("other-ns", newLease("elsewhere", "node-z", 0)),
	)
	env.expect(fmt.Sprintf(`
		statefulset_control_plane_lease_holder_info{holder="ip-10-0-1-2.ec2.internal",lease="kube-scheduler",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="node-b",lease="bare",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="%sbad",lease="odd",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="%s",lease="long",namespace="kube-system"} 1
	`, string(utf8.RuneError), strings.Repeat("x", maxLabelValueLength)), "statefulset_control_plane_lease_holder_info")

	var want []string
	for _, name := range []string{"bare", "kube-scheduler", "long", "nil-holder", "odd", "released"} {
		want = append(want, fmt.Sprintf(`statefulset_control_plane_lease_transitions_total{lease=%q,namespace="kube-system"} 0`, name))
		if name == "bare" {
			continue
		}
		want = append(want,
			fmt.Sprintf(`statefulset_control_plane_lease_renew_timestamp_seconds{lease=%q,namespace="kube-system"} %s`, name, ts(renewed)),
			fmt.Sprintf(`statefulset_control_plane_lease_last_transition_timestamp_seconds{lease=%q,namespace="kube-system"} %s`, name, ts(acquired)),
			fmt.Sprintf(`statefulset_control_plane_lease_duration_seconds{lease=%q,namespace="kube-system"} 15`, name))
	}
	env.expect(lines(want...), "statefulset_control_plane_lease_transitions_total", "statefulset_control_plane_lease_renew_timestamp_seconds",
		"statefulset_control_plane_lease_last_transition_timestamp_seconds", "statefulset_control_plane_lease_duration_seconds")
}

// leaseTransitions returns the transitions the collector counted for a kube-system Lease.
func leaseTransitions(c *Collector, name string) float64 {
	n, _, _ := c.leases.state("kube-system", name)
	return n
}

func TestLeaseTransitions(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil,
		newLease("abba", "a_"+testUUID, 1),
		newLease("jump", "a", 5),
		newLease("missed", "a", 5),
		newLease("release", "a", 2),
		newLease("renew", "a", 9),
		newLease("restart", "a_"+testUUID, 1),
		newLease("sentinel", "a", 0),
	)
	update := func(name, holder string, transitions int32, fn ...func(*coordinationv1.Lease)) {
		t.Helper()
		l := newLease(name, holder, transitions)
		for _, f := range fn {
			f(l)
		}
		if _, err := env.client.CoordinationV1().Leases("kube-system").Update(ctx, l, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	noAcquire := func(l *coordinationv1.Lease) { l.Spec.AcquireTime = nil }

	env.clock.Advance(time.Minute)
	update("abba", "b_"+testUUID, 2)
	update("abba", "a_"+testUUID, 3)
	update("jump", "b", 8) // one change seen, three recorded by the holders
	update("missed", "a", 7)
	update("release", "", 2)
	update("release", "c", 3, noAcquire)
	update("renew", "a", 9, func(l *coordinationv1.Lease) { l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(testNow)) })
	// The same host restarted: a new process UUID is a new holder identity.
	update("restart", "a_"+strings.Replace(testUUID, "4b6c", "ffff", 1), 2)
	update("sentinel", "b", 1)
	// One informer delivers events in order: once the sentinel's change is counted,
	// every update above has been seen.
	eventually(t, "updates observed", func() bool { return leaseTransitions(env.collector, "sentinel") == 1 })

	observed := testNow.Add(time.Minute)
	env.expect(`
		statefulset_control_plane_lease_transitions_total{lease="abba",namespace="kube-system"} 2
		statefulset_control_plane_lease_transitions_total{lease="jump",namespace="kube-system"} 3
		statefulset_control_plane_lease_transitions_total{lease="missed",namespace="kube-system"} 2
		statefulset_control_plane_lease_transitions_total{lease="release",namespace="kube-system"} 1
		statefulset_control_plane_lease_transitions_total{lease="renew",namespace="kube-system"} 0
		statefulset_control_plane_lease_transitions_total{lease="restart",namespace="kube-system"} 1
		statefulset_control_plane_lease_transitions_total{lease="sentinel",namespace="kube-system"} 1
	`, "statefulset_control_plane_lease_transitions_total")
	env.expect(`
		statefulset_control_plane_lease_holder_info{holder="a",lease="abba",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="b",lease="jump",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="a",lease="missed",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="c",lease="release",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="a",lease="renew",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="a",lease="restart",namespace="kube-system"} 1
		statefulset_control_plane_lease_holder_info{holder="b",lease="sentinel",namespace="kube-system"} 1
	`, "statefulset_control_plane_lease_holder_info")

	// spec.acquireTime when set, else when the exporter saw the change.
	var want []string
	for _, name := range []string{"abba", "jump", "missed", "release", "renew", "restart", "sentinel"} {
		renew, transition := testNow.Add(-2*time.Second), testNow.Add(-10*time.Minute)
		switch name {
		case "renew":
			renew = testNow
		case "release":
			transition = observed
		}
		want = append(want,
			fmt.Sprintf(`statefulset_control_plane_lease_renew_timestamp_seconds{lease=%q,namespace="kube-system"} %s`, name, ts(renew)),
			fmt.Sprintf(`statefulset_control_plane_lease_last_transition_timestamp_seconds{lease=%q,namespace="kube-system"} %s`, name, ts(transition)))
	}
	env.expect(lines(want...), "statefulset_control_plane_lease_renew_timestamp_seconds", "statefulset_control_plane_lease_last_transition_timestamp_seconds")
}

func TestLeaseReleaseHasNoHolderSample(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil, newLease("kcm", "a", 1))
	env.expect(`statefulset_control_plane_lease_holder_info{holder="a",lease="kcm",namespace="kube-system"} 1`, "statefulset_control_plane_lease_holder_info")
	if _, err := env.client.CoordinationV1().Leases("kube-system").Update(ctx, newLease("kcm", "", 1), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(``, "statefulset_control_plane_lease_holder_info")
	env.expect(`statefulset_control_plane_lease_transitions_total{lease="kcm",namespace="kube-system"} 0`, "statefulset_control_plane_lease_transitions_total")

	// A deleted Lease disappears.
	if err := env.client.CoordinationV1().Leases("kube-system").Delete(ctx, "kcm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env.expectEventually(``, "statefulset_control_plane_lease_transitions_total", "statefulset_control_plane_lease_duration_seconds")
}

func TestLeaseNameAndNamespace(t *testing.T) {
	objs := []runtime.Object{
		newLease("kube-scheduler", "s", 0), newLease("kube-controller-manager", "c", 0), newLease("other", "o", 0),
		leaseIn("control", newLease("kube-scheduler", "x", 0)),
	}
	cases := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"every Lease of kube-system", nil, `
			statefulset_control_plane_lease_holder_info{holder="c",lease="kube-controller-manager",namespace="kube-system"} 1
			statefulset_control_plane_lease_holder_info{holder="o",lease="other",namespace="kube-system"} 1
			statefulset_control_plane_lease_holder_info{holder="s",lease="kube-scheduler",namespace="kube-system"} 1`},
		{"one --lease.name", configWith(func(c *Config) { c.LeaseNames = []string{"kube-scheduler"} }), `
			statefulset_control_plane_lease_holder_info{holder="s",lease="kube-scheduler",namespace="kube-system"} 1`},
		{"two --lease.name", configWith(func(c *Config) { c.LeaseNames = []string{"kube-scheduler,kube-controller-manager", "absent"} }), `
			statefulset_control_plane_lease_holder_info{holder="c",lease="kube-controller-manager",namespace="kube-system"} 1
			statefulset_control_plane_lease_holder_info{holder="s",lease="kube-scheduler",namespace="kube-system"} 1`},
		{"--lease.namespace", configWith(func(c *Config) { c.LeaseNamespace = "control" }), `
			statefulset_control_plane_lease_holder_info{holder="x",lease="kube-scheduler",namespace="control"} 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, tc.cfg, objs...)
			env.expect(tc.want, "statefulset_control_plane_lease_holder_info")
		})
	}
}

// TestLeaseHeld covers statefulset_control_plane_lease_held: 1 while a holder's renewTime +
// leaseDurationSeconds is not past at the collection, by the collector's clock.
func TestLeaseHeld(t *testing.T) {
	ctx := context.Background()
	renewedAgo := func(d time.Duration) func(*coordinationv1.Lease) {
		return func(l *coordinationv1.Lease) { l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(testNow.Add(-d))) }
	}
	lease := func(name, holder string, fn ...func(*coordinationv1.Lease)) *coordinationv1.Lease {
		l := newLease(name, holder, 1)
		for _, f := range fn {
			f(l)
		}
		return l
	}
	env := newTestEnv(t, nil,
		lease("held", "a"), // renewed 2s ago, 15s lease
		lease("expires-now", "a", renewedAgo(15*time.Second)),
		lease("expired", "a", renewedAgo(16*time.Second)),
		lease("released", ""),
		lease("nil-holder", "", func(l *coordinationv1.Lease) { l.Spec.HolderIdentity = nil }),
		// A holder-less Lease is not held even without times.
		lease("bare-released", "", func(l *coordinationv1.Lease) { l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = nil, nil }),
		// With a holder, a missing renewTime or duration leaves it unknown: no sample.
		lease("nil-renew", "a", func(l *coordinationv1.Lease) { l.Spec.RenewTime = nil }),
		lease("nil-duration", "a", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = nil }),
	)
	env.expect(`
		statefulset_control_plane_lease_held{lease="bare-released",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expired",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expires-now",namespace="kube-system"} 1
		statefulset_control_plane_lease_held{lease="held",namespace="kube-system"} 1
		statefulset_control_plane_lease_held{lease="nil-holder",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="released",namespace="kube-system"} 0
	`, "statefulset_control_plane_lease_held")

	// No event: the value follows the clock of each collection, nothing is cached.
	env.clock.Advance(14 * time.Second)
	env.expect(`
		statefulset_control_plane_lease_held{lease="bare-released",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expired",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expires-now",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="held",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="nil-holder",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="released",namespace="kube-system"} 0
	`, "statefulset_control_plane_lease_held")

	// The holder renews, and a new holder takes the released Lease.
	for _, l := range []*coordinationv1.Lease{lease("held", "a", renewedAgo(-14*time.Second)), lease("released", "b", renewedAgo(-10*time.Second))} {
		if _, err := env.client.CoordinationV1().Leases("kube-system").Update(ctx, l, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env.expectEventually(`
		statefulset_control_plane_lease_held{lease="bare-released",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expired",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="expires-now",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="held",namespace="kube-system"} 1
		statefulset_control_plane_lease_held{lease="nil-holder",namespace="kube-system"} 0
		statefulset_control_plane_lease_held{lease="released",namespace="kube-system"} 1
	`, "statefulset_control_plane_lease_held")
}
