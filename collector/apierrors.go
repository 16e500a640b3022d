package collector

import (
	"context"
	"errors"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// API error reasons (the reason label of statefulset_exporter_api_errors_total).
const (
	reasonUnauthorized      = "Unauthorized"
	reasonForbidden         = "Forbidden"
	reasonConnectionRefused = "ConnectionRefused"
	reasonTimeout           = "Timeout"
	reasonThrottled         = "Throttled"
	reasonServerError       = "ServerError"
	reasonOther             = "Other"
)

// apiErrorReasons lists every reason, so counters start at zero for each.
var apiErrorReasons = []string{
	reasonUnauthorized, reasonForbidden, reasonConnectionRefused, reasonTimeout,
	reasonThrottled, reasonServerError, reasonOther,
}

// classifyAPIError maps an error of a list, watch or probe call to a bounded reason.
// ConnectionRefused stands for every connection-level failure: refused, but also reset
// or closed before the answer ended (EOF, HTTP/2 GOAWAY, HTTP/2 connection lost), as
// when an API server restarts or a load balancer drops its connections.
func classifyAPIError(err error) string {
	switch {
	case err == nil:
		return ""
	case apierrors.IsUnauthorized(err):
		return reasonUnauthorized
	case apierrors.IsForbidden(err):
		return reasonForbidden
	case apierrors.IsTooManyRequests(err):
		return reasonThrottled
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	case utilnet.IsConnectionRefused(err):
		return reasonConnectionRefused
	case utilnet.IsTimeout(err):
		return reasonTimeout
	case apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return reasonServerError
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 500 {
		return reasonServerError
	}
	// After the statuses: an aggregated API's 503 may quote a reset in its message.
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return reasonConnectionRefused
	}
	// Some errors carry their cause only as text (a watch error event, a reflector
	// message formatted with %v).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return reasonConnectionRefused
	case strings.Contains(msg, "Client.Timeout exceeded"), strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "TLS handshake timeout"):
		return reasonTimeout
	}
	return reasonOther
}
