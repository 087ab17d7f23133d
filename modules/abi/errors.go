package abi

import "fmt"

// ErrorCode classifies a failure the host reports inside a result frame.
type ErrorCode uint8

// Error codes. The guest SDK maps them to errors its callers can test with
// errors.Is; the order service answers CodeUnavailable with 503.
const (
	CodeInternal    ErrorCode = 1 // anything not listed below
	CodeUnavailable ErrorCode = 2 // database or remote host unreachable
	CodeBadRequest  ErrorCode = 3 // malformed query, bad argument, constraint
	CodeDenied      ErrorCode = 4 // capability not granted (no binding, host not allowed)
	CodeTooLarge    ErrorCode = 5 // result exceeds the host's limit
	CodeTimeout     ErrorCode = 6 // the request's deadline passed
	CodeBadTx       ErrorCode = 7 // unknown or finished transaction
	CodeConflict    ErrorCode = 9 // kv compare-and-set: the key has another version (8 is CodeLimited, msg.go)
)

var codeNames = map[ErrorCode]string{
	CodeInternal:    "internal",
	CodeUnavailable: "unavailable",
	CodeBadRequest:  "bad request",
	CodeDenied:      "denied",
	CodeTooLarge:    "too large",
	CodeTimeout:     "timeout",
	CodeBadTx:       "bad transaction",
	CodeLimited:     "limited",
	CodeConflict:    "conflict",
}

func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// Error is a failure reported by the host.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

func appendError(b []byte, e *Error) []byte {
	b = append(b, byte(e.Code))
	return appendString(b, e.Message)
}

func (d *decoder) error() *Error {
	return &Error{Code: ErrorCode(d.u8("error code")), Message: d.str("error message")}
}

// appendOutcome starts a result frame: 1 and the error when e is set
// (done: the frame is complete), else 0, after which the caller appends
// what the operation returns.
func appendOutcome(b []byte, e *Error) (out []byte, done bool) {
	if e != nil {
		return appendError(append(b, 1), e), true
	}
	return append(b, 0), false
}
