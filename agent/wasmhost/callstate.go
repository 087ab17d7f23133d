package wasmhost

import (
	"context"
	"database/sql"
	"time"
)

// callState is what host imports know about the request in progress. Each
// instance owns one and resets it per request; host imports find it in the
// call's context.
type callState struct {
	env       *hostEnv
	ctx       context.Context // the call's context, with its deadline
	io        context.Context // ctx less ioReserve: what SQL and http_fetch get
	ioCancel  context.CancelFunc
	pending   []byte // result kept for result_read
	scratch   []byte // reused to build result frames
	txs       map[uint32]*sql.Tx
	txRows    map[uint32]int64 // rows changed in each open transaction
	nextTx    uint32
	sqlCalls  int
	fetchCall int
	kvCalls   int
	modCalls  int
	chain     []string   // modules this request came through (call import), the first caller first
	writes    writeTally // what the call wrote (CallError.Writes)
}

type callStateKey struct{}

func withCallState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, st)
}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// ioReserve is the part of a request's deadline that host I/O (SQL,
// http_fetch) never gets: a database or remote host that does not answer
// makes the import fail with a timeout early enough for the guest to
// answer (503) before the deadline abandons the call (504).
func ioReserve(deadline time.Duration) time.Duration {
	return min(time.Second, deadline/10)
}

// begin resets the state for a new request.
func (st *callState) begin(ctx context.Context) {
	st.ctx = ctx
	st.io, st.ioCancel = ctx, func() {}
	if d, ok := ctx.Deadline(); ok {
		st.io, st.ioCancel = context.WithDeadline(ctx, d.Add(-ioReserve(st.env.limits.Deadline)))
	}
	st.pending = nil
	st.nextTx = 0
	st.sqlCalls = 0
	st.fetchCall = 0
	st.kvCalls = 0
	st.modCalls = 0
	st.chain = chainFrom(ctx)
	st.writes.reset()
}

// end rolls back open transactions and drops the pending result.
func (st *callState) end() {
	for id, tx := range st.txs {
		if err := tx.Rollback(); err == nil {
			st.env.log.Debug("rolled back transaction left open by the request", "tx", id)
		}
		delete(st.txs, id)
	}
	clear(st.txRows)
	st.pending = nil
	st.ioCancel() // after the rollbacks: a transaction lives in st.io
	st.ctx, st.io, st.ioCancel = nil, nil, nil
	if cap(st.scratch) > 64<<10 {
		st.scratch = nil // do not pin a large result per instance
	}
}

// remaining is the time left before the call's deadline.
func (st *callState) remaining() (time.Duration, bool) {
	d, ok := st.ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(d), true
}
