package collector

import (
	"bytes"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// testNow is the fixed "now" of the tests.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testEnv struct {
	t         *testing.T
	collector *Collector
	client    *fake.Clientset
	clock     *testClock
}

// newTestEnv starts a collector on a fake clientset holding objs and waits for its caches.
func newTestEnv(t *testing.T, cfg *Config, objs ...runtime.Object) *testEnv {
	t.Helper()
	return newTestEnvWith(t, cfg, envOptions{}, objs...)
}

// exposition renders the collector's samples of the named families in text format,
// without HELP and TYPE lines, sorted.
func exposition(t *testing.T, c prometheus.Collector, names ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var lines []string
	for _, mf := range families {
		if len(names) > 0 && !want[mf.GetName()] {
			continue
		}
		var buf bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// normalize trims and sorts expected exposition lines.
func normalize(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// expect compares the named families with want (sample lines in any order).
func (e *testEnv) expect(want string, names ...string) {
	e.t.Helper()
	expectExposition(e.t, e.collector, want, names...)
}

func expectExposition(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	got := exposition(t, c, names...)
	if w := normalize(want); got != w {
		t.Errorf("exposition mismatch\n--- got\n%s\n--- want\n%s", got, w)
	}
}

// eventually polls cond until it holds or fails the test after 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
