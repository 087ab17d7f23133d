// Package abi is the contract between the edge agent (the host) and a Wasm
// module (the guest). It holds the import and export names, the status codes
// and the binary frames that cross guest memory, and nothing else: it imports
// only the standard library and builds both for the host and for
// GOOS=wasip1, so host and guest cannot disagree about a byte.
//
// # Why the host owns the sockets
//
// wazero implements WASI preview 1, which has no outbound sockets. The agent
// therefore runs the HTTP listener, the database drivers and the outbound HTTP
// client, and hands the guest one request at a time through the exports
// below. The guest reaches the outside world only through the host imports
// that its signed manifest and the agent's configuration grant.
//
// # Calling convention
//
// Exports (guest functions the host calls), for a reactor module built with
// -buildmode=c-shared and //go:wasmexport:
//
//	edge_abi_version() i32           → Version; the host refuses a mismatch
//	edge_alloc(size i32) i32         → pointer to size writable bytes
//	edge_handle(ptr, len i32) i64    → handles the Request frame at ptr;
//	                                   returns ptr<<32 | len of a Response frame
//
// The host writes each request into memory it obtained from edge_alloc and
// reads the response before the next call; the guest keeps both buffers alive
// until then.
//
// Imports (host functions in module "edge" the guest calls):
//
//	log(level, ptr, len i32)
//	config_get(keyPtr, keyLen, bufPtr, bufCap i32) i32
//	sql(reqPtr, reqLen, bufPtr, bufCap i32) i32
//	http_fetch(reqPtr, reqLen, bufPtr, bufCap i32) i32
//	result_read(bufPtr, bufCap i32) i32
//	kv(reqPtr, reqLen, bufPtr, bufCap i32) i32
//	call(reqPtr, reqLen, bufPtr, bufCap i32) i32
//
// Calls that return data use one rule: a result n ≥ 0 is the length of the
// result. If n ≤ bufCap it was written to buf; otherwise nothing was written,
// the host keeps the result pending, and the guest fetches it with
// result_read into a buffer of at least n bytes. A negative n is one of the
// Err* codes. The host bounds-checks every pointer and length the guest
// passes; an out-of-range one yields ErrMemory, never a host fault.
//
// The language-neutral specification of this contract, for guests in
// other languages (the Rust SDK in modules/sdk-rs is one), is docs/ABI.md;
// TestSpecNamesEveryConstant keeps it in step with this package, and
// testdata/vectors.txt (TestVectors) gives other codecs this package's
// verdict on thousands of frames.
//
// # Version history
//
//	1: first version: HTTP request/response, SQL query/exec/transactions,
//	   outbound HTTP, log, config.
//	2: platform APIs: triggers (exports the host calls besides
//	   edge_handle: a message delivered from MQTT, a timer) and the host
//	   imports of the platform capabilities (publish to MQTT, key-value
//	   state, calls to other modules). Every frame, import and code of
//	   version 1 is unchanged.
//
// # Compatibility
//
// A host runs guests of every version from MinVersion to Version. A guest
// of an older version runs exactly as before: it sees the imports it was
// built against (every later import is an addition it never calls) and is
// called only through the exports of its version, so a manifest that
// declares a trigger for it is refused at load. A guest of a newer version
// than the host's is refused at load, naming both versions.
package abi

// Version is the ABI version spoken by this package. A guest reports it from
// edge_abi_version; the host runs guests of MinVersion up to Version.
const Version = 2

// MinVersion is the oldest ABI version a host still runs (see
// Compatibility in the package doc).
const MinVersion = 1

// ImportModule is the Wasm import module name of every host function.
const ImportModule = "edge"

// Host import names.
const (
	FnLog        = "log"
	FnConfigGet  = "config_get"
	FnSQL        = "sql"
	FnHTTPFetch  = "http_fetch"
	FnResultRead = "result_read"
	FnKV         = "kv"   // key-value state (kv.go)
	FnCall       = "call" // another module on the device (call.go)
)

// HeaderCaller is the request header that names the calling module in a
// request that came from another module through the call import. The host
// sets it and removes it from every request that did not come through a
// call, so a callee can trust it.
const HeaderCaller = "Edge-Caller"

// MaxCallDepth is how many module-to-module calls one client request may
// go through: a → b → c → d → e is four; a fifth is refused (CodeDenied),
// as is any call to a module already in the chain (a loop).
const MaxCallDepth = 4

// Guest export names.
const (
	ExportVersion = "edge_abi_version"
	ExportAlloc   = "edge_alloc"
	ExportHandle  = "edge_handle"
	// ExportInitialize is the reactor initialiser Go emits for c-shared builds.
	ExportInitialize = "_initialize"
)

// Negative return codes of host imports.
const (
	ErrMemory    int32 = -1 // a pointer/length is outside guest memory
	ErrNoResult  int32 = -2 // result_read without a pending result
	ErrNotFound  int32 = -3 // config_get: no such key
	ErrMalformed int32 = -4 // the request frame could not be decoded
	ErrTooLarge  int32 = -5 // a frame exceeds the host's limit
)

// Log levels carried by log; the values are those of log/slog.
const (
	LevelDebug int32 = -4
	LevelInfo  int32 = 0
	LevelWarn  int32 = 4
	LevelError int32 = 8
)

// PackPtrLen packs a guest pointer and length into the i64 edge_handle returns.
func PackPtrLen(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// UnpackPtrLen is the inverse of PackPtrLen.
func UnpackPtrLen(v uint64) (ptr, n uint32) { return uint32(v >> 32), uint32(v) }
