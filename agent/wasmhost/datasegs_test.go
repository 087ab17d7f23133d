package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// dataModule is a module with one exported memory of pages pages and the
// given active data segments, in this order.
func dataModule(pages byte, segs []dataSegment) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, 5, 3, 1, 0, pages)               // memory: min pages
	m = append(m, 7, 7, 1, 3, 'm', 'e', 'm', 2, 0) // export "mem" memory 0
	var p []byte
	p = appendUleb(p, uint32(len(segs)))
	for _, s := range segs {
		p = appendSegment(p, s)
	}
	m = append(m, 11)
	m = appendUleb(m, uint32(len(p)))
	return append(m, p...)
}

// memoryImage instantiates wasm and returns its memory, or nil if it does
// not instantiate.
func memoryImage(t testing.TB, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		return nil
	}
	mem := mod.ExportedMemory("mem")
	b, _ := mem.Read(0, mem.Size())
	return bytes.Clone(b)
}

func TestMergeDataSegments(t *testing.T) {
	seg := func(off uint32, s string) dataSegment { return dataSegment{off, []byte(s)} }
	tests := []struct {
		name  string
		segs  []dataSegment
		merge int // segments after merging; 0: left unchanged
	}{
		{"in order with gaps", []dataSegment{seg(10, "ab"), seg(40, "cd"), seg(100, "ef")}, 1},
		{"out of order", []dataSegment{seg(3000, "late"), seg(10, "ab"), seg(20, "cd")}, 2},
		{"adjacent", []dataSegment{seg(0, "ab"), seg(2, "cd")}, 1},
		{"gap too long", []dataSegment{seg(0, "ab"), seg(2+maxDataGap+1, "cd"), seg(2+maxDataGap+1+2+10, "ef")}, 2},
		{"overlapping", []dataSegment{seg(0, "abcd"), seg(2, "XY")}, 0},
		{"same offset", []dataSegment{seg(5, "ab"), seg(5, "cd")}, 0},
		{"out of bounds", []dataSegment{seg(65530, "ab"), seg(65534, "cdef")}, 1},
		{"one segment", []dataSegment{seg(7, "ab")}, 0},
		{"negative offset", []dataSegment{seg(0, "ab"), seg(0xfffffff0, "cd")}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := dataModule(1, tt.segs)
			got := mergeDataSegments(wasm)
			if tt.merge == 0 {
				if !bytes.Equal(got, wasm) {
					t.Fatalf("module rewritten, want it unchanged")
				}
				return
			}
			segs, ok := parseActiveData(dataPayload(t, got))
			if !ok || len(segs) != tt.merge {
				t.Fatalf("%d segments after merging (ok %v), want %d", len(segs), ok, tt.merge)
			}
			want, have := memoryImage(t, wasm), memoryImage(t, got)
			if !bytes.Equal(want, have) || (want == nil) != (have == nil) {
				t.Errorf("memory after instantiation differs (original instantiates: %v, merged: %v)", want != nil, have != nil)
			}
		})
	}
}

// dataPayload returns the data section's payload of a module built by
// dataModule (the last section).
func dataPayload(t testing.TB, wasm []byte) []byte {
	t.Helper()
	for i := 8; i < len(wasm); {
		size, n := uleb32(wasm[i+1:])
		if wasm[i] == 11 {
			return wasm[i+1+n : i+1+n+int(size)]
		}
		i += 1 + n + int(size)
	}
	t.Fatal("no data section")
	return nil
}

// TestMergeDataSegmentsOrders: the Go order service's 42,465 segments
// become a few, and its memory image is the same.
func TestMergeDataSegmentsOrders(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("..", "..", "bin", "orders.wasm"))
	if err != nil {
		t.Skipf("no bin/orders.wasm (make bin/orders.wasm): %v", err)
	}
	got := mergeDataSegments(wasm)
	if bytes.Equal(got, wasm) {
		t.Fatal("orders.wasm left unchanged")
	}
	// A reactor needs its imports to instantiate: apply the segments here.
	before, ok1 := parseActiveData(dataPayload(t, wasm))
	after, ok2 := parseActiveData(dataPayload(t, got))
	if !ok1 || !ok2 || len(after) > 10 {
		t.Fatalf("%d segments → %d (parsed: %v, %v), want at most 10", len(before), len(after), ok1, ok2)
	}
	if !bytes.Equal(applySegments(before), applySegments(after)) {
		t.Error("memory images differ")
	}
}

// applySegments writes segs, in order, into zeroed memory.
func applySegments(segs []dataSegment) []byte {
	var mem []byte
	for _, s := range segs {
		if end := int(s.off) + len(s.init); end > len(mem) {
			mem = append(mem, make([]byte, end-len(mem))...)
		}
		copy(mem[s.off:], s.init)
	}
	return mem
}

// FuzzMergeDataSegments: any segments at any offsets give the same memory
// image merged or not, and any bytes at all are either left alone or
// rewritten into a module that still parses.
func FuzzMergeDataSegments(f *testing.F) {
	f.Add([]byte{0, 0, 2, 'a', 'b', 40, 0, 2, 'c', 'd'})
	f.Add([]byte{0, 1, 4, 'a', 'b', 'c', 'd', 0, 2, 2, 'X', 'Y'})
	f.Fuzz(func(t *testing.T, b []byte) {
		mergeDataSegments(b) // must not panic on arbitrary bytes
		// b as a list of segments: offset (u16), length (u8), bytes.
		var segs []dataSegment
		for len(b) >= 3 {
			off, n := uint32(binary.LittleEndian.Uint16(b)), int(b[2])
			b = b[3:]
			n = min(n, len(b))
			segs = append(segs, dataSegment{off, b[:n]})
			b = b[n:]
		}
		wasm := dataModule(2, segs)
		got := mergeDataSegments(wasm)
		if bytes.Equal(got, wasm) {
			return
		}
		if !bytes.Equal(memoryImage(t, wasm), memoryImage(t, got)) {
			t.Errorf("memory image differs after merging %d segments", len(segs))
		}
	})
}
