package sdk

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/modules/abi"
)

// Sentinel errors, one per abi.ErrorCode, for errors.Is. The host's
// failures arrive as *HostError, which matches the sentinel of its code.
var (
	ErrInternal    = errors.New("edge: host internal error")
	ErrUnavailable = errors.New("edge: unavailable")      // database or remote host unreachable
	ErrBadRequest  = errors.New("edge: bad request")      // malformed query, bad argument, constraint
	ErrDenied      = errors.New("edge: not granted")      // capability not granted to this module
	ErrTooLarge    = errors.New("edge: too large")        // request or result over the host's limit
	ErrTimeout     = errors.New("edge: deadline passed")  // also matches context.DeadlineExceeded
	ErrBadTx       = errors.New("edge: bad transaction")  // unknown or finished transaction
	ErrConflict    = errors.New("edge: version conflict") // kv compare-and-set: the key changed
	ErrLimited     = errors.New("edge: rate limited")     // over a rate (Publish); retry later
	// ErrHostCall reports a host import that failed at the ABI level
	// (bad pointer, malformed frame): a bug in the guest or the host.
	ErrHostCall = errors.New("edge: host call failed")
)

var codeErrors = map[abi.ErrorCode]error{
	abi.CodeInternal:    ErrInternal,
	abi.CodeUnavailable: ErrUnavailable,
	abi.CodeBadRequest:  ErrBadRequest,
	abi.CodeDenied:      ErrDenied,
	abi.CodeTooLarge:    ErrTooLarge,
	abi.CodeTimeout:     ErrTimeout,
	abi.CodeBadTx:       ErrBadTx,
	abi.CodeConflict:    ErrConflict,
	abi.CodeLimited:     ErrLimited,
}

// HostError is a failure the host reported for a call.
type HostError struct {
	Op      string // "sql", "http_fetch"
	Code    abi.ErrorCode
	Message string
}

func (e *HostError) Error() string {
	return fmt.Sprintf("edge %s: %s: %s", e.Op, e.Code, e.Message)
}

// Is matches the sentinel error of e's code (ErrInternal for an unknown
// code), context.DeadlineExceeded for a timeout, and an *abi.Error with
// the same code.
func (e *HostError) Is(target error) bool {
	want, ok := codeErrors[e.Code]
	if !ok {
		want = ErrInternal
	}
	switch t := target.(type) {
	case *abi.Error:
		return t.Code == e.Code
	}
	return target == want || (e.Code == abi.CodeTimeout && target == context.DeadlineExceeded)
}

func hostError(op string, e *abi.Error) error {
	return &HostError{Op: op, Code: e.Code, Message: e.Message}
}

// callError converts the negative result of a host import.
func callError(op string, n int32) error {
	switch n {
	case abi.ErrTooLarge:
		return fmt.Errorf("edge %s: %w (frame over the host's limit)", op, ErrTooLarge)
	case abi.ErrMemory:
		return fmt.Errorf("edge %s: %w: pointer out of range", op, ErrHostCall)
	case abi.ErrMalformed:
		return fmt.Errorf("edge %s: %w: host could not decode the frame", op, ErrHostCall)
	case abi.ErrNoResult:
		return fmt.Errorf("edge %s: %w: no pending result", op, ErrHostCall)
	}
	return fmt.Errorf("edge %s: %w: code %d", op, ErrHostCall, n)
}

// IsUnavailable reports whether err means that the database or remote
// service could not be reached or did not answer in time, which a service
// answers with 503. Besides ErrUnavailable and ErrTimeout it recognises,
// in native builds, what database/sql and the drivers return in that case
// (see isNativeUnavailable).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || isNativeUnavailable(err)
}
