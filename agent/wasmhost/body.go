package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/semaphore"
)

// Reading a request body is bounded in time and in memory, because the
// guest only runs once the whole body is in (see the package doc):
//
//   - time: the body must arrive within Limits.BodyTimeout of the request's
//     headers, and no gap between two reads may exceed BodyIdleTimeout; a
//     client that stalls gets 408 and its connection is closed;
//   - memory: the bodies being read or served at once hold at most
//     Limits.MaxBufferedBody bytes between them (reserved from the
//     Content-Length, or as a chunked body grows); a request that cannot
//     get its share within BodyIdleTimeout gets 503 with Retry-After.
//
// Bodies of up to smallBody bytes take nothing from the budget, so stalled
// large uploads never stop ordinary requests (the semaphore serves its
// waiters in order: a small body would otherwise queue behind a large
// one). Their memory is bounded by the server's connection limit instead:
// 512 connections × 16 KiB = 8 MiB.

// errBodyStalled is a body that did not arrive in time.
var errBodyStalled = errors.New("request body not received in time")

// errBodyBusy is a body for which no buffer could be reserved in time.
var errBodyBusy = errors.New("too many request bodies in flight")

// bodyStep is how a body of unknown length (chunked) is reserved and grown.
const bodyStep = 64 << 10

// smallBody is the size up to which a body needs no room in the budget.
const smallBody = 16 << 10

// bodyBudget bounds the bytes of request bodies a module holds at once.
type bodyBudget struct {
	sem  *semaphore.Weighted
	size int64
}

func newBodyBudget(size int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(size), size: size}
}

// body is a request body read under the limits; release gives its bytes
// back to the budget once the guest is done with them.
type body struct {
	b        []byte
	reserved int64
	budget   *bodyBudget
}

func (b *body) release() {
	if b.reserved > 0 {
		b.budget.sem.Release(b.reserved)
		b.reserved = 0
	}
	b.b = nil
}

// reserve grows the reservation to hold n bytes, waiting until deadline;
// the first smallBody bytes are free.
func (b *body) reserve(n int64, deadline time.Time) error {
	if n <= smallBody {
		return nil
	}
	if n <= b.reserved {
		return nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := b.budget.sem.Acquire(ctx, n-b.reserved); err != nil {
		return fmt.Errorf("%w: %d of %d bytes of request bodies held", errBodyBusy, b.budget.size, b.budget.size)
	}
	b.reserved = n
	return nil
}

// readBody reads r's body within the module's limits. Errors wrap
// ErrBodyTooLarge, errBodyStalled, errBodyBusy, or the connection's error.
func (m *Module) readBody(w http.ResponseWriter, r *http.Request) (*body, error) {
	lim := &m.cfg.Limits
	bd := &body{budget: m.bodies}
	if r.ContentLength > lim.MaxRequestBody {
		return bd, fmt.Errorf("%w: %d bytes, over the limit of %d bytes", ErrBodyTooLarge, r.ContentLength, lim.MaxRequestBody)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return bd, nil
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	end := start.Add(lim.BodyTimeout)
	deadline := func() time.Time {
		if idle := time.Now().Add(lim.BodyIdleTimeout); idle.Before(end) {
			return idle
		}
		return end
	}
	// The deadline is set before each read; where the connection cannot
	// take one (a test recorder), the body is already in memory.
	timed := rc.SetReadDeadline(deadline()) == nil
	want := r.ContentLength // -1: unknown, reserved step by step
	if want < 0 {
		want = min(smallBody, lim.MaxRequestBody)
	}
	if err := bd.reserve(want, deadline()); err != nil {
		return bd, err
	}
	// One byte more than announced: the read that returns EOF (and lets
	// net/http start its background read) needs room.
	bd.b = make([]byte, 0, want+1)
	src := http.MaxBytesReader(w, r.Body, lim.MaxRequestBody)
	for {
		if len(bd.b) == cap(bd.b) {
			// Only a chunked body gets here (net/http stops a body at its
			// Content-Length): grow within the limit.
			next := min(max(2*int64(cap(bd.b)), bodyStep), lim.MaxRequestBody+1)
			if err := bd.reserve(next, deadline()); err != nil {
				return bd, err
			}
			bd.b = append(bd.b, make([]byte, next-int64(len(bd.b)))...)[:len(bd.b)]
		}
		if timed {
			rc.SetReadDeadline(deadline())
		}
		n, err := src.Read(bd.b[len(bd.b):cap(bd.b)])
		bd.b = bd.b[:len(bd.b)+n]
		if err == io.EOF {
			return bd, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				return bd, fmt.Errorf("%w: over the limit of %d bytes", ErrBodyTooLarge, lim.MaxRequestBody)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return bd, fmt.Errorf("%w: %d bytes in %s, no byte for %s or more than %s in all",
					errBodyStalled, len(bd.b), time.Since(start).Round(time.Millisecond), lim.BodyIdleTimeout, lim.BodyTimeout)
			}
			return bd, fmt.Errorf("read request body: %w", err)
		}
	}
}
