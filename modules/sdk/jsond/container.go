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
		d.skipSpace()
		if d.off >= len(d.b) || d.b[d.off] != '"' {
			return d.syntax("want object key")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		d.skipSpace()
		if d.off >= len(d.b) || d.b[d.off] != ':' {
			return d.syntax("want ':' after object key")
		}
		d.off++
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
func (d *Decoder) Skip() error {
	switch d.Peek() {
	case Null:
		return d.literal("null")
	case Bool:
		_, err := d.Bool()
		return err
	case Number:
		_, _, err := d.number()
		return err
	case String:
		_, err := d.str()
		return err
	case Array:
		return d.Array(d.Skip)
	case Object:
		return d.Object(func([]byte) error { return d.Skip() })
	}
	if d.off >= len(d.b) {
		return d.syntax("unexpected end of input")
	}
	return d.syntax("invalid character")
}

// Valid reports whether b is exactly one JSON value, with white space around.
func Valid(b []byte) bool {
	d := Decoder{b: b}
	return d.Skip() == nil && d.End() == nil
}
