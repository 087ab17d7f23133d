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
	resp   abi.Response
	status int32 // a trigger's
	err    error
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
	r := m.dispatch(ctx, callJob{req: req, maxResp: lim.MaxResponseBytes})
	return r.resp, r.err
}

// dispatch runs j on a pooled instance within the deadline: the earlier
// of ctx's and Limits.Deadline.
func (m *Module) dispatch(ctx context.Context, j callJob) callResult {
	deadline := time.Now().Add(m.cfg.Limits.Deadline)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()

	in, err := m.acquire(cctx)
	if err != nil {
		return callResult{err: err}
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
	j.ctx, j.done = cctx, done
	in.jobs <- j
	select {
	case r := <-done:
		doneChans.Put(done)
		return r
	case <-cctx.Done():
		if !in.state.CompareAndSwap(stateRunning, stateAbandoned) {
			r := <-done // it finished just now
			doneChans.Put(done)
			return r
		}
		// The worker will not send on done (its CAS fails), but done is
		// left to the collector rather than shared with a later call.
		m.abandon(in)
		// What it wrote so far: read after the deadline, so a write it
		// starts from now on never runs (callState.startWrite).
		writes := in.st.writes.outcome()
		m.log.Warn("wasm call abandoned at its deadline", "instance", in.id, "mode", m.cfg.Deadline.String(), "writes_committed", writes.String())
		return callResult{err: &CallError{Err: fmt.Errorf("%w: %w", ErrTimeout, cctx.Err()), Writes: writes}}
	}
}

var errAbandoned = errors.New("abandoned")

// callJob is one request, or one trigger, handed to an instance's worker.
type callJob struct {
	ctx     context.Context
	req     *abi.Request // a request; nil for a trigger
	maxResp int
	export  string // a trigger: the export to call with frame
	frame   []byte
	done    chan callResult // capacity 1; sent to only if the caller still waits
}

func (in *instance) run(j *callJob) callResult {
	in.runCtx = j.ctx
	var r callResult
	if j.req == nil {
		r.status, r.err = in.callTrigger(j.ctx, j.export, j.frame)
	} else {
		r.resp, r.err = in.call(j.ctx, j.req, j.maxResp)
	}
	in.runCtx = nil
	if r.err != nil {
		r.err = &CallError{Err: r.err, Writes: in.st.writes.outcome()}
	}
	return r
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
		r := in.run(&j)
		if in.state.CompareAndSwap(stateRunning, stateIdle) {
			// finish before answering would be one more hand-off on the
			// caller's path; answer first, as the per-call goroutine did.
			j.done <- r
			m.finish(in, r.err, false) // closes in.jobs unless in goes back to the pool
			continue
		}
		m.log.Warn("abandoned wasm call returned", "instance", in.id, "err", r.err)
		m.finish(in, errAbandoned, true) // closes the instance and in.jobs
		return
	}
}
