package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
)

// TestAPIProbeReportsThrottlingAtOnce: a throttled API server (429 with Retry-After, as
// API Priority and Fairness answers) must show as throttled after one request, not be
// retried by client-go until the probe's timeout turns it into a timeout.
func TestAPIProbeReportsThrottlingAtOnce(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`))
	}))
	defer srv.Close()
	probe, err := newAPIProbe(&rest.Config{Host: srv.URL}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = probe(t.Context())
	if !apierrors.IsTooManyRequests(err) {
		t.Errorf("probe error %v, want a 429 (TooManyRequests)", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("probe sent %d requests, want 1 (no retry)", n)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("probe took %s, want an immediate answer", d)
	}
}
