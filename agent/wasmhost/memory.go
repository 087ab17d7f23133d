package wasmhost

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// instanceAllocator is the memory allocator of one instance. It reserves
// the memory's maximum size up front (reserve), so growing never copies.
//
// wazero calls Free when it closes the module, which in interrupt mode may
// happen while the guest still runs on another goroutine; unmapping then
// would fault in native code. Free therefore only marks the memory, and the
// instance calls release once no call runs on it.
type instanceAllocator struct {
	mu     sync.Mutex
	mem    []byte // the whole reservation; nil: not allocated or released
	unmap  func([]byte)
	failed bool
}

var _ experimental.MemoryAllocator = (*instanceAllocator)(nil)

// Allocate implements experimental.MemoryAllocator.
func (a *instanceAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	return &linearMemory{a: a, max: max}
}

// release unmaps the reservation. Only call it when no guest code can run on
// the memory any more.
func (a *instanceAllocator) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mem != nil && a.unmap != nil {
		a.unmap(a.mem)
	}
	a.mem = nil
}

type linearMemory struct {
	a   *instanceAllocator
	max uint64
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	a := m.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mem == nil {
		if a.failed {
			return nil
		}
		reserve := max(m.max, size)
		mem, unmap, err := reserveMemory(reserve)
		if err != nil {
			a.failed = true
			return nil
		}
		a.mem, a.unmap = mem, unmap
	}
	if size > uint64(len(a.mem)) {
		return nil
	}
	return a.mem[:size:size]
}

// Free implements experimental.LinearMemory; see instanceAllocator.
func (m *linearMemory) Free() {}
