package jsond

import (
	"math"
	"strconv"
)

// number consumes a number token and reports whether it has a fraction or
// an exponent.
func (d *Decoder) number() (tok []byte, frac bool, err error) {
	start := d.off
	b := d.b
	i := d.off
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.off = i
		return nil, false, d.syntax("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		frac = true
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.off = i
			return nil, false, d.syntax("invalid number: no digit after '.'")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		frac = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.off = i
			return nil, false, d.syntax("invalid number: no digit in exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.off = i
	return b[start:i], frac, nil
}

// Int decodes an integer. A number with a fraction or an exponent (2.0, 1e3)
// is a type error, as it is for Rust's serde and for encoding/json into an
// int; so is one outside the int64 range.
func (d *Decoder) Int() (int64, error) {
	if err := d.expect(Number); err != nil {
		return 0, err
	}
	start := d.off
	tok, frac, err := d.number()
	if err != nil {
		return 0, err
	}
	if frac {
		d.off = start
		return 0, d.typeErr("want integer, got " + string(tok))
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		d.off = start
		return 0, d.typeErr("integer out of range: " + string(tok))
	}
	return v, nil
}

// Int32 decodes an integer in the int32 range (SQL INT).
func (d *Decoder) Int32() (int32, error) {
	start := d.off
	v, err := d.Int()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.off = start
		d.skipSpace()
		return 0, d.typeErr("integer out of 32-bit range: " + strconv.FormatInt(v, 10))
	}
	return int32(v), nil
}

// Float decodes any number as a float64. A number whose magnitude exceeds
// float64 is a type error.
func (d *Decoder) Float() (float64, error) {
	if err := d.expect(Number); err != nil {
		return 0, err
	}
	start := d.off
	tok, _, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		d.off = start
		return 0, d.typeErr("number out of range: " + string(tok))
	}
	return v, nil
}
