package wasmhost

import (
	"errors"
	"fmt"

	"github.com/edgeplane/edge/modules/abi"
)

// Sentinel errors, for errors.Is. Call errors wrap one of them and the cause.
var (
	// ErrTimeout: the request's deadline passed before the guest answered.
	ErrTimeout = errors.New("wasm call deadline exceeded")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access,
	// proc_exit, stack overflow, a panic in a host import).
	ErrTrap = errors.New("wasm guest trapped")
	// ErrMemoryLimit: the guest trapped with its memory at the page limit.
	// Errors wrapping it also wrap ErrTrap.
	ErrMemoryLimit = errors.New("wasm guest reached its memory limit")
	// ErrBadResponse: an export of the guest answered what the ABI does
	// not allow: edge_alloc or edge_handle returned 0 or a pointer outside
	// guest memory (there is then no answer at all: the Handler answers
	// 500 as for a trap), or edge_handle a malformed or oversize Response
	// frame (502).
	ErrBadResponse = errors.New("wasm guest returned a bad response")
	// ErrABIVersion: the module speaks another ABI version.
	ErrABIVersion = errors.New("wasm module abi version mismatch")
	// ErrMissingExport: the module lacks a required export or it has the
	// wrong signature.
	ErrMissingExport = errors.New("wasm module lacks a required export")
	// ErrUnavailable: no instance could be created to serve the request.
	ErrUnavailable = errors.New("no wasm instance available")
	// ErrClosed: the module was closed.
	ErrClosed = errors.New("wasm module closed")
	// ErrBodyTooLarge: the request body exceeds Limits.MaxRequestBody.
	ErrBodyTooLarge = errors.New("request body too large")
)

var errTooBig = errors.New("memory reservation too large")

// responseTooLargeError: the guest's Response frame is over
// Limits.MaxResponseBytes. It matches ErrBadResponse.
type responseTooLargeError struct {
	size  int64
	limit int
}

func (e *responseTooLargeError) Error() string {
	return fmt.Sprintf("module response too large: %d bytes, over the limit of %d bytes", e.size, e.limit)
}

func (e *responseTooLargeError) Is(target error) bool { return target == ErrBadResponse }

// abiViolationError: an export of the guest returned 0 or a pointer
// outside guest memory, so there is no request buffer to write or no
// response to read. The call failed as a trap does (the client gets 500
// naming the export, the instance is discarded). It matches
// ErrBadResponse.
type abiViolationError struct {
	export  string // abi.ExportAlloc or abi.ExportHandle
	outside bool   // a pointer outside memory, not 0
	detail  string // what it returned, for the log
}

func (e *abiViolationError) Error() string {
	return fmt.Sprintf("module broke the host ABI: %s %s", e.export, e.detail)
}

func (e *abiViolationError) Is(target error) bool { return target == ErrBadResponse }

// clientText is what the client is told: the export and the kind of fault,
// not the guest's addresses.
func (e *abiViolationError) clientText() string {
	switch {
	case e.outside:
		return "module failed: " + e.export + " returned a pointer outside its memory"
	case e.export == abi.ExportAlloc:
		return "module failed: " + e.export + " returned 0 (the module refused the request)"
	}
	return "module failed: " + e.export + " returned a null pointer"
}
