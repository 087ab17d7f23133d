// Package jsond decodes JSON without reflection, pulling one value at a time.
//
// # Why not encoding/json
//
// encoding/json decodes through reflection. In a Go wasip1 guest that is
// slow (DESIGN.md measured ~120 µs per request for a decode on the order
// service) and it adds to the module's size. A request body of the order
// service has a fixed shape, so the service walks it with a Decoder: it asks
// for an object and receives each key, and asks for the value it expects
// under that key. The measurement behind the choice is
// BenchmarkDecodeOrders in modules/orders: about as fast natively, and
// ~580 KB less guest code than linking encoding/json.
//
// # What it accepts
//
// Exactly RFC 8259 JSON, as encoding/json does: the fuzz test checks that
// Skip accepts a document if and only if json.Valid does, and that strings
// decode to the same text (invalid UTF-8 and lone surrogates become U+FFFD,
// as in encoding/json). Nesting deeper than MaxDepth is refused. Errors wrap
// ErrSyntax (the bytes are not JSON) or ErrType (JSON, but not the kind of
// value the caller asked for, or a number out of range), with the offset.
package jsond

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxDepth bounds the nesting of arrays and objects, as encoding/json does.
const MaxDepth = 10000

// Sentinel errors for errors.Is.
var (
	ErrSyntax = errors.New("json syntax error")
	ErrType   = errors.New("json value of wrong type")
)

// Error is a decoding error at a byte offset of the input.
type Error struct {
	Offset int
	Msg    string
	Kind   error // ErrSyntax or ErrType
}

func (e *Error) Error() string { return fmt.Sprintf("%v at offset %d: %s", e.Kind, e.Offset, e.Msg) }

// Unwrap returns ErrSyntax or ErrType.
func (e *Error) Unwrap() error { return e.Kind }

// Kind of the next value, as returned by Peek.
type Kind uint8

// Value kinds.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// Decoder reads JSON values from a byte slice. The zero value decodes an
// empty input; Reset points it at another one and keeps its scratch buffer.
type Decoder struct {
	b       []byte
	off     int
	depth   int
	scratch []byte
	// inScratch reports that the last string str returned lives in scratch.
	inScratch bool
}

// New returns a Decoder reading b.
func New(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read b from the start.
func (d *Decoder) Reset(b []byte) { d.b, d.off, d.depth = b, 0, 0 }

// Offset returns the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

func (d *Decoder) syntax(msg string) error { return &Error{Offset: d.off, Msg: msg, Kind: ErrSyntax} }
func (d *Decoder) typeErr(msg string) error {
	return &Error{Offset: d.off, Msg: msg, Kind: ErrType}
}

func (d *Decoder) skipSpace() {
	for d.off < len(d.b) {
		switch d.b[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// Peek returns the kind of the next value without consuming it. Invalid
// means the input ends or the next byte cannot start a value.
func (d *Decoder) Peek() Kind {
	d.skipSpace()
	if d.off >= len(d.b) {
		return Invalid
	}
	switch c := d.b[d.off]; {
	case c == 'n':
		return Null
	case c == 't' || c == 'f':
		return Bool
	case c == '"':
		return String
	case c == '[':
		return Array
	case c == '{':
		return Object
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

var kindNames = [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// expect fails with a type error when the next value is not of kind k, or
// a syntax error when there is no value at all.
func (d *Decoder) expect(k Kind) error {
	got := d.Peek()
	if got == k {
		return nil
	}
	if got == Invalid {
		if d.off >= len(d.b) {
			return d.syntax("unexpected end of input")
		}
		return d.syntax(fmt.Sprintf("invalid character %q", d.b[d.off]))
	}
	// Validate the offending value so a syntax error wins over a type error.
	start := d.off
	if err := d.Skip(); err != nil {
		return err
	}
	d.off = start
	return d.typeErr("want " + k.String() + ", got " + got.String())
}

// literal consumes the word lit.
func (d *Decoder) literal(lit string) error {
	if len(d.b)-d.off < len(lit) || string(d.b[d.off:d.off+len(lit)]) != lit {
		return d.syntax("invalid literal")
	}
	d.off += len(lit)
	return nil
}

// Null consumes a null if one is next and reports whether it did.
func (d *Decoder) Null() (bool, error) {
	if d.Peek() != Null {
		return false, nil
	}
	return true, d.literal("null")
}

// Bool decodes true or false.
func (d *Decoder) Bool() (bool, error) {
	if err := d.expect(Bool); err != nil {
		return false, err
	}
	if d.b[d.off] == 't' {
		return true, d.literal("true")
	}
	return false, d.literal("false")
}

// End checks that only white space remains.
func (d *Decoder) End() error {
	d.skipSpace()
	if d.off != len(d.b) {
		return d.syntax("data after the top-level value")
	}
	return nil
}
