package wasmhost

import (
	"context"
	"errors"
	"fmt"
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

	// The call runs on its own goroutine so that the caller gets its answer
	// at the deadline even when the guest cannot be interrupted.
	done := make(chan callResult, 1)
	go func() {
		resp, err := in.call(cctx, req, lim.MaxResponseBytes)
		if in.state.CompareAndSwap(stateRunning, stateIdle) {
			done <- callResult{resp, err}
			m.finish(in, err, false)
			return
		}
		m.log.Warn("abandoned wasm call returned", "instance", in.id, "err", err)
		m.finish(in, errAbandoned, true)
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-cctx.Done():
		if !in.state.CompareAndSwap(stateRunning, stateAbandoned) {
			r := <-done // it finished just now
			return r.resp, r.err
		}
		m.abandon(in)
		m.log.Warn("wasm call abandoned at its deadline", "instance", in.id, "mode", m.cfg.Deadline.String())
		return abi.Response{}, fmt.Errorf("%w: %w", ErrTimeout, cctx.Err())
	}
}

var errAbandoned = errors.New("abandoned")
