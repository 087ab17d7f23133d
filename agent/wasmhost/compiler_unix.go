//go:build linux || darwin || freebsd || netbsd

package wasmhost

import (
	goruntime "runtime"
	"syscall"

	"golang.org/x/sys/cpu"
)

// compilerUsable mirrors wazero's own check, so the engine we log is the one
// we run: a supported CPU and an mmap that can be made executable (systemd's
// MemoryDenyWriteExecute=yes forbids it).
func compilerUsable() bool {
	switch goruntime.GOARCH {
	case "arm64":
	case "amd64":
		if !cpu.X86.HasSSE41 {
			return false
		}
	default:
		return false
	}
	seg, err := syscall.Mmap(-1, 0, syscall.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return false
	}
	defer syscall.Munmap(seg)
	return syscall.Mprotect(seg, syscall.PROT_READ|syscall.PROT_EXEC) == nil
}
