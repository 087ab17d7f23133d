package wasmhost

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/edgeplane/edge/internal/breaker"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/kvstore"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// hostEnv holds what the host imports of one module share: its bindings,
// limits and caches.
type hostEnv struct {
	name     string
	log      *slog.Logger
	limits   Limits
	db       *sql.DB
	localDB  bool // db is SQLite in this process (dbbind.IsLocal)
	stmts    *stmtCache
	settings map[string]string
	allow    allowList
	kv       *kvstore.Store // nil: the kv import is denied

	module     string          // the module's name: Edge-Caller of its calls
	router     Router          // nil: the call import is denied
	calls      map[string]bool // modules the call import may reach
	callSecret string
	modClient  *http.Client // module calls

	client *http.Client
	writes writeCounter // committed writes, for Stats
	sql    sqlCounter   // SQL host calls and their time, for Stats
	logs   *logLimiter  // shared by the log import, stdout and stderr
	pub    *publishGate // msg_publish

	breakersMu sync.Mutex
	breakers   map[string]*breaker.Breaker // http_fetch, by host:port
}

func newHostEnv(cfg *Config) *hostEnv {
	h := &hostEnv{
		name:       cfg.Name,
		log:        cfg.Logger,
		limits:     cfg.Limits,
		db:         cfg.DB,
		settings:   cfg.Settings,
		allow:      newAllowList(cfg.AllowHosts),
		kv:         cfg.KV,
		module:     cfg.moduleName(),
		router:     cfg.Router,
		calls:      map[string]bool{},
		callSecret: cfg.CallSecret,
		logs:       newLogLimiter(cfg.Logger, &cfg.Limits),
		pub:        newPublishGate(cfg.Publish, cfg.Publisher),
	}
	if h.db != nil {
		h.stmts = newStmtCache(h.db, 256)
		h.localDB = dbbind.IsLocal(h.db)
	}
	for _, c := range cfg.Calls {
		h.calls[c] = true
	}
	h.client = h.newHTTPClient()
	h.modClient = newModuleClient()
	return h
}

func (h *hostEnv) close() {
	if h.stmts != nil {
		h.stmts.close()
	}
	h.client.CloseIdleConnections()
	h.modClient.CloseIdleConnections()
}

// instantiate adds WASI and the "edge" host module to rt.
func (h *hostEnv) instantiate(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fmt.Errorf("instantiate wasi: %w", err)
	}
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn(abi.FnLog, h.hostLog, []api.ValueType{i32, i32, i32}, nil)
	fn(abi.FnConfigGet, h.hostConfigGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FnSQL, h.hostSQL, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FnHTTPFetch, h.hostFetch, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FnResultRead, h.hostResultRead, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FnKV, h.hostKV, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FnCall, h.hostCall, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FnMsgPublish, h.hostMsgPublish, []api.ValueType{i32, i32}, []api.ValueType{i32})
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module %q: %w", abi.ImportModule, err)
	}
	return nil
}

// hostAbort is panicked by a host import to unwind the guest; wazero
// recovers it and the call returns an error wrapping err.
type hostAbort struct{ err error }

func (a hostAbort) Error() string { return "host import aborted the call: " + a.err.Error() }
func (a hostAbort) Unwrap() error { return a.err }

// enter returns the call state of a host import and unwinds the guest if
// the request's deadline has passed.
func enter(ctx context.Context) *callState {
	st := callStateFrom(ctx)
	if st == nil || st.ctx == nil {
		// Called outside a request (e.g. from _initialize): no capabilities.
		return nil
	}
	if err := st.ctx.Err(); err != nil {
		panic(hostAbort{fmt.Errorf("%w: %w", ErrTimeout, err)})
	}
	return st
}

func i32(v int32) uint64 { return uint64(uint32(v)) }

// read returns guest memory [ptr, ptr+n) or ok=false. The slice aliases
// guest memory: decode or copy it before the guest runs again.
func read(m api.Module, ptr, n uint32) ([]byte, bool) {
	return m.Memory().Read(ptr, n)
}

// deliver applies the result rule of the ABI: write res to buf when it
// fits, else keep it pending for result_read. It returns the import's
// result.
func (st *callState) deliver(m api.Module, bufPtr, bufCap uint32, res []byte) int32 {
	if len(res) > int(^uint32(0)>>1) {
		return abi.ErrTooLarge
	}
	if uint32(len(res)) <= bufCap {
		if !m.Memory().Write(bufPtr, res) {
			return abi.ErrMemory
		}
		st.pending = nil
		return int32(len(res))
	}
	st.pending = res // may alias st.scratch, which only the next import rebuilds
	return int32(len(res))
}

// checkBuf bounds-checks a result buffer before any work is done.
func checkBuf(m api.Module, bufPtr, bufCap uint32) bool {
	_, ok := read(m, bufPtr, bufCap)
	return ok
}

// hostLog: log(level, ptr, len).
func (h *hostEnv) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	enter(ctx)
	const maxLog = maxLogRecord
	msg, ok := read(m, ptr, n)
	if !ok {
		h.log.Warn("guest log with an out-of-range message", "ptr", ptr, "len", n)
		return
	}
	truncated := len(msg) > maxLog
	if truncated {
		msg = msg[:maxLog]
	}
	lvl := slog.Level(level)
	if !h.log.Enabled(ctx, lvl) || !h.logs.allow(len(msg)) {
		return
	}
	if truncated {
		h.log.Log(ctx, lvl, string(msg), "source", "guest", "truncated", true)
		return
	}
	h.log.Log(ctx, lvl, string(msg), "source", "guest")
}

// hostConfigGet: config_get(keyPtr, keyLen, bufPtr, bufCap) i32.
func (h *hostEnv) hostConfigGet(ctx context.Context, m api.Module, stack []uint64) {
	keyPtr, keyLen, bufPtr, bufCap := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	st := enter(ctx)
	key, ok := read(m, keyPtr, keyLen)
	if !ok || !checkBuf(m, bufPtr, bufCap) {
		stack[0] = i32(abi.ErrMemory)
		return
	}
	v, found := h.settings[string(key)]
	if !found {
		stack[0] = i32(abi.ErrNotFound)
		return
	}
	if st == nil {
		st = &callState{env: h} // during _initialize: no pending result kept across calls
	}
	stack[0] = i32(st.deliver(m, bufPtr, bufCap, []byte(v)))
}

// hostResultRead: result_read(bufPtr, bufCap) i32.
func (h *hostEnv) hostResultRead(ctx context.Context, m api.Module, stack []uint64) {
	bufPtr, bufCap := uint32(stack[0]), uint32(stack[1])
	st := enter(ctx)
	if !checkBuf(m, bufPtr, bufCap) {
		stack[0] = i32(abi.ErrMemory)
		return
	}
	if st == nil || st.pending == nil {
		stack[0] = i32(abi.ErrNoResult)
		return
	}
	n := len(st.pending)
	if uint32(n) > bufCap {
		stack[0] = i32(int32(n)) // still pending; the guest needs a larger buffer
		return
	}
	m.Memory().Write(bufPtr, st.pending) // in range: checked above
	st.pending = nil
	stack[0] = i32(int32(n))
}
