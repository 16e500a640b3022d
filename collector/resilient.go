package collector

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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

// WatchWithContext implements cache.ListerWatcherWithContext. The watch it returns
// resumes from the last resource version it delivered when the stream breaks (see
// resumingWatch).
func (r *resilientListWatch) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	w, err := r.watchOnce(ctx, options)
	if err != nil {
		return nil, err
	}
	return newResumingWatch(ctx, r, options, w), nil
}

func (r *resilientListWatch) watchOnce(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
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
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// resumingWatch hides a watch stream that breaks mid-stream (the server or a proxy
// closes or resets it, an API server sends GOAWAY while it shuts down) from the
// reflector: it opens a new watch from the last resource version it delivered. Left to
// the reflector, a watch that ends within a second without an event is a "very short
// watch", and every error ends its ListAndWatch into a back-off of 0.8s doubling to 30s
// followed by a full relist. The new watch is opened by watchOnce, so refusals are
// retried as for any watch; consecutive streams that break quickly without delivering
// anything are reopened after retryInitialDelay doubling to retryMaxDelay, so that a
// server closing every watch at once is not hammered.
//
// A stream is resumed only once its resource versions are in order: not during the
// initial events of a watch-list (until the bookmark that ends them), nor during the
// synthetic ADDED events of a watch from resource version "" or "0". Errors the server
// sends in the stream (410 Gone among them) go to the reflector unchanged.
type resumingWatch struct {
	r       *resilientListWatch
	ctx     context.Context
	cancel  context.CancelFunc
	options metav1.ListOptions
	result  chan watch.Event

	mu    sync.Mutex
	inner watch.Interface

	// Owned by run.
	rv        string // resource version of the last event delivered
	inOrder   bool   // whether rv is a point the watch can resume from
	watchList bool   // the stream is a watch-list waiting for its initial-events bookmark
}

func newResumingWatch(ctx context.Context, r *resilientListWatch, options metav1.ListOptions, inner watch.Interface) *resumingWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &resumingWatch{
		r: r, ctx: ctx, cancel: cancel, options: options, result: make(chan watch.Event), inner: inner,
		rv:        options.ResourceVersion,
		watchList: options.SendInitialEvents != nil && *options.SendInitialEvents,
	}
	w.inOrder = !w.watchList && w.rv != "" && w.rv != "0"
	go w.run()
	return w
}

// ResultChan implements watch.Interface.
func (w *resumingWatch) ResultChan() <-chan watch.Event { return w.result }

// Stop implements watch.Interface.
func (w *resumingWatch) Stop() {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inner.Stop()
}

func (w *resumingWatch) run() {
	defer close(w.result)
	delay := retryInitialDelay
	for {
		start := time.Now()
		delivered, resume := w.forward()
		w.current().Stop()
		if !resume || w.ctx.Err() != nil {
			return
		}
		if delivered > 0 || time.Since(start) >= time.Second {
			delay = retryInitialDelay
		} else if !w.sleep(delay) {
			return
		} else {
			delay = min(delay*2, retryMaxDelay)
		}
		options := w.options
		options.ResourceVersion, options.ResourceVersionMatch, options.SendInitialEvents = w.rv, "", nil
		options.AllowWatchBookmarks = true
		next, err := w.r.watchOnce(w.ctx, options)
		if err != nil {
			if w.ctx.Err() == nil {
				w.send(watch.Event{Type: watch.Error, Object: errorStatus(err)})
			}
			return
		}
		w.mu.Lock()
		w.inner = next
		stopped := w.ctx.Err() != nil
		w.mu.Unlock()
		if stopped {
			next.Stop()
			return
		}
	}
}

// forward delivers the current stream's events until it ends, and tells how many it
// delivered and whether to resume.
func (w *resumingWatch) forward() (delivered int, resume bool) {
	in := w.current().ResultChan()
	for {
		var ev watch.Event
		var ok bool
		select {
		case <-w.ctx.Done():
			return delivered, false
		case ev, ok = <-in:
		}
		switch {
		case !ok: // EOF, or a connection error client-go reads as one (GOAWAY, reset)
			return delivered, w.inOrder
		case ev.Type == watch.Error:
			if w.inOrder && streamBroke(ev.Object) {
				return delivered, true
			}
			w.send(ev)
			return delivered, false
		}
		w.track(ev)
		if !w.send(ev) {
			return delivered, false
		}
		delivered++
	}
}

// track records the resource version an event leaves the watch at.
func (w *resumingWatch) track(ev watch.Event) {
	m, err := meta.Accessor(ev.Object)
	if err != nil {
		return
	}
	if rv := m.GetResourceVersion(); rv != "" {
		w.rv = rv
	}
	switch {
	case w.watchList:
		if ev.Type == watch.Bookmark && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
			w.watchList, w.inOrder = false, true
		}
	case !w.inOrder && ev.Type != watch.Added && w.rv != "":
		w.inOrder = true // past the synthetic ADDED events of a watch from "" or "0"
	}
}

func (w *resumingWatch) send(ev watch.Event) bool {
	select {
	case <-w.ctx.Done():
		return false
	case w.result <- ev:
		return true
	}
}

func (w *resumingWatch) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-w.ctx.Done():
		return false
	case <-w.r.recovered():
		return true
	case <-timer.C:
		return true
	}
}

func (w *resumingWatch) current() watch.Interface {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inner
}

// streamBroke tells whether an error event is client-go's report that it could not read
// the stream (a reset HTTP/2 stream, a broken connection), not an error the server sent.
func streamBroke(obj runtime.Object) bool {
	status, ok := obj.(*metav1.Status)
	if !ok || status.Details == nil {
		return false
	}
	for _, c := range status.Details.Causes {
		if c.Type == clientWatchDecoding {
			return true
		}
	}
	return false
}

// clientWatchDecoding is the cause type client-go's REST client gives the error event of
// a watch stream it failed to read (k8s.io/client-go/rest.Request.Watch).
const clientWatchDecoding metav1.CauseType = "ClientWatchDecoding"

// errorStatus is the Status an error event carries for err.
func errorStatus(err error) *metav1.Status {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		return &s
	}
	return &apierrors.NewInternalError(err).ErrStatus
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
