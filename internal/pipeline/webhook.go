package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Message is the payload of Alertmanager's webhook notifier (version 4), see
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Notification is one alert of one notification, as the webhook got it.
type Notification struct {
	At    time.Time
	Path  string // /pager, /ticket, /low-priority
	Msg   *Message
	Alert Alert
}

func (n Notification) String() string {
	return fmt.Sprintf("%s %s %s %s", n.Path, n.Alert.Status, n.Alert.Labels["alertname"], LabelString(n.Alert.Labels))
}

// Webhook is a loopback HTTP server that records every notification Alertmanager sends
// to it. Close it when done.
type Webhook struct {
	*httptest.Server
	logf     func(string, ...any)
	mu       sync.Mutex
	received []Notification
	errs     []string
}

// StartWebhook starts a Webhook on 127.0.0.1; logf, if not nil, gets one line per
// notification.
func StartWebhook(logf func(string, ...any)) *Webhook {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w := &Webhook{logf: logf}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	return w
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	var msg Message
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
		w.received = append(w.received, Notification{At: at, Path: r.URL.Path, Msg: &msg, Alert: a})
	}
	w.logf("webhook %s: %s %s, %d alert(s): %s", r.URL.Path, msg.Receiver, msg.Status, len(msg.Alerts), groupSummary(msg))
}

func groupSummary(msg Message) string {
	var parts []string
	for _, a := range msg.Alerts {
		parts = append(parts, a.Status+" "+a.Labels["alertname"]+LabelString(a.Labels))
	}
	return strings.Join(parts, "; ")
}

// All returns a copy of everything received so far, in order.
func (w *Webhook) All() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.received)
}

// BadRequests returns the requests that were not valid webhook notifications.
func (w *Webhook) BadRequests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// First returns the first alert received with status (firing/resolved) whose labels
// include match.
func (w *Webhook) First(status string, match map[string]string) (Notification, bool) {
	for _, n := range w.All() {
		if n.Alert.Status == status && HasLabels(n.Alert.Labels, match) {
			return n, true
		}
	}
	return Notification{}, false
}

// Last returns the latest notification of the alert with exactly these labels.
func (w *Webhook) Last(labels map[string]string) (Notification, bool) {
	key := LabelString(labels)
	all := w.All()
	for i := len(all) - 1; i >= 0; i-- {
		if LabelString(all[i].Alert.Labels) == key {
			return all[i], true
		}
	}
	return Notification{}, false
}

// HasLabels reports whether labels include every pair of match.
func HasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// LabelString formats labels in a stable order.
func LabelString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
