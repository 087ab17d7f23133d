package wasmhost

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxTableEntries bounds the entries of an instance's tables (funcref and
// externref) that table.grow can add: 2^20 entries, 8 MiB of references in
// wazero, shared by the module's tables.
//
// Guest memory has a limit (Limits.MemoryPages); tables had none. A table
// without a declared maximum (Go's wasip1 linker emits one) grows to 2^32
// entries in wazero, 32 GiB of host memory that no page limit counts: a
// guest looping on table.grow stalled its worker's heartbeat within a
// second and took the host's memory with it. Load gives every table a
// maximum instead (capTables), so table.grow past it returns -1 as the
// specification allows, and refuses a module whose tables start larger.
const MaxTableEntries = 1 << 20

// ErrTableLimit is a module whose tables start with more entries than
// MaxTableEntries.
var ErrTableLimit = errors.New("tables over the limit")

const (
	sectionTable    = 4
	limitsMin       = 0x00 // min only
	limitsMinMax    = 0x01 // min and max
	wasmHeaderBytes = 8    // "\0asm" and the version
)

// capTables returns wasm with each table's maximum set to at most its
// share of limit (limit divided by the number of tables, never below the
// table's initial size). A binary it cannot parse is returned unchanged:
// the compiler refuses it with a better message.
func capTables(wasm []byte, limit uint32) ([]byte, error) {
	if len(wasm) < wasmHeaderBytes || string(wasm[:4]) != "\x00asm" {
		return wasm, nil
	}
	off := wasmHeaderBytes
	for off < len(wasm) {
		id := wasm[off]
		size, n := binary.Uvarint(wasm[off+1:])
		start := off + 1 + n
		if n <= 0 || size > uint64(len(wasm)-start) {
			return wasm, nil
		}
		end := start + int(size)
		if id == sectionTable {
			body, err := capTableSection(wasm[start:end], limit)
			if err != nil || body == nil {
				return wasm, err
			}
			out := make([]byte, 0, len(wasm)+len(body)-int(size))
			out = append(out, wasm[:off+1]...)
			out = binary.AppendUvarint(out, uint64(len(body)))
			out = append(out, body...)
			return append(out, wasm[end:]...), nil
		}
		off = end
	}
	return wasm, nil
}

// capTableSection rewrites a table section's body; nil, nil: leave it.
func capTableSection(b []byte, limit uint32) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) {
		return nil, nil
	}
	share := limit / uint32(count)
	out := binary.AppendUvarint(nil, count)
	off := n
	var total uint64
	for i := range count {
		if off+2 > len(b) {
			return nil, nil
		}
		ref, flags := b[off], b[off+1]
		off += 2
		lo, n := binary.Uvarint(b[off:])
		if n <= 0 || lo > 1<<32-1 {
			return nil, nil
		}
		off += n
		hi := uint64(1<<32 - 1)
		switch flags {
		case limitsMin:
		case limitsMinMax:
			if hi, n = binary.Uvarint(b[off:]); n <= 0 {
				return nil, nil
			}
			off += n
		default:
			return nil, fmt.Errorf("table %d: limits flags %#x not supported", i, flags)
		}
		total += lo
		if total > uint64(limit) {
			return nil, fmt.Errorf("%w: %d entries to start with, limit %d", ErrTableLimit, total, limit)
		}
		out = append(out, ref, limitsMinMax)
		out = binary.AppendUvarint(out, lo)
		out = binary.AppendUvarint(out, max(lo, min(hi, uint64(share))))
	}
	if off != len(b) {
		return nil, nil
	}
	return out, nil
}
