//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/edgeplane/edge/modules/abi"
)

// Host imports (module "edge"); see package abi for the calling convention.
// Pointers are passed as unsafe.Pointer so the compiler keeps the memory
// alive for the duration of the call; Go's heap does not move.

//go:wasmimport edge log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport edge config_get
func hostConfigGet(keyPtr unsafe.Pointer, keyLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

//go:wasmimport edge sql
func hostSQLCall(reqPtr unsafe.Pointer, reqLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

//go:wasmimport edge http_fetch
func hostHTTPFetch(reqPtr unsafe.Pointer, reqLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

//go:wasmimport edge kv
func hostKV(reqPtr unsafe.Pointer, reqLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

//go:wasmimport edge call
func hostCall(reqPtr unsafe.Pointer, reqLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

//go:wasmimport edge result_read
func hostResultRead(bufPtr unsafe.Pointer, bufCap uint32) int32

var _ = abi.FnResultRead // the names above are abi's Fn* constants

type hostFunc func(reqPtr unsafe.Pointer, reqLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

// call invokes a data-returning import with req and returns the result,
// written into buf when it fits and into a larger buffer fetched with
// result_read when it does not. The returned slice may be buf or a new
// buffer; callers keep the larger one for next time.
func call(op string, fn hostFunc, req, buf []byte) ([]byte, error) {
	buf = buf[:cap(buf)]
	if len(buf) == 0 {
		buf = make([]byte, 4096)
	}
	n := fn(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)),
		unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
	if n < 0 {
		return buf[:0], callError(op, n)
	}
	if int(n) <= len(buf) {
		return buf[:n], nil
	}
	buf = make([]byte, n)
	m := hostResultRead(unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
	if m < 0 {
		return buf[:0], callError(op+" result_read", m)
	}
	if int(m) > len(buf) {
		return buf[:0], callError(op+" result_read", abi.ErrTooLarge)
	}
	return buf[:m], nil
}

// hostSQL is the transport of the edge database/sql driver.
func hostSQL(req, buf []byte) ([]byte, error) { return call("sql", hostSQLCall, req, buf) }
