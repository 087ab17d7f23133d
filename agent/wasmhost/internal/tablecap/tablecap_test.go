package tablecap

import (
	"encoding/binary"
	"errors"
	"testing"
)

// tableSection builds a module holding only a table section of tables
// given as (flags, min, max).
func tableSection(tables ...[3]uint64) []byte {
	body := binary.AppendUvarint(nil, uint64(len(tables)))
	for _, tb := range tables {
		body = append(body, 0x70, byte(tb[0]))
		body = binary.AppendUvarint(body, tb[1])
		if tb[0] == limitsMinMax {
			body = binary.AppendUvarint(body, tb[2])
		}
	}
	out := append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0x01, 0x00) // an empty type section
	out = append(out, sectionTable)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(append(out, body...), 0x00, 0x03, 0x02, 'h', 'i') // a custom section after it
}

func TestCapTables(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name    string
		in      [][3]uint64
		want    [][3]uint64
		wantErr error
	}{
		{"no max", [][3]uint64{{0, 10, 0}}, [][3]uint64{{1, 10, 1000}}, nil},
		{"max above the cap", [][3]uint64{{1, 10, 1 << 31}}, [][3]uint64{{1, 10, 1000}}, nil},
		{"max below the cap kept", [][3]uint64{{1, 10, 20}}, [][3]uint64{{1, 10, 20}}, nil},
		{"two tables share the cap", [][3]uint64{{0, 1, 0}, {0, 2, 0}}, [][3]uint64{{1, 1, 500}, {1, 2, 500}}, nil},
		{"a larger start is kept as the max", [][3]uint64{{0, 800, 0}, {0, 100, 0}}, [][3]uint64{{1, 800, 800}, {1, 100, 500}}, nil},
		{"start over the limit", [][3]uint64{{0, 600, 0}, {0, 600, 0}}, nil, ErrLimit},
	}
	for _, tt := range tests {
		got, err := Cap(tableSection(tt.in...), limit)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if tt.wantErr == nil && string(got) != string(tableSection(tt.want...)) {
			t.Errorf("%s: got % x, want % x", tt.name, got, tableSection(tt.want...))
		}
	}
	// What does not parse is left to the compiler.
	for _, b := range [][]byte{nil, []byte("\x00asm"), []byte("not wasm at all"), tableSection([3]uint64{0, 1, 0})[:14]} {
		if got, err := Cap(b, limit); err != nil || string(got) != string(b) {
			t.Errorf("Cap(% x) = % x, %v; want it unchanged", b, got, err)
		}
	}
}

func FuzzCapTables(f *testing.F) {
	f.Add(tableSection([3]uint64{0, 10, 0}))
	f.Add(tableSection([3]uint64{1, 10, 1 << 31}, [3]uint64{0, 3, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Cap(b, 1000)
		if err != nil {
			return
		}
		// Idempotent: a capped module is capped already.
		again, err := Cap(out, 1000)
		if err != nil || string(again) != string(out) {
			t.Fatalf("Cap not idempotent: % x → % x (%v)", out, again, err)
		}
	})
}
