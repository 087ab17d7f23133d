package jsond

// Object decodes an object, calling fn for each member with its key; fn
// must consume the member's value (with Int, String, Skip, ...). The key is
// valid only during the call. A duplicate key is passed to fn again: the
// caller decides whether that is an error.
func (d *Decoder) Object(fn func(key []byte) error) error {
	if err := d.expect(Object); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.off++
	d.skipSpace()
	if d.off < len(d.b) && d.b[d.off] == '}' {
		d.off++
		d.depth--
		return nil
	}
	for {
		key, err := d.memberKey()
		if err != nil {
			return err
		}
		// A key that needed unescaping lives in the scratch buffer, which
		// decoding the value may reuse: copy it. Plain keys alias the input.
		if d.inScratch {
			key = append([]byte(nil), key...)
		}
		if err := fn(key); err != nil {
			return err
		}
		d.skipSpace()
		if d.off >= len(d.b) {
			return d.syntax("unterminated object")
		}
		switch d.b[d.off] {
		case ',':
			d.off++
		case '}':
			d.off++
			d.depth--
			return nil
		default:
			return d.syntax("want ',' or '}' in object")
		}
	}
}

// Array decodes an array, calling fn once per element; fn must consume the
// element.
func (d *Decoder) Array(fn func() error) error {
	if err := d.expect(Array); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.off++
	d.skipSpace()
	if d.off < len(d.b) && d.b[d.off] == ']' {
		d.off++
		d.depth--
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		d.skipSpace()
		if d.off >= len(d.b) {
			return d.syntax("unterminated array")
		}
		switch d.b[d.off] {
		case ',':
			d.off++
		case ']':
			d.off++
			d.depth--
			return nil
		default:
			return d.syntax("want ',' or ']' in array")
		}
	}
}

func (d *Decoder) enter() error {
	if d.depth >= MaxDepth {
		return d.syntax("nesting too deep")
	}
	d.depth++
	return nil
}

// Skip consumes one value of any kind, checking its syntax.
//
// It walks nested arrays and objects with a stack of its own instead of
// recursing: each level of recursion is a Wasm call frame in a guest, and
// wazero's interpreter allows 2,000 of them, so a body nested a few hundred
// deep trapped on the interpreter where the compiler (and a native build)
// answered 400. Its errors are those of Object and Array.
func (d *Decoder) Skip() error {
	var buf [32]byte
	closers := buf[:0] // '}' or ']' of each container open, innermost last
	for {
		switch d.Peek() {
		case Null:
			if err := d.literal("null"); err != nil {
				return err
			}
		case Bool:
			if _, err := d.Bool(); err != nil {
				return err
			}
		case Number:
			if _, _, err := d.number(); err != nil {
				return err
			}
		case String:
			if _, err := d.str(); err != nil {
				return err
			}
		case Array, Object:
			closer := byte(']')
			if d.b[d.off] == '{' {
				closer = '}'
			}
			if err := d.enter(); err != nil {
				return err
			}
			d.off++
			d.skipSpace()
			if d.off < len(d.b) && d.b[d.off] == closer {
				d.off++
				d.depth--
				break // an empty container is a complete value
			}
			closers = append(closers, closer)
			if closer == '}' {
				if _, err := d.memberKey(); err != nil {
					return err
				}
			}
			continue // to the first element or member value
		default:
			if d.off >= len(d.b) {
				return d.syntax("unexpected end of input")
			}
			return d.syntax("invalid character")
		}
		// A value is complete: close the containers it completes, or move
		// on to the next element or member.
		for {
			if len(closers) == 0 {
				return nil
			}
			closer := closers[len(closers)-1]
			d.skipSpace()
			if d.off >= len(d.b) {
				if closer == '}' {
					return d.syntax("unterminated object")
				}
				return d.syntax("unterminated array")
			}
			if c := d.b[d.off]; c == closer {
				d.off++
				d.depth--
				closers = closers[:len(closers)-1]
				continue
			} else if c != ',' {
				if closer == '}' {
					return d.syntax("want ',' or '}' in object")
				}
				return d.syntax("want ',' or ']' in array")
			}
			d.off++
			if closer == '}' {
				if _, err := d.memberKey(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// memberKey consumes an object member's key and its colon and returns the
// key (as str does: valid until the next call).
func (d *Decoder) memberKey() ([]byte, error) {
	d.skipSpace()
	if d.off >= len(d.b) || d.b[d.off] != '"' {
		return nil, d.syntax("want object key")
	}
	key, err := d.str()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.off >= len(d.b) || d.b[d.off] != ':' {
		return nil, d.syntax("want ':' after object key")
	}
	d.off++
	return key, nil
}

// Valid reports whether b is exactly one JSON value, with white space around.
func Valid(b []byte) bool {
	d := Decoder{b: b}
	return d.Skip() == nil && d.End() == nil
}
