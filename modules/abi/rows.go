package abi

import (
	"encoding/binary"
	"fmt"
	"math"
)

// RawValue is a column value read in place from a result frame: Bytes
// (text or blob) aliases the frame, so a RawValue is valid only as long as
// the frame is.
type RawValue struct {
	Kind  Kind
	Bits  uint64 // KindInt and KindFloat
	Bytes []byte // KindText and KindBlob
}

// Int returns the value of a KindInt.
func (v RawValue) Int() int64 { return int64(v.Bits) }

// Float returns the value of a KindFloat.
func (v RawValue) Float() float64 { return math.Float64frombits(v.Bits) }

// Value returns a copy of v that does not alias the frame.
func (v RawValue) Value() Value {
	switch v.Kind {
	case KindInt:
		return Int(v.Int())
	case KindFloat:
		return Float(v.Float())
	case KindText:
		return Text(string(v.Bytes))
	case KindBlob:
		return Blob(append([]byte(nil), v.Bytes...))
	}
	return Null()
}

// QueryReader reads the result frame of an OpQuery row by row, in place
// and without allocating: the guest SDK's hot read path scans from it, and
// DecodeSQLResult builds its copies with it, so both read the frame the
// same way.
type QueryReader struct {
	d     decoder
	ncol  int
	colAt int // offset of the first column description
	cols  []Column
	left  uint32
}

// NewQueryReader reads the frame's header. An error result comes back as
// hostErr (the query failed on the host); a malformed frame as err, which
// wraps ErrFrame.
func NewQueryReader(b []byte) (q *QueryReader, hostErr *Error, err error) {
	q = &QueryReader{d: decoder{b: b}}
	switch q.d.u8("result kind") {
	case 0:
	case 1:
		e := q.d.error()
		if err := q.d.finish(); err != nil {
			return nil, nil, err
		}
		return nil, e, nil
	default:
		q.d.fail("unknown result kind")
		return nil, nil, q.d.err
	}
	// The column descriptions are checked now and copied only if asked
	// for (Columns): a guest scanning rows by position never needs them.
	q.ncol = q.d.count(int(q.d.u16("column count")), 8, "column")
	q.colAt = q.d.off
	for range q.ncol {
		q.d.take(int(q.d.length("column name")), "column name")
		q.d.take(int(q.d.length("column type")), "column type")
	}
	q.left = q.d.u32("row count")
	if q.ncol == 0 && q.left > 0 {
		q.d.fail("rows without columns")
	}
	// Every value is at least one byte: a count the frame cannot hold is
	// refused now, before anyone sizes a buffer by it.
	if q.d.err == nil && q.ncol > 0 && uint64(q.left)*uint64(q.ncol) > uint64(len(b)-q.d.off) {
		q.d.fail("row count exceeds frame")
	}
	if q.d.err != nil {
		return nil, nil, q.d.err
	}
	return q, nil, nil
}

// Columns returns the column descriptions (copies: they do not alias the
// frame).
func (q *QueryReader) Columns() []Column {
	if q.cols == nil && q.ncol > 0 {
		d := decoder{b: q.d.b, off: q.colAt}
		q.cols = make([]Column, q.ncol)
		for i := range q.cols {
			q.cols[i] = Column{Name: d.str("column name"), Type: d.str("column type")}
		}
	}
	return q.cols
}

// NumColumns returns the number of columns.
func (q *QueryReader) NumColumns() int { return q.ncol }

// Rows returns how many rows are left to read.
func (q *QueryReader) Rows() int { return int(q.left) }

// Next reads the next row into dst, which must have one element per
// column. It returns false at the end of the rows, with an error if the
// frame does not end there or a value is malformed.
//
// It reads the values with no function call per value: in a Go guest every
// call costs tens of nanoseconds, and this loop runs for every value of
// every row a guest reads.
func (q *QueryReader) Next(dst []RawValue) (bool, error) {
	if len(dst) != q.ncol {
		return false, fmt.Errorf("abi: Next with %d values for %d columns", len(dst), q.ncol)
	}
	if q.left == 0 {
		return false, q.d.finish()
	}
	if q.d.err != nil {
		return false, q.d.err
	}
	q.left--
	b, off := q.d.b, q.d.off
	for i := range dst {
		if off >= len(b) {
			return false, q.failAt(off, "truncated value kind")
		}
		k := Kind(b[off])
		off++
		switch k {
		case KindNull:
			dst[i] = RawValue{}
		case KindInt, KindFloat:
			if len(b)-off < 8 {
				return false, q.failAt(off, "truncated number value")
			}
			dst[i] = RawValue{Kind: k, Bits: binary.LittleEndian.Uint64(b[off:])}
			off += 8
		case KindText, KindBlob:
			if len(b)-off < 4 {
				return false, q.failAt(off, "truncated value length")
			}
			n := int(binary.LittleEndian.Uint32(b[off:]))
			off += 4
			if n < 0 || len(b)-off < n {
				return false, q.failAt(off, "truncated value")
			}
			dst[i] = RawValue{Kind: k, Bytes: b[off : off+n : off+n]}
			off += n
		default:
			return false, q.failAt(off, "unknown value kind")
		}
	}
	q.d.off = off
	return true, nil
}

// failAt records a malformed value at offset off.
func (q *QueryReader) failAt(off int, what string) error {
	q.d.off = off
	q.d.fail(what)
	return q.d.err
}
