package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

type callResult struct {
	resp abi.Response
	err  error
}

// Serve runs one request on a pooled instance and returns the guest's
// response. The deadline is the earlier of ctx's and Limits.Deadline; a
// client that goes away does not cancel the call (the guest finishes its
// work, the answer is dropped). Errors wrap ErrBodyTooLarge, ErrTimeout,
// ErrTrap, ErrMemoryLimit, ErrBadResponse, ErrUnavailable or ErrClosed.
func (m *Module) Serve(ctx context.Context, req *abi.Request) (abi.Response, error) {
	m.stats.requests.Add(1)
	resp, err := m.serve(ctx, req)
	if err != nil {
		m.stats.count(err)
	}
	return resp, err
}

func (m *Module) serve(ctx context.Context, req *abi.Request) (abi.Response, error) {
	lim := &m.cfg.Limits
	if int64(len(req.Body)) > lim.MaxRequestBody {
		return abi.Response{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(req.Body), lim.MaxRequestBody)
	}
	deadline := time.Now().Add(lim.Deadline)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()

	in, err := m.acquire(cctx)
	if err != nil {
		return abi.Response{}, err
	}
	in.state.Store(stateRunning)
	in.started.Store(time.Now().UnixNano())
	m.mu.Lock()
	m.running[in] = struct{}{}
	m.mu.Unlock()

	// The call runs on the instance's worker goroutine so that the caller
	// gets its answer at the deadline even when the guest cannot be
	// interrupted. The worker lives as long as the instance: the host's
	// SQLite then runs on a stack that has already grown, instead of on a
	// fresh goroutine's small stack that grows by copying on every call.
	// The answer comes on a channel of this call's own: the worker puts the
	// instance back in the pool right after answering, before this caller
	// may have read it.
	done := doneChans.Get().(chan callResult)
	in.jobs <- callJob{ctx: cctx, req: req, maxResp: lim.MaxResponseBytes, done: done}
	select {
	case r := <-done:
		doneChans.Put(done)
		return r.resp, r.err
	case <-cctx.Done():
		if !in.state.CompareAndSwap(stateRunning, stateAbandoned) {
			r := <-done // it finished just now
			doneChans.Put(done)
			return r.resp, r.err
		}
		// The worker will not send on done (its CAS fails), but done is
		// left to the collector rather than shared with a later call.
		m.abandon(in)
		m.log.Warn("wasm call abandoned at its deadline", "instance", in.id, "mode", m.cfg.Deadline.String())
		return abi.Response{}, fmt.Errorf("%w: %w", ErrTimeout, cctx.Err())
	}
}

var errAbandoned = errors.New("abandoned")

// callJob is one request handed to an instance's worker.
type callJob struct {
	ctx     context.Context
	req     *abi.Request
	maxResp int
	done    chan callResult // capacity 1; sent to only if the caller still waits
}

// doneChans recycles the answer channels: a channel goes back only empty,
// after its one answer was read.
var doneChans = sync.Pool{New: func() any { return make(chan callResult, 1) }}

// work is the instance's worker: it runs the calls handed to it one at a
// time until the instance is closed. The result goes to j.done only while
// the caller still waits (the state is still running); a call whose caller
// gave up at its deadline ends the instance.
func (m *Module) work(in *instance) {
	for j := range in.jobs {
		resp, err := in.call(j.ctx, j.req, j.maxResp)
		if in.state.CompareAndSwap(stateRunning, stateIdle) {
			// finish before answering would be one more hand-off on the
			// caller's path; answer first, as the per-call goroutine did.
			j.done <- callResult{resp, err}
			m.finish(in, err, false) // closes in.jobs unless in goes back to the pool
			continue
		}
		m.log.Warn("abandoned wasm call returned", "instance", in.id, "err", err)
		m.finish(in, errAbandoned, true) // closes the instance and in.jobs
		return
	}
}
