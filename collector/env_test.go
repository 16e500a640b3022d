package collector

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// envOptions extends newTestEnv: reactors prepended to the fake clientset before the
// collector starts, and a replacement for the always-succeeding API probe.
type envOptions struct {
	reactors []envReactor
	probe    func(ctx context.Context) error
}

type envReactor struct {
	verb, resource string
	fn             k8stesting.ReactionFunc
}

// forbidden makes every verb on resource fail the way RBAC refuses it.
func forbidden(verb string, gr schema.GroupResource) envReactor {
	return envReactor{verb: verb, resource: gr.Resource, fn: func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(gr, "", errors.New("RBAC: access denied"))
	}}
}

// newTestEnvWith is newTestEnv with reactors and a probe.
func newTestEnvWith(t *testing.T, cfg *Config, o envOptions, objs ...runtime.Object) *testEnv {
	t.Helper()
	if cfg == nil {
		d := DefaultConfig()
		cfg = &d
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	for _, r := range o.reactors {
		client.PrependReactor(r.verb, r.resource, r.fn)
	}
	probe := o.probe
	if probe == nil {
		probe = func(context.Context) error { return nil }
	}
	clock := &testClock{t: testNow}
	c, err := New(client, *cfg, slog.New(slog.DiscardHandler), WithClock(clock.Now), WithProbe(probe))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.Start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if !c.WaitForSync(syncCtx) {
		t.Fatal("caches did not sync")
	}
	return &testEnv{t: t, collector: c, client: client, clock: clock}
}

// configWith returns the default config changed by fn.
func configWith(fn func(*Config)) *Config {
	c := DefaultConfig()
	fn(&c)
	return &c
}

// fv formats a sample value the way the text exposition does.
func fv(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ts formats a time as a timestamp sample value in seconds.
func ts(t time.Time) string { return fv(float64(t.UnixNano()) / 1e9) }

// gather returns the metric families of collectors, by name.
func gather(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// expectEventually polls the exposition of the named families until it equals want.
func (e *testEnv) expectEventually(want string, names ...string) {
	e.t.Helper()
	w := normalize(want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := exposition(e.t, e.collector, names...)
		if got == w {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("exposition never matched\n--- got\n%s\n--- want\n%s", got, w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lines joins sample lines, for building expectations in loops.
func lines(ls ...string) string { return strings.Join(ls, "\n") }

func newFakeClient(objs ...runtime.Object) *fake.Clientset { return fake.NewClientset(objs...) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// setFailing (tests) records whether the last list or watch call of every shard failed.
func (r *watchedResource) setFailing(failing bool) {
	for _, s := range r.shards {
		r.setShardFailing(s, failing)
	}
}

// recordWatchError (tests) counts a failed list or watch of a resource with one informer.
func (w *watcher) recordWatchError(resource string, err error) {
	res := w.resources[resource]
	w.recordShardError(res, res.shards[0], err)
}
