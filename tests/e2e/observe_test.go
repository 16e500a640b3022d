package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statefulset-exporter/statefulset-exporter/internal/promstack"
)

// webhookMessage is the payload of Alertmanager's webhook notifier (version 4), see
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config.
type webhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// received is one alert of one notification, as the webhook got it.
type received struct {
	At    time.Time
	Path  string // /pager, /ticket, /low-priority
	Msg   *webhookMessage
	Alert webhookAlert
}

func (r received) String() string {
	return fmt.Sprintf("%s %s %s %s", r.Path, r.Alert.Status, r.Alert.Labels["alertname"], labelString(r.Alert.Labels))
}

// webhook records every notification Alertmanager sends to it.
type webhook struct {
	*httptest.Server
	t        testing.TB
	mu       sync.Mutex
	received []received
	errs     []string
}

func startWebhook(t testing.TB) *webhook {
	w := &webhook{t: t}
	// httptest listens on 127.0.0.1.
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	var msg webhookMessage
	if err == nil {
		err = json.Unmarshal(body, &msg)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || r.Method != http.MethodPost {
		w.errs = append(w.errs, fmt.Sprintf("%s %s: %v: %s", r.Method, r.URL.Path, err, body))
		http.Error(rw, "bad request", http.StatusBadRequest)
		return
	}
	for _, a := range msg.Alerts {
		w.received = append(w.received, received{At: at, Path: r.URL.Path, Msg: &msg, Alert: a})
	}
	w.t.Logf("webhook %s: %s %s, %d alert(s): %s", r.URL.Path, msg.Receiver, msg.Status, len(msg.Alerts), groupSummary(msg))
}

func groupSummary(msg webhookMessage) string {
	var parts []string
	for _, a := range msg.Alerts {
		parts = append(parts, a.Status+" "+a.Labels["alertname"]+labelString(a.Labels))
	}
	return strings.Join(parts, "; ")
}

// all returns a copy of everything received so far.
func (w *webhook) all() []received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.received)
}

// badRequests returns requests that were not valid webhook notifications.
func (w *webhook) badRequests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// first returns the first alert received with status (firing/resolved) whose labels
// include match.
func (w *webhook) first(status string, match map[string]string) (received, bool) {
	for _, r := range w.all() {
		if r.Alert.Status == status && hasLabels(r.Alert.Labels, match) {
			return r, true
		}
	}
	return received{}, false
}

// promAlert is one active alert of Prometheus's /api/v1/alerts.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

// seenAlert is what the alert watcher learnt about one alert (name and labels).
type seenAlert struct {
	Labels        map[string]string
	ActiveAt      time.Time // Prometheus's activeAt: when the expression first matched
	FirstPending  time.Time // when the watcher first saw it pending (zero if never)
	FirstFiring   time.Time // when the watcher first saw it firing (zero if never)
	LastSeen      time.Time
	LastState     string
	FiringMessage string // description while firing
}

// alertWatcher polls Prometheus's active alerts and keeps the history, so that the test
// can tell an alert that fired but was inhibited from one that never fired, and can
// assert on pending alerts too.
type alertWatcher struct {
	prom *promstack.Process
	mu   sync.Mutex
	seen map[string]*seenAlert
	errs int
	last error
}

func watchAlerts(ctx context.Context, prom *promstack.Process, every time.Duration) *alertWatcher {
	w := &alertWatcher{prom: prom, seen: map[string]*seenAlert{}}
	go func() {
		for {
			w.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

func (w *alertWatcher) poll(ctx context.Context) {
	body, err := w.prom.Get(ctx, "/api/v1/alerts")
	now := time.Now()
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err == nil {
		err = json.Unmarshal(body, &resp)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.errs++
			w.last = err
		}
		return
	}
	for _, a := range resp.Data.Alerts {
		key := labelString(a.Labels)
		s := w.seen[key]
		if s == nil {
			s = &seenAlert{Labels: a.Labels, ActiveAt: a.ActiveAt}
			w.seen[key] = s
		}
		switch a.State {
		case "pending":
			if s.FirstPending.IsZero() {
				s.FirstPending = now
			}
		case "firing":
			if s.FirstFiring.IsZero() {
				s.FirstFiring = now
				s.FiringMessage = a.Annotations["description"]
			}
		}
		s.LastSeen, s.LastState = now, a.State
	}
}

// all returns a copy of every alert seen so far, sorted by first activity.
func (w *alertWatcher) all() []seenAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seenAlert
	for _, k := range slices.Sorted(maps.Keys(w.seen)) {
		out = append(out, *w.seen[k])
	}
	return out
}

// firing returns the first alert whose labels include match and that has been seen
// firing.
func (w *alertWatcher) firing(match map[string]string) (seenAlert, bool) {
	for _, s := range w.all() {
		if !s.FirstFiring.IsZero() && hasLabels(s.Labels, match) {
			return s, true
		}
	}
	return seenAlert{}, false
}

func (w *alertWatcher) errors() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs, w.last
}

// hasLabels reports whether labels include every pair of match.
func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// labelString formats labels in a stable order.
func labelString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// eventually polls cond every 100ms until it returns true or ctx ends.
func eventually(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
