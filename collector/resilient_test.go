package collector

import (
	"context"
	"errors"
	"net"
	"os"
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
