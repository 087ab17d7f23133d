package wasmhost

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Writes says what a call that ended in an error (the deadline, a trap, a
// bad answer) had done to the module's data (SQL writes the write tally
// counts, key-value changes) when the host gave up on it: what a client
// told 504 or 500 may rely on before it retries.
type Writes uint8

const (
	// WritesNone: nothing was written, and nothing can be any more.
	WritesNone Writes = iota
	// WritesCommitted: the call committed at least one write.
	WritesCommitted
	// WritesUnknown: a write was in flight when the host gave up on the
	// call (a statement or commit still running past the deadline): it
	// may commit.
	WritesUnknown
)

// String is the value of the Edge-Writes-Committed header and of the
// error body's writes_committed: no, yes or unknown.
func (w Writes) String() string {
	switch w {
	case WritesCommitted:
		return "yes"
	case WritesUnknown:
		return "unknown"
	}
	return "no"
}

// CallError is the error of a call that ran on an instance: its cause
// (ErrTimeout, ErrTrap, ...) and what it had written when it ended or
// was abandoned. Errors of requests that never reached the guest (no
// instance, body too large) are not CallErrors: they wrote nothing.
type CallError struct {
	Err    error
	Writes Writes
}

func (e *CallError) Error() string { return e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// WritesOf says what the failed call of err wrote: a CallError's Writes,
// else WritesNone (the guest never ran).
func WritesOf(err error) Writes {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Writes
	}
	return WritesNone
}

// writeTally is what one call wrote, read by the caller that abandons
// it at the deadline while the call may still run: atomics.
type writeTally struct {
	committed atomic.Bool
	inFlight  atomic.Bool
}

func (t *writeTally) reset() { t.committed.Store(false); t.inFlight.Store(false) }

// outcome is what the call wrote so far.
func (t *writeTally) outcome() Writes {
	switch {
	case t.inFlight.Load():
		return WritesUnknown
	case t.committed.Load():
		return WritesCommitted
	}
	return WritesNone
}

// startWrite marks a write in flight, then unwinds the guest if the
// deadline has passed. The order matters: a caller that abandons the call
// at the deadline reads the tally after the deadline; a write marked after
// that read sees the deadline and never runs, one marked before it is
// read as in flight (unknown).
func (st *callState) startWrite() {
	st.writes.inFlight.Store(true)
	if err := st.ctx.Err(); err != nil {
		st.writes.inFlight.Store(false)
		panic(hostAbort{fmt.Errorf("%w: %w", ErrTimeout, err)})
	}
}

// endWrite ends the write in flight; committed says it changed data.
func (st *callState) endWrite(committed bool) {
	if committed {
		st.writes.committed.Store(true)
	}
	st.writes.inFlight.Store(false)
}
