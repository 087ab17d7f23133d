// Package jsonw writes JSON by appending to a byte slice, without reflection.
//
// # Why not encoding/json
//
// Inside a Go wasip1 guest, encoding/json's reflection is the most expensive
// thing a request does: on the order service a prototype spent ~120 µs per
// request in it, and writing the response with strconv.Append* instead moved
// the Wasm/native throughput ratio from ~0.65 to ~0.8 (see DESIGN.md). A
// Writer keeps its buffer between uses, so a guest that resets it per request
// allocates nothing once the buffer has grown to its working size.
//
// The Writer inserts commas itself and does not check nesting: a caller that
// opens an object must close it. Output is compact (no spaces).
package jsonw

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Writer appends JSON values to Buf.
type Writer struct {
	// Buf holds the output. Reset truncates it and keeps its capacity.
	Buf []byte
	// comma is true after a complete value, when the next value or key in
	// the same container needs a separating comma.
	comma bool
}

// Reset truncates the output, keeping the buffer for reuse.
func (w *Writer) Reset() { w.Buf, w.comma = w.Buf[:0], false }

// Bytes returns the output. It aliases the Writer's buffer.
func (w *Writer) Bytes() []byte { return w.Buf }

func (w *Writer) sep() {
	if w.comma {
		w.Buf = append(w.Buf, ',')
	}
}

// BeginObject writes '{'.
func (w *Writer) BeginObject() { w.sep(); w.Buf = append(w.Buf, '{'); w.comma = false }

// EndObject writes '}'.
func (w *Writer) EndObject() { w.Buf = append(w.Buf, '}'); w.comma = true }

// BeginArray writes '['.
func (w *Writer) BeginArray() { w.sep(); w.Buf = append(w.Buf, '['); w.comma = false }

// EndArray writes ']'.
func (w *Writer) EndArray() { w.Buf = append(w.Buf, ']'); w.comma = true }

// Key writes an object key and its colon; the next call writes its value.
func (w *Writer) Key(k string) {
	w.sep()
	w.Buf = AppendString(w.Buf, k)
	w.Buf = append(w.Buf, ':')
	w.comma = false
}

// String writes a string value.
func (w *Writer) String(s string) { w.sep(); w.Buf = AppendString(w.Buf, s); w.comma = true }

// StringBytes writes the text s as a string value, as String does: for
// text read in place (sql.RawBytes), with no string made of it.
func (w *Writer) StringBytes(s []byte) { w.sep(); w.Buf = appendString(w.Buf, s); w.comma = true }

// Int writes an integer value.
func (w *Writer) Int(v int64) { w.sep(); w.Buf = strconv.AppendInt(w.Buf, v, 10); w.comma = true }

// Float writes a float value the way AppendFloat does.
func (w *Writer) Float(v float64) { w.sep(); w.Buf = AppendFloat(w.Buf, v); w.comma = true }

// Bool writes true or false.
func (w *Writer) Bool(v bool) { w.sep(); w.Buf = strconv.AppendBool(w.Buf, v); w.comma = true }

// Null writes null.
func (w *Writer) Null() { w.sep(); w.Buf = append(w.Buf, "null"...); w.comma = true }

// Raw writes b, which must be one complete JSON value, as is.
func (w *Writer) Raw(b []byte) { w.sep(); w.Buf = append(w.Buf, b...); w.comma = true }

// AppendFloat appends v as a JSON number. Integral values keep a ".0"
// (56 → 56.0), as Rust's serde_json writes f64 values, so clients of the
// original demo see the same text. Like encoding/json it switches to
// exponent notation below 1e-6 and from 1e21 on. JSON has no NaN or
// infinity: those are written as null, as serde_json does.
func AppendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		start := len(b)
		b = strconv.AppendFloat(b, v, 'e', -1, 64)
		// Tidy e-07 into e-7, as encoding/json does.
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
		return b
	}
	if out, ok := appendShortDecimal(b, v); ok {
		return out
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// appendShortDecimal writes v with at most 8 digits after the point when
// such a decimal reads back as exactly v: amounts such as 99.5, 56.0 or
// 0.1, most of what a service writes. It is strconv's shortest
// round-trip output ('f', -1) for those values without its general
// algorithm, which in a Go guest costs several times more. A decimal
// m/10^k with m < 2^53 reads back as m/10^k rounded once (both exact
// float64 values, one correctly rounded division), so v == m/10^k is
// exactly "m/10^k reads back as v"; the first k that passes gives the
// fewest digits. The caller handles what it declines (ok false).
func appendShortDecimal(b []byte, v float64) ([]byte, bool) {
	const maxExact = 1 << 53
	abs := math.Abs(v)
	if abs >= 1e15 {
		return b, false
	}
	for k, p := range pow10 {
		m := math.Round(abs * p)
		if m >= maxExact {
			return b, false
		}
		if m/p != abs {
			continue
		}
		n := uint64(m)
		if math.Signbit(v) {
			b = append(b, '-')
		}
		if k == 0 {
			b = strconv.AppendUint(b, n, 10)
			return append(b, ".0"...), true
		}
		// Integer part, point, k fraction digits with leading zeros.
		div := uint64(p)
		b = strconv.AppendUint(b, n/div, 10)
		b = append(b, '.')
		frac := n % div
		for d := div / 10; d > 0; d /= 10 {
			b = append(b, byte('0'+frac/d%10))
		}
		return b, true
	}
	return b, false
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string. It escapes ", \ and control
// characters, and also <, >, & and U+2028/U+2029 so the output is safe to
// embed in HTML and JavaScript, as encoding/json does. Invalid UTF-8 is
// replaced by U+FFFD.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// plainASCII[c] is true for the ASCII bytes written as they are: one table
// lookup per byte on the common path.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func appendString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
