package wasmhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/internal/kvstore"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero/api"
)

// hostKV: kv(reqPtr, reqLen, bufPtr, bufCap) i32.
func (h *hostEnv) hostKV(ctx context.Context, m api.Module, stack []uint64) {
	bufPtr, bufCap := uint32(stack[2]), uint32(stack[3])
	st := enter(ctx)
	frame, code := h.requestFrame(m, stack)
	if code != 0 {
		stack[0] = i32(code)
		return
	}
	req, err := abi.DecodeKVRequest(frame)
	if err != nil {
		stack[0] = i32(abi.ErrMalformed)
		return
	}
	if st == nil {
		res := abi.AppendKVResult(nil, req.Op, &abi.KVResult{Err: &abi.Error{Code: abi.CodeDenied, Message: "kv outside a request"}})
		stack[0] = i32((&callState{}).deliver(m, bufPtr, bufCap, res))
		return
	}
	res := h.runKV(st, &req)
	st.scratch = abi.AppendKVResult(st.scratch[:0], req.Op, &res)
	stack[0] = i32(st.deliver(m, bufPtr, bufCap, st.scratch))
}

// runKV runs one request against the module's store.
func (h *hostEnv) runKV(st *callState, r *abi.KVRequest) abi.KVResult {
	fail := func(code abi.ErrorCode, msg string) abi.KVResult {
		return abi.KVResult{Err: &abi.Error{Code: code, Message: msg}}
	}
	if h.kv == nil {
		return fail(abi.CodeDenied, "no key-value store for this module (the manifest grants none)")
	}
	if st.kvCalls++; st.kvCalls > h.limits.MaxKVCalls {
		return fail(abi.CodeTooLarge, fmt.Sprintf("over the host's limit of %d kv calls per request", h.limits.MaxKVCalls))
	}
	// A local file, like a SQLite binding: lock waits end at the busy
	// timeout, and a cancellable context would cost a goroutine per
	// statement (see statementContext).
	ctx := context.Background()
	var (
		res abi.KVResult
		err error
	)
	switch r.Op {
	case abi.KVGet:
		var e kvstore.Entry
		e, res.Found, err = h.kv.Get(ctx, r.Key)
		res.Version, res.Value = e.Version, e.Value
	case abi.KVSet:
		st.startWrite()
		res.Version, err = h.kv.Set(ctx, r.Key, r.Value)
		st.endWrite(err == nil)
	case abi.KVCompareAndSet:
		st.startWrite()
		res.Version, err = h.kv.CompareAndSet(ctx, r.Key, r.Value, r.Version)
		st.endWrite(err == nil)
	case abi.KVDelete:
		st.startWrite()
		res.Found, err = h.kv.Delete(ctx, r.Key, r.Version)
		st.endWrite(err == nil && res.Found)
	case abi.KVList:
		var es []kvstore.Entry
		// Room for the frame's own fields besides the entries.
		es, res.More, err = h.kv.List(ctx, r.Key, r.After, int(r.Limit), h.limits.MaxResultBytes-64)
		res.Entries = make([]abi.KVEntry, len(es))
		for i, e := range es {
			res.Entries[i] = abi.KVEntry{Key: e.Key, Version: e.Version, Value: e.Value}
		}
	default:
		return fail(abi.CodeBadRequest, fmt.Sprintf("unknown kv op %d", r.Op))
	}
	if err != nil {
		code := kvErrorCode(err)
		if code == abi.CodeUnavailable {
			h.log.Warn("key-value store failed", "op", r.Op, "err", err)
		}
		return fail(code, err.Error())
	}
	return res
}

func kvErrorCode(err error) abi.ErrorCode {
	switch {
	case errors.Is(err, kvstore.ErrConflict):
		return abi.CodeConflict
	case errors.Is(err, kvstore.ErrQuota), errors.Is(err, kvstore.ErrValue):
		return abi.CodeTooLarge
	case errors.Is(err, kvstore.ErrKey):
		return abi.CodeBadRequest
	}
	return abi.CodeUnavailable // the file cannot be read or written (disk full, I/O error, lock held too long)
}
