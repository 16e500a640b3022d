package collector

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"golang.org/x/net/http2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// TestClassifyConnectionErrors checks the connection-level failures client-go returns
// when a connection breaks, as Go's HTTP stack builds them.
func TestClassifyConnectionErrors(t *testing.T) {
	apiURL := "https://10.0.0.1/api/v1/pods?watch=true"
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	goAway := http2.GoAwayError{LastStreamID: 7, ErrCode: http2.ErrCodeNo}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"connection reset", reset, reasonConnectionRefused},
		{"connection reset in url.Error", &url.Error{Op: "Get", URL: apiURL, Err: reset}, reasonConnectionRefused},
		{"HTTP/2 GOAWAY", goAway, reasonConnectionRefused},
		{"HTTP/2 GOAWAY in url.Error", &url.Error{Op: "Get", URL: apiURL, Err: goAway}, reasonConnectionRefused},
		{"HTTP/2 connection lost", &url.Error{Op: "Get", URL: apiURL, Err: errors.New("http2: client connection lost")}, reasonConnectionRefused},
		{"EOF in url.Error", &url.Error{Op: "Get", URL: apiURL, Err: io.EOF}, reasonConnectionRefused},
		{"unexpected EOF", io.ErrUnexpectedEOF, reasonConnectionRefused},
		{"wrapped unexpected EOF", fmt.Errorf("list pods: %w", io.ErrUnexpectedEOF), reasonConnectionRefused},
		{"broken connection", errors.New("http: can't write HTTP request on broken connection"), reasonConnectionRefused},
		{"closed network connection", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("use of closed network connection")}, reasonConnectionRefused},
		{"refused", &url.Error{Op: "Get", URL: apiURL, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, reasonConnectionRefused},
		// A 503 that quotes a reset upstream is the server's answer, not a broken connection.
		{"503 quoting a reset", apierrors.NewServiceUnavailable("error trying to reach service: read: connection reset by peer"), reasonServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyAPIError(tc.err); got != tc.want {
				t.Errorf("classifyAPIError(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if !transientAPIError(tc.err) {
				t.Errorf("transientAPIError(%v) = false, want a retry", tc.err)
			}
		})
	}
}
