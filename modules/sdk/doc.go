// Package sdk lets an edge module read like an ordinary Go HTTP service,
// while it runs as a Wasm reactor inside the edge agent.
//
// A module's source is built twice from the same code:
//
//   - GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared: the handler is
//     wired to the edge_handle export and talks to the world only through
//     the host imports of package abi (database, outbound HTTP, log,
//     configuration).
//   - natively: the same Handler runs under net/http through NativeHandler,
//     with database/sql drivers, slog and environment variables. That build
//     is the performance baseline and the easiest way to debug a module.
//     NativeHandler hands the handler the Request the agent would: the
//     request target the agent sends a guest (URL.RequestURI()), parsed by
//     the guest's own parser, and the Host header among the headers; so
//     every form of request target (an absolute-form one without a path,
//     "*", a CONNECT's authority) is the same path in both builds.
//
// The Request, ResponseWriter and Header types are shaped like net/http's so
// a handler reads the same, but they are this package's own: importing
// net/http into a guest adds ~2.6 MB to the module.
//
// # Lifecycle of a guest (wasip1)
//
//	host                               guest
//	instantiate, call _initialize ───▶ package init functions run; the
//	                                   module's init calls Serve(h)
//	edge_abi_version() ──────────────▶ abi.Version
//	edge_alloc(n) ───────────────────▶ pointer to a new buffer of n bytes
//	                                   for this request (0 on failure)
//	write Request frame there
//	edge_handle(ptr, n) ─────────────▶ decode frame, call h, recover panics;
//	  ◀── sql/http_fetch/log/... ────  host imports during the call
//	  ◀── ptr<<32|len ───────────────  Response frame in the response buffer
//	read the Response frame
//	(next request: edge_alloc again)
//
// Buffer ownership: the guest owns both buffers. Each request gets a new
// request buffer, which then belongs to its Request: the Request's strings
// and body are views of the frame, not copies (in a Go guest a copy per
// field cost more than the whole frame), and stay valid as long as a
// handler keeps them. The response buffer is reused for every request; the
// response frame is valid until the next edge_alloc or edge_handle call. Main is not run in a
// reactor: call Serve from an init function.
//
// One instance serves one request at a time; the host runs several
// instances for concurrency. A panic in a handler becomes a 500 response and
// the instance stays usable. A malformed request frame (a host bug) is
// answered with a 500 frame and logged, never a trap.
//
// # Database access
//
// On wasip1 this package registers a database/sql driver named "edge" that
// sends abi.SQLRequest frames to the host's sql import: sql.Open("edge", "").
// The module never sees a DSN or a password; the agent chooses the binding.
// Host failures are HostErrors that match this package's sentinel errors
// (ErrUnavailable, ErrBadRequest, ...) with errors.Is; IsUnavailable also
// recognises the native drivers' network and busy errors, so a service maps
// "database down" to 503 the same way in both builds.
//
// database/sql costs a guest dearly per row (pool, locking, driver.Value
// boxing, reflective conversion: each Go call is several times dearer in
// Wasm than natively). For hot reads, NewDB wraps the *sql.DB and its
// QueryRows scans the host's result frame in place; natively it runs over
// database/sql, with the same conversions in both builds.
//
// # Key-value state and calls to other modules
//
// KV returns the module's key-value store (Get, Set, CompareAndSet,
// Update, List, Delete; ErrConflict when a compare-and-set lost a race),
// and Call sends a request to another module on the device; both must be
// granted by the signed manifest (capabilities.kv, capabilities.call),
// else ErrDenied. A handler reads who called it with Caller(r). Natively,
// the store is the SQLite file of $EDGE_KV and calls go to the base URL
// in $EDGE_CALL_<MODULE>.
package sdk
