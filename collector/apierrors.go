package collector

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
func classifyAPIError(err error) string {
	var netErr net.Error
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
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonConnectionRefused
	case errors.As(err, &netErr) && netErr.Timeout():
		return reasonTimeout
	case apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return reasonServerError
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 500 {
		return reasonServerError
	}
	// Some transports flatten the cause into the message.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return reasonConnectionRefused
	case strings.Contains(msg, "Client.Timeout exceeded"), strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "TLS handshake timeout"):
		return reasonTimeout
	}
	return reasonOther
}
