//go:build linux

package wasmhost

import (
	"math"
	"syscall"
)

// reserveMemory maps size bytes of anonymous memory outside the Go heap.
// MAP_NORESERVE: pages cost nothing until the guest touches them.
func reserveMemory(size uint64) ([]byte, func([]byte), error) {
	if size == 0 {
		size = 1
	}
	if size > math.MaxInt {
		return nil, nil, syscall.ENOMEM
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, nil, err
	}
	return b, func(b []byte) { _ = syscall.Munmap(b) }, nil
}
