// Package faultproxy is a reverse proxy for tests that sits between a Kubernetes client
// (the exporter) and a real kube-apiserver and injects the faults a managed control
// plane shows while it fails over: authentication and authorisation errors, throttling,
// 5xx answers, requests that hang, and watch streams cut in the middle.
//
// The proxy listens on loopback only. It serves HTTPS with its own self-signed
// certificate (HTTP/2, like a real API server) or plain HTTP, and talks to the upstream
// API server with the TLS settings and bearer token of a rest.Config, so the client needs
// no credentials of its own: WriteKubeconfig writes a kubeconfig that points at the proxy
// and trusts its certificate.
//
// Responses are streamed and flushed chunk by chunk, so watches work through it.
package faultproxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Mode is how the proxy answers requests.
type Mode string

// Modes. Every request is served in the mode current when it arrives.
const (
	// PassThrough forwards requests to the API server.
	PassThrough Mode = "pass_through"
	// Unauthorized answers 401 with a Status body, as an API server that no longer
	// accepts the client's token does.
	Unauthorized Mode = "unauthorized"
	// Forbidden answers 403 with a Status body.
	Forbidden Mode = "forbidden"
	// Throttled answers 429 with a Retry-After header (Options.RetryAfter), as API
	// Priority and Fairness does.
	Throttled Mode = "throttled"
	// InternalError answers 500 with a Status body and no Retry-After.
	InternalError Mode = "internal_error"
	// Unavailable answers 503 with a Status body and no Retry-After.
	Unavailable Mode = "unavailable"
	// Stall holds requests without answering until the client gives up, the mode
	// changes or the proxy closes. Requests still held when the mode changes have their
	// connection closed (a load balancer dropping them), they are not forwarded late.
	Stall Mode = "stall"
	// CutWatches forwards requests, but closes the connection of every watch stream
	// Options.CutAfter after its response started. Lists and other requests pass.
	CutWatches Mode = "cut_watches"
)

// Modes lists every mode.
var Modes = []Mode{PassThrough, Unauthorized, Forbidden, Throttled, InternalError, Unavailable, Stall, CutWatches}

// Options configure Start.
type Options struct {
	// Upstream is the API server to forward to, with the credentials to use. Required.
	Upstream *rest.Config
	// PlainHTTP serves plain HTTP/1.1 instead of HTTPS (HTTP/2) with a self-signed
	// certificate.
	PlainHTTP bool
	// RetryAfter is the Retry-After of Throttled answers, in whole seconds. Zero
	// means one second.
	RetryAfter time.Duration
	// CutAfter is how long a watch stream lives in CutWatches mode. Zero means 500ms.
	CutAfter time.Duration
	// Logf receives one line per mode change. Nil discards them.
	Logf func(format string, args ...any)
}

// Record is one request the proxy received.
type Record struct {
	At     time.Time
	Mode   Mode
	Method string
	Path   string // with the query
	Watch  bool
}

// Proxy is a running fault-injecting proxy. Its methods are safe for concurrent use.
type Proxy struct {
	opts     Options
	upstream *url.URL
	rt       http.RoundTripper
	listener net.Listener
	server   *http.Server
	certPEM  []byte // nil for plain HTTP

	mode    atomic.Value  // Mode
	changed chan struct{} // closed and replaced on every mode change

	mu      sync.Mutex
	counts  map[Mode]int64
	records []Record
	watches map[*inflight]struct{} // in-flight watch streams
	held    int                    // requests held by Stall right now

	closeOnce sync.Once
	closed    chan struct{}
}

// inflight is a streaming response that CutWatchesNow can end.
type inflight struct {
	cancel context.CancelCauseFunc
}

// errCut is the cause of a watch stream cut by the proxy.
var errCut = errors.New("faultproxy: watch stream cut")

// maxRecords bounds the request log.
const maxRecords = 100_000

// Start listens on a free loopback port and serves until Close.
func Start(opts Options) (*Proxy, error) {
	if opts.Upstream == nil {
		return nil, errors.New("faultproxy: Options.Upstream is required")
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.CutAfter <= 0 {
		opts.CutAfter = 500 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	upstream, err := url.Parse(opts.Upstream.Host)
	if err != nil || upstream.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream host %q: %v", opts.Upstream.Host, err)
	}
	rt, err := rest.TransportFor(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream transport: %w", err)
	}
	p := &Proxy{
		opts:     opts,
		upstream: upstream,
		rt:       rt,
		changed:  make(chan struct{}),
		counts:   map[Mode]int64{},
		watches:  map[*inflight]struct{}{},
		closed:   make(chan struct{}),
	}
	p.mode.Store(PassThrough)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	if !opts.PlainHTTP {
		certPEM, cert, err := selfSignedCert()
		if err != nil {
			l.Close()
			return nil, err
		}
		p.certPEM = certPEM
		p.server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	p.listener = l
	go func() {
		if opts.PlainHTTP {
			_ = p.server.Serve(l)
		} else {
			_ = p.server.ServeTLS(l, "", "") // HTTP/2 and HTTP/1.1
		}
	}()
	return p, nil
}

// URL is the proxy's base URL, https://127.0.0.1:<port> (http:// with PlainHTTP).
func (p *Proxy) URL() string {
	scheme := "https"
	if p.opts.PlainHTTP {
		scheme = "http"
	}
	return scheme + "://" + p.listener.Addr().String()
}

// CertPEM is the proxy's self-signed certificate (nil with PlainHTTP).
func (p *Proxy) CertPEM() []byte { return p.certPEM }

// ClientConfig returns a client configuration that talks to the API server through the
// proxy, without credentials of its own.
func (p *Proxy) ClientConfig() *rest.Config {
	cfg := &rest.Config{Host: p.URL(), QPS: 100, Burst: 200}
	cfg.TLSClientConfig.CAData = append([]byte(nil), p.certPEM...)
	return cfg
}

// WriteKubeconfig writes a kubeconfig to path whose current context points at the
// proxy and trusts its certificate. It carries no credentials: the proxy adds the
// upstream's.
func (p *Proxy) WriteKubeconfig(path string) error {
	const name = "faultproxy"
	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{Server: p.URL(), CertificateAuthorityData: p.certPEM}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	config.CurrentContext = name
	return clientcmd.WriteToFile(*config, path)
}

// SetMode switches how new requests are answered. Requests held by Stall are dropped
// when the mode changes.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	old := p.mode.Swap(m)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if old != m {
		p.opts.Logf("faultproxy: mode %s -> %s", old, m)
	}
}

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return p.mode.Load().(Mode) }

// Count returns how many requests arrived while the proxy was in mode m.
func (p *Proxy) Count(m Mode) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[m]
}

// Counts returns the number of requests per mode they arrived in.
func (p *Proxy) Counts() map[Mode]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Mode]int64, len(p.counts))
	for m, n := range p.counts {
		out[m] = n
	}
	return out
}

// Records returns the requests received at or after since (at most the last 100,000).
func (p *Proxy) Records(since time.Time) []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Record
	for _, r := range p.records {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// InFlightWatches returns the number of watch streams being proxied now.
func (p *Proxy) InFlightWatches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// Held returns the number of requests Stall is holding now.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// CutWatchesNow closes the connection of every in-flight watch stream and returns how
// many it cut. New watches are not affected.
func (p *Proxy) CutWatchesNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.watches {
		w.cancel(errCut)
	}
	return len(p.watches)
}

// Close stops the proxy and drops every request in flight.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		_ = p.server.Close()
	})
}

// isWatch tells whether r is a watch request (?watch=true, or the legacy /watch/ paths).
func isWatch(r *http.Request) bool {
	if v := r.URL.Query().Get("watch"); v == "true" || v == "1" {
		return true
	}
	return strings.Contains(r.URL.Path, "/watch/")
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	mode := p.Mode()
	changed := p.changed
	p.counts[mode]++
	watch := isWatch(r)
	if len(p.records) >= maxRecords {
		p.records = p.records[1:]
	}
	p.records = append(p.records, Record{At: time.Now(), Mode: mode, Method: r.Method, Path: r.URL.RequestURI(), Watch: watch})
	p.mu.Unlock()

	switch mode {
	case Unauthorized:
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", 0)
	case Forbidden:
		writeStatus(w, http.StatusForbidden, "Forbidden", "faultproxy: access denied", 0)
	case Throttled:
		secs := int((p.opts.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeStatus(w, http.StatusTooManyRequests, "TooManyRequests", "faultproxy: too many requests, please try again later", secs)
	case InternalError:
		writeStatus(w, http.StatusInternalServerError, "InternalError", "faultproxy: internal error", 0)
	case Unavailable:
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "faultproxy: service unavailable", 0)
	case Stall:
		p.mu.Lock()
		p.held++
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.held--
			p.mu.Unlock()
		}()
		select {
		case <-r.Context().Done(): // the client gave up
			return
		case <-changed:
		case <-p.closed:
		}
		// Drop the connection: the request was never answered.
		panic(http.ErrAbortHandler)
	default: // PassThrough, CutWatches
		p.forward(w, r, watch, mode == CutWatches)
	}
}

// forward sends r upstream and streams the response back, flushing every chunk.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, watch, cut bool) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if watch {
		f := &inflight{cancel: cancel}
		p.mu.Lock()
		p.watches[f] = struct{}{}
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.watches, f)
			p.mu.Unlock()
		}()
	}
	go func() {
		select {
		case <-p.closed:
			cancel(errors.New("faultproxy: closed"))
		case <-ctx.Done():
		}
	}()

	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme = p.upstream.Scheme
	out.URL.Host = p.upstream.Host
	out.Host = p.upstream.Host
	out.Header.Del("Authorization") // the upstream transport adds its own
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.rt.RoundTrip(out)
	if err != nil {
		if ctx.Err() != nil {
			panic(http.ErrAbortHandler)
		}
		writeStatus(w, http.StatusBadGateway, "InternalError", "faultproxy: upstream: "+err.Error(), 0)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if isHop(k) {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	if watch && cut {
		timer := time.AfterFunc(p.opts.CutAfter, func() { cancel(errCut) })
		defer timer.Stop()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if ferr := rc.Flush(); ferr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(context.Cause(ctx), errCut) || (ctx.Err() != nil && r.Context().Err() == nil) {
				// Cut by the proxy (or the proxy closed): close the client's connection
				// (HTTP/1.1) or reset its stream (HTTP/2) without ending the body cleanly.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// hopHeaders are the hop-by-hop headers a proxy must not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func isHop(h string) bool {
	for _, x := range hopHeaders {
		if strings.EqualFold(h, x) {
			return true
		}
	}
	return false
}

// writeStatus answers with a metav1.Status body, as kube-apiserver does.
func writeStatus(w http.ResponseWriter, code int, reason, message string, retryAfterSeconds int) {
	status := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	}
	if retryAfterSeconds > 0 {
		status["details"] = map[string]any{"retryAfterSeconds": retryAfterSeconds}
	}
	body, _ := json.Marshal(status)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// selfSignedCert returns a certificate for 127.0.0.1 that is its own CA.
func selfSignedCert() ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("faultproxy: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "faultproxy"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("faultproxy: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM := pemEncode("CERTIFICATE", der)
	return certPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func pemEncode(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
