package wasmhost

import (
	"bytes"
	"cmp"
	"slices"
)

// Merging data segments.
//
// Go's wasm linker splits the data section at every run of more than a few
// zero bytes: the order service has 42,465 active data segments for 1 MB
// of data. wazero keeps a decoded struct per segment for the module's life
// (3.3 MiB of the worker's heap) and a slice header per segment in every
// instance (1 MiB each), and copies them one by one at every
// instantiation. mergeDataSegments rewrites such a data section into a few
// segments before the module is compiled, writing the short gaps between
// neighbours as zeros.
//
// That is the same memory image only when no two segments overlap: then
// every byte is written by at most one segment, linear memory starts zeroed,
// and the order in which segments are applied does not matter. Any other
// shape (overlaps, passive segments, a memory index, an offset that is not
// an i32.const, a data count section, anything malformed) is left to
// wazero unchanged, which validates and rejects as it always did.

// maxDataGap is the longest run of zeros written to join two segments.
const maxDataGap = 1024

type dataSegment struct {
	off  uint32
	init []byte
}

// mergeDataSegments returns wasm with its active data segments merged, or
// wasm itself when there is nothing to merge or the section's shape is not
// one it can merge safely.
func mergeDataSegments(wasm []byte) []byte {
	const header = 8 // "\0asm" and the version
	if len(wasm) < header || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return wasm
	}
	start, end := -1, -1 // of the data section, id byte included
	var payload []byte
	for i := header; i < len(wasm); {
		id := wasm[i]
		size, n := uleb32(wasm[i+1:])
		if n == 0 || uint64(i+1+n)+uint64(size) > uint64(len(wasm)) {
			return wasm
		}
		body := wasm[i+1+n : i+1+n+int(size)]
		switch id {
		case 11: // data
			if start >= 0 {
				return wasm
			}
			start, end, payload = i, i+1+n+int(size), body
		case 12: // data count: segment indices are used by memory.init
			return wasm
		}
		i += 1 + n + int(size)
	}
	if start < 0 {
		return wasm
	}
	segs, ok := parseActiveData(payload)
	if !ok || len(segs) < 2 {
		return wasm
	}
	merged, ok := mergeSegments(segs)
	if !ok || len(merged) == len(segs) {
		return wasm
	}
	p := appendUleb(nil, uint32(len(merged)))
	for _, s := range merged {
		p = appendSegment(p, s)
	}
	out := make([]byte, 0, len(wasm)-(end-start)+len(p)+6)
	out = append(out, wasm[:start]...)
	out = append(out, 11)
	out = appendUleb(out, uint32(len(p)))
	out = append(out, p...)
	return append(out, wasm[end:]...)
}

// parseActiveData decodes a data section whose segments are all active,
// in memory 0, at an i32.const offset (flags 0).
func parseActiveData(p []byte) ([]dataSegment, bool) {
	count, n := uleb32(p)
	if n == 0 || uint64(count) > uint64(len(p)) {
		return nil, false
	}
	p = p[n:]
	segs := make([]dataSegment, 0, count)
	for range count {
		if len(p) < 2 || p[0] != 0 || p[1] != 0x41 { // flags 0, i32.const
			return nil, false
		}
		off, n := sleb32(p[2:])
		if n == 0 || len(p) < 3+n || p[2+n] != 0x0b { // end
			return nil, false
		}
		p = p[3+n:]
		size, n := uleb32(p)
		if n == 0 || uint64(size) > uint64(len(p)-n) {
			return nil, false
		}
		segs = append(segs, dataSegment{off: uint32(off), init: p[n : n+int(size)]})
		p = p[n+int(size):]
	}
	return segs, len(p) == 0
}

// mergeSegments sorts segs by offset and joins neighbours at most
// maxDataGap apart; ok is false if two segments overlap or one wraps past
// 4 GiB.
func mergeSegments(segs []dataSegment) ([]dataSegment, bool) {
	sorted := slices.Clone(segs)
	slices.SortStableFunc(sorted, func(a, b dataSegment) int { return cmp.Compare(a.off, b.off) })
	var out []dataSegment
	var cur []byte
	var curOff, curEnd uint64
	for i, s := range sorted {
		off, end := uint64(s.off), uint64(s.off)+uint64(len(s.init))
		if end > 1<<32 {
			return nil, false
		}
		if i > 0 && off < curEnd {
			return nil, false
		}
		if i > 0 && off-curEnd <= maxDataGap {
			cur = append(cur, make([]byte, off-curEnd)...)
			cur = append(cur, s.init...)
			curEnd = end
			continue
		}
		if i > 0 {
			out = append(out, dataSegment{off: uint32(curOff), init: cur})
		}
		cur, curOff, curEnd = slices.Clone(s.init), off, end
	}
	return append(out, dataSegment{off: uint32(curOff), init: cur}), true
}

func appendSegment(b []byte, s dataSegment) []byte {
	b = append(b, 0, 0x41)
	b = appendSleb(b, int32(s.off))
	b = append(b, 0x0b)
	b = appendUleb(b, uint32(len(s.init)))
	return append(b, s.init...)
}

// uleb32 decodes an unsigned LEB128 of at most 5 bytes; n is 0 when b does
// not start with one.
func uleb32(b []byte) (v uint32, n int) {
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, 0
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}

// sleb32 decodes a signed LEB128 of at most 5 bytes that fits an int32.
func sleb32(b []byte) (v int32, n int) {
	var r int64
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		c := b[i]
		r |= int64(c&0x7f) << shift
		shift += 7
		if c < 0x80 {
			if c&0x40 != 0 {
				r -= 1 << shift
			}
			if r < -1<<31 || r > 1<<31-1 {
				return 0, 0
			}
			return int32(r), i + 1
		}
	}
	return 0, 0
}

func appendUleb(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendSleb(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
