package collector

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

func connRefused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// scriptedLister fails with errs in turn, then succeeds.
type scriptedLister struct {
	errs  []error
	calls atomic.Int32
}

func (s *scriptedLister) listWatch() *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			n := int(s.calls.Add(1))
			if n <= len(s.errs) {
				return nil, s.errs[n-1]
			}
			return &corev1.PodList{}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			n := int(s.calls.Add(1))
			if n <= len(s.errs) {
				return nil, s.errs[n-1]
			}
			return watch.NewEmptyWatch(), nil
		},
	}
}

func TestResilientListWatchRetriesTransientErrors(t *testing.T) {
	transient := []error{
		connRefused(),
		apierrors.NewUnauthorized("token expired during failover"),
		apierrors.NewServiceUnavailable("etcd leader changed"),
		apierrors.NewInternalError(errors.New("boom")),
	}
	lister := &scriptedLister{errs: transient}
	var counted []string
	lw := newResilientListWatch(lister.listWatch(), func(err error) { counted = append(counted, classifyAPIError(err)) },
		newRecoverySignal().wait)
	start := time.Now()
	if _, err := lw.ListWithContext(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("List returned %v after transient errors", err)
	}
	// 250ms + 500ms + 1s + 2s of backoff.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed)
	}
	want := []string{reasonConnectionRefused, reasonUnauthorized, reasonServerError, reasonServerError}
	if len(counted) != len(want) {
		t.Fatalf("counted %v, want %v", counted, want)
	}
	for i := range want {
		if counted[i] != want[i] {
			t.Fatalf("counted %v, want %v", counted, want)
		}
	}
}

func TestResilientListWatchReturnsPermanentErrors(t *testing.T) {
	for _, err := range []error{
		apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("RBAC")),
		apierrors.NewNotFound(schema.GroupResource{Resource: "leases"}, ""),
		apierrors.NewResourceExpired("too old resource version"),
	} {
		lister := &scriptedLister{errs: []error{err}}
		lw := newResilientListWatch(lister.listWatch(), func(error) { t.Errorf("counted a permanent error %v", err) },
			newRecoverySignal().wait)
		if _, got := lw.WatchWithContext(context.Background(), metav1.ListOptions{}); got != err {
			t.Errorf("Watch returned %v, want %v", got, err)
		}
		if n := lister.calls.Load(); n != 1 {
			t.Errorf("%v: %d calls, want 1", err, n)
		}
	}
}

func TestResilientListWatchWakesOnRecovery(t *testing.T) {
	errs := make([]error, 6) // enough failures for the backoff to reach its 5s cap
	for i := range errs {
		errs[i] = connRefused()
	}
	lister := &scriptedLister{errs: errs}
	signal := newRecoverySignal()
	var failures atomic.Int32
	lw := newResilientListWatch(lister.listWatch(), func(error) { failures.Add(1) }, signal.wait)
	done := make(chan time.Time)
	go func() {
		_, _ = lw.ListWithContext(context.Background(), metav1.ListOptions{})
		done <- time.Now()
	}()
	// Fire the recovery signal each time a failure is counted: each retry wakes at once.
	start := time.Now()
	for seen := int32(0); seen < int32(len(errs)); {
		if n := failures.Load(); n > seen {
			seen = n
			signal.fire()
		}
		time.Sleep(time.Millisecond)
		if time.Since(start) > 5*time.Second {
			t.Fatal("retries did not wake on recovery")
		}
	}
	if end := <-done; end.Sub(start) > 2*time.Second {
		t.Errorf("took %s despite recovery signals", end.Sub(start))
	}
}

func TestResilientListWatchStopsWithContext(t *testing.T) {
	lister := &scriptedLister{errs: []error{connRefused(), connRefused(), connRefused()}}
	lw := newResilientListWatch(lister.listWatch(), func(error) {}, newRecoverySignal().wait)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := lw.ListWithContext(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("List succeeded although every call failed until the context ended")
	}
}

func TestResilientListWatchKeepsWatchListMarker(t *testing.T) {
	lister := &scriptedLister{}
	lw := newResilientListWatch(cache.ToListWatcherWithWatchListSemantics(lister.listWatch(), fakeClientMarker{}), func(error) {}, newRecoverySignal().wait)
	if !lw.IsWatchListSemanticsUnSupported() {
		t.Fatal("lost the wrapped ListerWatcher's watch-list marker")
	}
}

// fakeClientMarker is a client that says it does not support watch-list semantics.
type fakeClientMarker struct{}

func (fakeClientMarker) IsWatchListSemanticsUnSupported() bool { return true }

// watchScript hands out FakeWatchers and records the options of each watch call.
type watchScript struct {
	mu       sync.Mutex
	options  []metav1.ListOptions
	watchers []*watch.FakeWatcher
	opened   chan *watch.FakeWatcher
}

func newWatchScript() *watchScript { return &watchScript{opened: make(chan *watch.FakeWatcher, 100)} }

func (s *watchScript) listWatch() *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return &corev1.PodList{}, nil },
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			w := watch.NewFakeWithChanSize(10, false)
			s.options = append(s.options, o)
			s.watchers = append(s.watchers, w)
			s.opened <- w
			return w, nil
		},
	}
}

func (s *watchScript) next(t *testing.T) *watch.FakeWatcher {
	t.Helper()
	select {
	case w := <-s.opened:
		return w
	case <-time.After(5 * time.Second):
		t.Fatal("no new watch was opened")
		return nil
	}
}

func (s *watchScript) calls() []metav1.ListOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.options)
}

func podAt(name, rv string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv}}
}

func receive(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return watch.Event{}
	}
}

func receiveEnd(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if ok {
			t.Fatalf("got %s event, want the watch to end", ev.Type)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end")
	}
}

// streamBrokeEvent is the error event client-go's REST client sends when it cannot read
// the stream, here a reset HTTP/2 stream.
func streamBrokeEvent() *metav1.Status {
	return apierrors.NewClientErrorReporter(500, "GET", "ClientWatchDecoding").
		AsObject(errors.New("stream error: stream ID 5; INTERNAL_ERROR; received from peer")).(*metav1.Status)
}

func TestResumingWatchResumesFromLastResourceVersion(t *testing.T) {
	for _, brk := range []struct {
		name  string
		apply func(*watch.FakeWatcher)
	}{
		{"closed (EOF, GOAWAY, reset read as EOF)", func(w *watch.FakeWatcher) { w.Stop() }},
		{"stream error event", func(w *watch.FakeWatcher) { w.Error(streamBrokeEvent()) }},
	} {
		t.Run(brk.name, func(t *testing.T) {
			script := newWatchScript()
			lw := newResilientListWatch(script.listWatch(), func(error) {}, newRecoverySignal().wait)
			timeout := int64(300)
			w, err := lw.WatchWithContext(t.Context(), metav1.ListOptions{ResourceVersion: "100", TimeoutSeconds: &timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			first := script.next(t)
			first.Add(podAt("a", "101"))
			first.Modify(podAt("a", "102"))
			receive(t, w)
			receive(t, w)
			start := time.Now()
			brk.apply(first)
			second := script.next(t)
			if d := time.Since(start); d > time.Second {
				t.Errorf("resumed after %s, want at once after a stream that delivered events", d)
			}
			second.Delete(podAt("a", "103"))
			if ev := receive(t, w); ev.Type != watch.Deleted {
				t.Errorf("got %s, want the Deleted event of the resumed stream", ev.Type)
			}
			calls := script.calls()
			if got := calls[1].ResourceVersion; got != "102" {
				t.Errorf("resumed from resource version %q, want 102", got)
			}
			if !calls[1].AllowWatchBookmarks || calls[1].TimeoutSeconds == nil || *calls[1].TimeoutSeconds != timeout {
				t.Errorf("resumed with %+v, want bookmarks and the reflector's timeout", calls[1])
			}
		})
	}
}

func TestResumingWatchPassesServerErrors(t *testing.T) {
	script := newWatchScript()
	lw := newResilientListWatch(script.listWatch(), func(error) {}, newRecoverySignal().wait)
	w, err := lw.WatchWithContext(t.Context(), metav1.ListOptions{ResourceVersion: "100"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	gone := apierrors.NewResourceExpired("too old resource version: 100 (200)").ErrStatus
	script.next(t).Error(&gone)
	ev := receive(t, w)
	if ev.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
		t.Fatalf("got %s %v, want the 410 error event", ev.Type, ev.Object)
	}
	receiveEnd(t, w)
	if n := len(script.calls()); n != 1 {
		t.Errorf("%d watch calls, want no resume after a server error", n)
	}
}

func TestResumingWatchWaitsForInitialEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options metav1.ListOptions
	}{
		{"watch-list", metav1.ListOptions{SendInitialEvents: ptrTo(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}},
		{"watch from resource version 0", metav1.ListOptions{ResourceVersion: "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := newWatchScript()
			lw := newResilientListWatch(script.listWatch(), func(error) {}, newRecoverySignal().wait)
			w, err := lw.WatchWithContext(t.Context(), tc.options)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			first := script.next(t)
			first.Add(podAt("b", "205"))
			first.Add(podAt("a", "201")) // initial events are not in resource version order
			receive(t, w)
			receive(t, w)
			first.Stop()
			receiveEnd(t, w)
			if n := len(script.calls()); n != 1 {
				t.Errorf("%d watch calls, want the break left to the reflector during initial events", n)
			}
		})
	}

	script := newWatchScript()
	lw := newResilientListWatch(script.listWatch(), func(error) {}, newRecoverySignal().wait)
	w, err := lw.WatchWithContext(t.Context(), metav1.ListOptions{SendInitialEvents: ptrTo(true)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	first := script.next(t)
	first.Add(podAt("a", "201"))
	end := podAt("", "210")
	end.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	first.Action(watch.Bookmark, end)
	receive(t, w)
	receive(t, w)
	first.Stop()
	script.next(t)
	if got := script.calls()[1]; got.ResourceVersion != "210" || got.SendInitialEvents != nil || got.ResourceVersionMatch != "" {
		t.Errorf("watch-list resumed with %+v, want a plain watch from the initial-events bookmark 210", got)
	}
}

func TestResumingWatchBacksOffStreamsThatBreakAtOnce(t *testing.T) {
	script := newWatchScript()
	lw := newResilientListWatch(script.listWatch(), func(error) {}, newRecoverySignal().wait)
	w, err := lw.WatchWithContext(t.Context(), metav1.ListOptions{ResourceVersion: "100"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	deadline := time.After(2 * time.Second)
	for done := false; !done; {
		select {
		case fw := <-script.opened:
			fw.Stop() // every stream breaks at once, empty
		case <-deadline:
			done = true
		}
	}
	// 0, 250ms, 750ms, 1.75s: four watches in 2s, not a hot loop.
	if n := len(script.calls()); n > 5 || n < 3 {
		t.Errorf("%d watches in 2s of streams that break at once, want 3 to 5", n)
	}
	w.Stop()
	receiveEnd(t, w)
}

func ptrTo[T any](v T) *T { return &v }
