package jsond

import (
	"unicode/utf16"
	"unicode/utf8"
)

// String decodes a string.
func (d *Decoder) String() (string, error) {
	if err := d.expect(String); err != nil {
		return "", err
	}
	b, err := d.str()
	return string(b), err
}

// str consumes a string and returns its decoded bytes. The result aliases
// the input when the string needs no decoding, and d.scratch otherwise: it
// is valid until the next call.
func (d *Decoder) str() ([]byte, error) {
	d.off++ // opening quote
	d.inScratch = false
	start := d.off
	// Fast path: printable ASCII and valid UTF-8 without escapes.
	for i := start; i < len(d.b); {
		c := d.b[i]
		switch {
		case c == '"':
			d.off = i + 1
			return d.b[start:i], nil
		case c == '\\' || c < 0x20:
			return d.strSlow(start, i)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d.b[i:])
			if r == utf8.RuneError && size == 1 {
				return d.strSlow(start, i)
			}
			i += size
		}
	}
	d.off = len(d.b)
	return nil, d.syntax("unterminated string")
}

// strSlow decodes escapes and replaces invalid UTF-8 from offset i on, with
// b[start:i] already known to be plain.
func (d *Decoder) strSlow(start, i int) ([]byte, error) {
	d.inScratch = true
	out := append(d.scratch[:0], d.b[start:i]...)
	defer func() { d.scratch = out[:0] }()
	for i < len(d.b) {
		c := d.b[i]
		switch {
		case c == '"':
			d.off = i + 1
			return out, nil
		case c < 0x20:
			d.off = i
			return nil, d.syntax("control character in string")
		case c == '\\':
			i++
			if i >= len(d.b) {
				d.off = i
				return nil, d.syntax("unterminated string")
			}
			switch e := d.b[i]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d.b[i+1:])
				if !ok {
					d.off = i
					return nil, d.syntax("invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					// A high surrogate followed by an escaped low one is
					// one code point; anything else is U+FFFD.
					r2, ok2 := rune(-1), false
					if i+2 < len(d.b) && d.b[i+1] == '\\' && d.b[i+2] == 'u' {
						r2, ok2 = hex4(d.b[i+3:])
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.off = i
				return nil, d.syntax("invalid escape")
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[i:i+size]...)
			}
			i += size
		}
	}
	d.off = len(d.b)
	return nil, d.syntax("unterminated string")
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
