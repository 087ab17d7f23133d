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
	pending   []byte          // result kept for result_read
	scratch   []byte          // reused to build result frames
	txs       map[uint32]*sql.Tx
	txRows    map[uint32]int64 // rows changed in each open transaction
	nextTx    uint32
	sqlCalls  int
	fetchCall int
}

type callStateKey struct{}

func withCallState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, st)
}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// begin resets the state for a new request.
func (st *callState) begin(ctx context.Context) {
	st.ctx = ctx
	st.pending = nil
	st.nextTx = 0
	st.sqlCalls = 0
	st.fetchCall = 0
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
	st.ctx = nil
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
