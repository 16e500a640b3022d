package collector

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Retry delays of resilientListWatch. The reflector's own backoff grows to 30-60s and
// only resets after two quiet minutes, so after a control-plane failover the caches
// could stay stale for a minute while the API was back. Retrying transient failures
// inside List and Watch, at most retryMaxDelay apart and at once when the API probe sees
// the server return, bounds that to a few seconds.
const (
	retryInitialDelay = 250 * time.Millisecond
	retryMaxDelay     = 5 * time.Second
)

// resilientListWatch wraps an informer's ListerWatcher so that transient failures
// (connection refused or reset, timeouts, 5xx, 429, and the 401s an API server answers
// while it fails over) are counted and retried in place instead of being returned to
// the reflector. Other errors (403, 404, 410 Gone) are returned at once: the reflector
// and the watch error handler deal with them.
type resilientListWatch struct {
	inner   cache.ListerWatcherWithContext
	marker  cache.ListerWatcher // kept for IsWatchListSemanticsUnSupported
	onError func(error)
	// onSuccess, when set, is called when a list succeeds or a watch is established.
	onSuccess func()
	// recovered returns a channel closed the next time the API probe succeeds after
	// failing.
	recovered func() <-chan struct{}
}

func newResilientListWatch(lw cache.ListerWatcher, onError func(error), recovered func() <-chan struct{}) *resilientListWatch {
	return &resilientListWatch{inner: cache.ToListerWatcherWithContext(lw), marker: lw, onError: onError, recovered: recovered}
}

// IsWatchListSemanticsUnSupported forwards what the wrapped ListerWatcher says, so that
// clients without watch-list support (the fake clientset) keep working.
func (r *resilientListWatch) IsWatchListSemanticsUnSupported() bool {
	m, ok := r.marker.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && m.IsWatchListSemanticsUnSupported()
}

// List implements cache.Lister.
func (r *resilientListWatch) List(options metav1.ListOptions) (runtime.Object, error) {
	return r.ListWithContext(context.Background(), options)
}

// Watch implements cache.Watcher.
func (r *resilientListWatch) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return r.WatchWithContext(context.Background(), options)
}

// ListWithContext implements cache.ListerWatcherWithContext.
func (r *resilientListWatch) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	return retryTransient(ctx, r, func() (runtime.Object, error) { return r.inner.ListWithContext(ctx, options) })
}

// WatchWithContext implements cache.ListerWatcherWithContext.
func (r *resilientListWatch) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return retryTransient(ctx, r, func() (watch.Interface, error) { return r.inner.WatchWithContext(ctx, options) })
}

func retryTransient[T any](ctx context.Context, r *resilientListWatch, call func() (T, error)) (T, error) {
	delay := retryInitialDelay
	for {
		v, err := call()
		if err == nil && r.onSuccess != nil {
			r.onSuccess()
		}
		if err == nil || !transientAPIError(err) || ctx.Err() != nil {
			return v, err
		}
		r.onError(err)
		wait := delay
		if seconds, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(seconds)*time.Second > wait {
			wait = time.Duration(seconds) * time.Second
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return v, err
		case <-r.recovered():
			timer.Stop()
		case <-timer.C:
		}
		delay = min(delay*2, retryMaxDelay)
	}
}

// transientAPIError tells whether an error of a list or watch call is worth retrying in
// place: the API server is unreachable, overloaded or failing over.
func transientAPIError(err error) bool {
	switch classifyAPIError(err) {
	case reasonConnectionRefused, reasonTimeout, reasonThrottled, reasonServerError, reasonUnauthorized:
		return true
	case reasonForbidden:
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// recoverySignal hands out a channel that is closed when the API probe succeeds after a
// failure, to wake the retries of resilientListWatch.
type recoverySignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newRecoverySignal() *recoverySignal { return &recoverySignal{ch: make(chan struct{})} }

func (s *recoverySignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *recoverySignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
