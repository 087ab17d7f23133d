// Package breaker fails calls to a dependency at once while the dependency
// is known to be down, so that a database or a remote host that accepts
// connections and never answers costs one timeout, not one per request.
//
//	          failure                     back-off passed: one probe
//	closed ───────────▶ open ───────────────────────────▶ probing
//	  ▲                  ▲  (every call fails at once)       │
//	  │                  └─────── failure (back-off ×2) ─────┤
//	  └──────────────────────── success ─────────────────────┘
//
// A closed breaker lets every call through. One failure opens it: calls
// then fail at once with an *OpenError (wrapping ErrOpen and the failure)
// until the back-off has passed; the next call is the probe, alone, and its
// result closes the breaker or opens it for twice as long, up to Max. A
// call the caller itself gave up on (its context ended) says nothing about
// the dependency and is reported with Abort.
//
// It is shared by the database bindings (internal/dbbind) and the agent's
// outbound HTTP for modules (agent/wasmhost).
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrOpen is wrapped by the errors of calls refused while the breaker is
// open.
var ErrOpen = errors.New("failing fast: the dependency did not answer its last attempt")

// OpenError is the error of a call refused while the breaker is open.
type OpenError struct {
	Last    error         // the failure that opened the breaker
	RetryIn time.Duration // until the next probe may go
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("%v (failing fast; next attempt in %s): %v", ErrOpen, e.RetryIn.Round(time.Millisecond), e.Last)
}

// Unwrap returns ErrOpen and the failure that opened the breaker, so that
// errors.Is/As see both.
func (e *OpenError) Unwrap() []error { return []error{ErrOpen, e.Last} }

// Defaults of the back-off between probes.
const (
	DefaultMin = 500 * time.Millisecond
	DefaultMax = 5 * time.Second
)

// Breaker guards one dependency. The zero value is a closed breaker with
// the default back-off; it is safe for concurrent use.
type Breaker struct {
	Min, Max time.Duration // back-off between probes; DefaultMin, DefaultMax if zero

	mu      sync.Mutex
	open    bool
	probing bool
	retryAt time.Time
	backoff time.Duration
	last    error
}

// Allow returns nil if a call may go ahead, and then the caller must
// report its outcome with Done or Abort. Otherwise it returns an
// *OpenError.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	now := time.Now()
	if b.probing || now.Before(b.retryAt) {
		return &OpenError{Last: b.last, RetryIn: max(b.retryAt.Sub(now), 0)}
	}
	b.probing = true
	return nil
}

// Done reports the outcome of an allowed call: nil closes the breaker, an
// error opens it.
func (b *Breaker) Done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil {
		b.open, b.backoff, b.last = false, 0, nil
		return
	}
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	switch {
	case !b.open:
		b.backoff = lo
	default:
		b.backoff = min(2*b.backoff, hi)
	}
	b.open, b.last = true, err
	b.retryAt = time.Now().Add(b.backoff)
}

// Abort reports an allowed call that ended without an answer about the
// dependency (its caller gave up); a probe may go again.
func (b *Breaker) Abort() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// Open reports whether the breaker is open.
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
