package faultproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// upstream is a fake API server: /watch streams a line every 50ms until the client goes
// away, everything else answers 200 with the bearer token it saw.
func upstream(t *testing.T) (*rest.Config, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			w.Header().Set("Content-Type", "application/json")
			rc := http.NewResponseController(w)
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "{\"n\":%d}\n", i); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		fmt.Fprintf(w, "%s %s", r.URL.Path, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &rest.Config{Host: srv.URL, BearerToken: "secret", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, srv
}

func startProxy(t *testing.T, plain bool) (*Proxy, *http.Client) {
	t.Helper()
	cfg, _ := upstream(t)
	p, err := Start(Options{Upstream: cfg, PlainHTTP: plain, CutAfter: 300 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	client, err := rest.HTTPClientFor(p.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	client.Timeout = 10 * time.Second
	return p, client
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestModes(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			p, c := startProxy(t, plain)
			resp, body := get(t, c, p.URL()+"/version")
			if resp.StatusCode != 200 || body != "/version Bearer secret" {
				t.Errorf("pass-through: %d %q, want the upstream's answer with the upstream token", resp.StatusCode, body)
			}
			if !plain && resp.ProtoMajor != 2 {
				t.Errorf("TLS proxy spoke %s, want HTTP/2", resp.Proto)
			}
			for _, tc := range []struct {
				mode   Mode
				code   int
				reason string
			}{
				{Unauthorized, 401, "Unauthorized"},
				{Forbidden, 403, "Forbidden"},
				{Throttled, 429, "TooManyRequests"},
				{InternalError, 500, "InternalError"},
				{Unavailable, 503, "ServiceUnavailable"},
			} {
				p.SetMode(tc.mode)
				resp, body := get(t, c, p.URL()+"/api/v1/pods")
				var status struct {
					Kind, Reason string
					Code         int
				}
				if err := json.Unmarshal([]byte(body), &status); err != nil || resp.StatusCode != tc.code ||
					status.Kind != "Status" || status.Reason != tc.reason || status.Code != tc.code {
					t.Errorf("%s: %d %q, want %d with a Status of reason %s", tc.mode, resp.StatusCode, body, tc.code, tc.reason)
				}
				if tc.mode == Throttled && resp.Header.Get("Retry-After") != "1" {
					t.Errorf("throttled: Retry-After %q, want 1", resp.Header.Get("Retry-After"))
				}
				if n := p.Count(tc.mode); n != 1 {
					t.Errorf("Count(%s) = %d, want 1", tc.mode, n)
				}
			}
			if n := p.Count(PassThrough); n != 1 {
				t.Errorf("Count(pass_through) = %d, want 1", n)
			}
		})
	}
}

func TestStallHoldsUntilTheModeChanges(t *testing.T) {
	p, c := startProxy(t, false)
	p.SetMode(Stall)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(p.URL() + "/version")
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.Held() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("request not held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("stalled request ended early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	p.SetMode(PassThrough)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("held request was answered, want its connection dropped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held request not released after the mode changed")
	}

	// A client that gives up is let go as well.
	p.SetMode(Stall)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/version", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("stalled request answered")
	}
	for deadline := time.Now().Add(5 * time.Second); p.Held() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("proxy still holds a request its client gave up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readWatch reads lines from a watch until it ends and returns how many it read and how
// it ended.
func readWatch(body io.Reader) (int, error) {
	sc := bufio.NewScanner(body)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

func TestWatchesStreamAndCanBeCut(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			p, c := startProxy(t, plain)
			c.Timeout = 0
			resp, err := c.Get(p.URL() + "/api/v1/pods?watch=true")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Events arrive while the stream is open: the proxy flushes them.
			r := bufio.NewReader(resp.Body)
			for i := range 3 {
				line, err := r.ReadString('\n')
				if err != nil || !strings.Contains(line, fmt.Sprintf(`"n":%d`, i)) {
					t.Fatalf("event %d: %q %v", i, line, err)
				}
			}
			if n := p.InFlightWatches(); n != 1 {
				t.Fatalf("InFlightWatches = %d, want 1", n)
			}
			if n := p.CutWatchesNow(); n != 1 {
				t.Fatalf("CutWatchesNow = %d, want 1", n)
			}
			if _, err := readWatch(r); err == nil {
				t.Error("cut watch ended cleanly, want an abrupt end")
			}

			// In CutWatches mode a new watch streams for CutAfter, then is cut.
			p.SetMode(CutWatches)
			start := time.Now()
			resp2, err := c.Get(p.URL() + "/api/v1/pods?watch=true")
			if err != nil {
				t.Fatal(err)
			}
			defer resp2.Body.Close()
			n, err := readWatch(resp2.Body)
			if err == nil || n == 0 || time.Since(start) > 5*time.Second {
				t.Errorf("watch in cut_watches mode: %d events, err %v after %s; want some events, then an abrupt end", n, err, time.Since(start))
			}
			// Lists pass in that mode.
			if resp, body := get(t, c, p.URL()+"/api/v1/pods"); resp.StatusCode != 200 {
				t.Errorf("list in cut_watches mode: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestRecords(t *testing.T) {
	p, c := startProxy(t, true)
	start := time.Now()
	get(t, c, p.URL()+"/api/v1/nodes?limit=500")
	recs := p.Records(start)
	if len(recs) != 1 || recs[0].Path != "/api/v1/nodes?limit=500" || recs[0].Mode != PassThrough || recs[0].Watch {
		t.Errorf("records %+v", recs)
	}
}
