// Package wasmhost runs Wasm modules that speak the edge host ABI
// (modules/abi) on wazero, behind an http.Handler.
//
// # Lifecycle
//
//	        Engine.Load(wasm, Config)
//	                 │
//	┌────────────────▼─────────────────┐  compiler (amd64/arm64) or
//	│ compile once (on-disk cache;     │  interpreter; a corrupted cache
//	│ check exports and ABI version)   │  entry is purged and recompiled
//	└────────────────┬─────────────────┘
//	                 │ instantiate (WithName(""), _initialize,
//	                 │ guest memory reserved up front by mmap)
//	┌────────────────▼─────────────────┐
//	│ pool: 1 instance at once, grown  │◀──── replacement, in the
//	│ to PoolSize in the background    │      background
//	└────────────────┬─────────────────┘           ▲
//	     acquire     │     release (healthy)       │
//	┌────────────────▼─────────────────┐           │
//	│ call: edge_alloc, write Request, │── trap, timeout, memory
//	│ edge_handle, read Response;      │   limit, bad frame, 0 or
//	│ host imports see the request ctx │   a pointer outside guest
//	└──────────────────────────────────┘   memory ──▶ discard
//
// A Module owns one wazero Runtime, one CompiledModule (kept open while any
// instance lives: closing it evicts the code) and a pool of instances. Each
// instance serves one request at a time. Per request, the host opens a call
// state (transactions, the pending result, host-call quotas) and ends it when
// the call returns: open transactions are rolled back there.
//
// # Deadlines
//
// DeadlineInterrupt (the default) compiles the module with
// WithCloseOnContextDone, so a guest loop stops at its deadline. DeadlineFast
// omits those checks (~30% more throughput measured on the order service)
// and is only safe under a watchdog that can kill the process: a guest stuck
// in compiled code is never preempted. In both modes the caller gets
// ErrTimeout at the deadline; the instance is abandoned (never reused),
// closed once its call returns, and its call's age stays visible in
// Stats.OldestCall for such a watchdog. Host imports check the deadline too
// and unwind a guest that calls them late.
//
// A guest that sleeps (Go's time.Sleep and timers, Rust's
// std::thread::sleep: WASI poll_oneoff with a clock subscription) sleeps
// for real, on a timer, costing no CPU; wazero's default returned at once,
// and a Go guest spun for the length of its sleep. The sleep ends at the
// deadline of the guest code running (a call's, a trigger's or
// _initialize's) and unwinds the guest with ErrTimeout, so in fast mode too
// the abandoned instance is closed then, not when the sleep would end
// (sleep.go).
//
// # Guest memory
//
// Linear memory is reserved with mmap up to the page limit (the default
// allocator copies all of guest memory on every grow) and lives outside the
// Go heap. wazero frees a module's memory when it closes the module, which
// with WithCloseOnContextDone happens while the guest may still run; the
// reservation is therefore unmapped by this package only once no call runs
// on the instance any more.
//
// # Bounds
//
// The Handler reads a request body within time bounds (BodyTimeout,
// BodyIdleTimeout: 408) and a per-module budget of buffered bodies
// (MaxBufferedBody: 503), see body.go. Host imports that wait on a peer
// (sql, http_fetch) get the request's deadline less a reserve, so the guest
// can answer a silent peer itself (SQLite statements excepted: a local
// file has no peer, and a cancellable context costs a goroutine per
// statement; see statementContext); http_fetch fails fast for a while after
// a host did not answer (internal/breaker). Guest logs from the log import,
// stdout and stderr share a per-module budget (logwriter.go), stdout and
// stderr gathered into whole lines per call.
//
// # Key-value state and module calls
//
// The kv import runs against the module's kvstore.Store (Config.KV),
// opened by whoever runs the module (a worker: its module's file). The
// call import sends a request to another module's listener, found through
// Config.Router, with headers only hosts set and a secret that proves
// them (hostcallmod.go); the Handler believes those headers only with the
// secret and removes them from every request.
//
// # Triggers and publishing (ABI version 2)
//
// Module.Deliver and Module.Tick call the guest's edge_on_message and
// edge_on_timer on the same pool, deadline and imports as a request
// (hosttrigger.go); what to do with the guest's status is the caller's.
// msg_publish checks the module's PublishPolicy (allow-list, payload
// size, rate) and hands the message to Config.Publisher (hostmsg.go).
//
// The package keeps no global state: every Engine and Module is independent,
// logs through the *slog.Logger it was given, and reports its counters
// through Module.Stats.
package wasmhost
