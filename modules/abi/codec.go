package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// ErrFrame is wrapped by every decoding error, so callers can test for a
// malformed frame with errors.Is.
var ErrFrame = errors.New("malformed abi frame")

// Frames are little-endian. Integers are fixed width; a string or byte slice
// is a u32 length followed by its bytes; a list is a u16 or u32 count followed
// by its items. Every decoder checks each declared length against the bytes
// that remain before it allocates, so a hostile length cannot make it
// allocate more than the frame's own size.

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBytes(b, v []byte) []byte {
	b = appendU32(b, uint32(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = appendU32(b, uint32(len(v)))
	return append(b, v...)
}

// decoder reads a frame and remembers the first error.
type decoder struct {
	b   []byte
	off int
	err error
	// alias makes str and bytes return views of b instead of copies
	// (DecodeRequestInPlace).
	alias bool
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at offset %d of %d", ErrFrame, what, d.off, len(d.b))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("truncated " + what)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *decoder) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// length reads the u32 length of the field what; it names the field
// "what length" only when it fails, so the hot path builds no string.
func (d *decoder) length(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 4 {
		d.fail("truncated " + what + " length")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) f64(what string) float64 { return math.Float64frombits(d.u64(what)) }

// bytes returns a copy, so a decoded frame never aliases guest memory
// (unless the decoder aliases on purpose).
func (d *decoder) bytes(what string) []byte {
	n := d.length(what)
	v := d.take(int(n), what)
	if v == nil || d.alias {
		return v
	}
	return append([]byte(nil), v...)
}

func (d *decoder) str(what string) string {
	n := d.length(what)
	v := d.take(int(n), what)
	if d.alias {
		return unsafe.String(unsafe.SliceData(v), len(v))
	}
	return string(v)
}

// count reads a list length and checks that at least minItem bytes per item
// remain, which bounds the allocation a declared count can cause.
func (d *decoder) count(n int, minItem int, what string) int {
	if d.err != nil {
		return 0
	}
	if minItem > 0 && n > (len(d.b)-d.off)/minItem {
		d.fail(what + " count exceeds frame")
		return 0
	}
	return n
}

// finish reports trailing garbage or the first error.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("trailing bytes")
	}
	return d.err
}
