//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/edgeplane/edge/modules/abi"
)

// server is the guest's one frameServer: an instance serves one request at
// a time, so the buffers need no locking.
var server frameServer

// Serve makes h the module's handler. Call it from an init function: a
// reactor module's main is never run. A later call replaces the handler.
func Serve(h Handler) { server.h = h }

//go:wasmexport edge_abi_version
func edgeABIVersion() int32 { return abi.Version }

// edgeAlloc returns the address of at least size writable bytes, or 0 when
// size is negative or over the guest's limit.
//
//go:wasmexport edge_alloc
func edgeAlloc(size int32) uint32 {
	b := server.alloc(int(size))
	if b == nil {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// edgeHandle serves the Request frame at ptr. The frame must lie inside the
// buffer edge_alloc returned: anything else is answered with a 500 frame
// rather than read, so a confused host cannot make the guest read memory
// it does not own.
//
//go:wasmexport edge_handle
func edgeHandle(ptr, n uint32) uint64 {
	buf := server.reqBuf
	var out []byte
	if len(buf) == 0 || uintptr(ptr) != uintptr(unsafe.Pointer(unsafe.SliceData(buf))) || int(n) > len(buf) {
		Log(LevelError, "edge_handle: request frame outside the edge_alloc buffer")
		out = server.plain(500, "request frame outside the edge_alloc buffer\n")
	} else {
		out = server.handle(buf[:n])
	}
	return abi.PackPtrLen(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out)))
}
