package wasmhost

import (
	"errors"
	"fmt"
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
	// ErrBadResponse: edge_alloc or edge_handle returned a pointer outside
	// guest memory, or a malformed or oversize Response frame.
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
