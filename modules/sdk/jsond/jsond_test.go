package jsond

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScalars(t *testing.T) {
	tests := []struct {
		name string
		in   string
		run  func(d *Decoder) (any, error)
		want any
		err  error // nil, ErrSyntax or ErrType
	}{
		{"int", " 42 ", func(d *Decoder) (any, error) { return d.Int() }, int64(42), nil},
		{"negative int", "-7", func(d *Decoder) (any, error) { return d.Int() }, int64(-7), nil},
		{"int with fraction", "2.0", func(d *Decoder) (any, error) { return d.Int() }, nil, ErrType},
		{"int with exponent", "1e3", func(d *Decoder) (any, error) { return d.Int() }, nil, ErrType},
		{"int overflow", "9223372036854775808", func(d *Decoder) (any, error) { return d.Int() }, nil, ErrType},
		{"int32 overflow", "2147483648", func(d *Decoder) (any, error) { return d.Int32() }, nil, ErrType},
		{"int32 min", "-2147483648", func(d *Decoder) (any, error) { return d.Int32() }, int32(-2147483648), nil},
		{"int from string", `"abc"`, func(d *Decoder) (any, error) { return d.Int() }, nil, ErrType},
		{"int from null", `null`, func(d *Decoder) (any, error) { return d.Int() }, nil, ErrType},
		{"leading zero", "01", func(d *Decoder) (any, error) { v, err := d.Int(); return v, errors.Join(err, d.End()) }, nil, ErrSyntax},
		{"bare minus", "-", func(d *Decoder) (any, error) { return d.Int() }, nil, ErrSyntax},
		{"float", "56.5", func(d *Decoder) (any, error) { return d.Float() }, 56.5, nil},
		{"float from int", "56", func(d *Decoder) (any, error) { return d.Float() }, 56.0, nil},
		{"float exponent", "-1.5E+2", func(d *Decoder) (any, error) { return d.Float() }, -150.0, nil},
		{"float overflow", "1e400", func(d *Decoder) (any, error) { return d.Float() }, nil, ErrType},
		{"float no digits after dot", "1.", func(d *Decoder) (any, error) { return d.Float() }, nil, ErrSyntax},
		{"float from bool", "true", func(d *Decoder) (any, error) { return d.Float() }, nil, ErrType},
		{"string", `"a b"`, func(d *Decoder) (any, error) { return d.String() }, "a b", nil},
		{"string escapes", `"\"\\\/\b\f\n\r\t\u00e9"`, func(d *Decoder) (any, error) { return d.String() }, "\"\\/\b\f\n\r\t\u00e9", nil},
		{"surrogate pair", `"\ud83d\ude00"`, func(d *Decoder) (any, error) { return d.String() }, "\U0001F600", nil},
		{"lone surrogate", `"\ud83d!"`, func(d *Decoder) (any, error) { return d.String() }, "\uFFFD!", nil},
		{"invalid utf8", "\"a\xffb\"", func(d *Decoder) (any, error) { return d.String() }, "a\uFFFDb", nil},
		{"control char", "\"a\nb\"", func(d *Decoder) (any, error) { return d.String() }, nil, ErrSyntax},
		{"bad escape", `"\x"`, func(d *Decoder) (any, error) { return d.String() }, nil, ErrSyntax},
		{"unterminated", `"abc`, func(d *Decoder) (any, error) { return d.String() }, nil, ErrSyntax},
		{"string from number", `12`, func(d *Decoder) (any, error) { return d.String() }, nil, ErrType},
		{"type error loses to syntax", `[1,}`, func(d *Decoder) (any, error) { return d.String() }, nil, ErrSyntax},
		{"bool", `false`, func(d *Decoder) (any, error) { return d.Bool() }, false, nil},
		{"bad literal", `tru`, func(d *Decoder) (any, error) { return d.Bool() }, nil, ErrSyntax},
		{"empty input", ``, func(d *Decoder) (any, error) { return d.Int() }, nil, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run(New([]byte(tt.in)))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("decode %q: error %v, want %v", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decode %q = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestObjectAndArray(t *testing.T) {
	in := ` [ {"a": 1, "b\u0022": "x", "skip": {"n": [1, 2, {"c": null}]}}, {} ] `
	d := New([]byte(in))
	var keys []string
	var sum int64
	err := d.Array(func() error {
		return d.Object(func(key []byte) error {
			keys = append(keys, string(key))
			switch string(key) {
			case "a":
				v, err := d.Int()
				sum += v
				return err
			case "b\"":
				_, err := d.String()
				return err
			}
			return d.Skip()
		})
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got, want := strings.Join(keys, ","), `a,b",skip`; got != want || sum != 1 {
		t.Fatalf("keys = %s, sum %d; want %s, 1", got, sum, want)
	}
}

func TestMalformedContainers(t *testing.T) {
	for _, in := range []string{
		`[1 2]`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `{1:2}`, `{"a":1`, `[`, `]`, `{"a":1} x`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	} {
		if Valid([]byte(in)) {
			t.Errorf("Valid(%.40q) = true, want false", in)
		}
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if !Valid([]byte(deep)) {
		t.Errorf("Valid(nesting %d) = false, want true", MaxDepth)
	}
}

// TestSkipErrors pins where and why Skip stops on malformed containers:
// the same offsets and messages as Object and Array give (a service's
// answers quote them).
func TestSkipErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`[1 2]`, "json syntax error at offset 3: want ',' or ']' in array"},
		{`[1,]`, "json syntax error at offset 3: invalid character"},
		{`{"a" 1}`, "json syntax error at offset 5: want ':' after object key"},
		{`{"a":1,}`, "json syntax error at offset 7: want object key"},
		{`{1:2}`, "json syntax error at offset 1: want object key"},
		{`{"a":1`, "json syntax error at offset 6: unterminated object"},
		{`[[1]`, "json syntax error at offset 4: unterminated array"},
		{`{"a":[1}`, "json syntax error at offset 7: want ',' or ']' in array"},
		{`[{"a":1]`, "json syntax error at offset 7: want ',' or '}' in object"},
		{`[`, "json syntax error at offset 1: unexpected end of input"},
		{strings.Repeat(`{"a":[`, MaxDepth/2) + `[`, fmt.Sprintf("json syntax error at offset %d: nesting too deep", 6*(MaxDepth/2))},
	} {
		d := New([]byte(tt.in))
		if err := d.Skip(); err == nil || err.Error() != tt.want {
			t.Errorf("Skip(%.30q) = %v, want %s", tt.in, err, tt.want)
		}
	}
	// Nested to the limit, objects and arrays alternating: accepted.
	deep := strings.Repeat(`{"a":[`, MaxDepth/2) + strings.Repeat(`]}`, MaxDepth/2)
	if d := New([]byte(deep)); d.Skip() != nil || d.End() != nil {
		t.Errorf("Skip of objects and arrays nested %d deep failed", MaxDepth)
	}
}

// FuzzValid checks Skip against encoding/json: the same documents are JSON.
func FuzzValid(f *testing.F) {
	for _, s := range []string{
		`{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`,
		`[1,-0.5e+3,"\u00e9\ud800",true,false,null,{},[]]`, `"\"`, `01`, `1.`, `{"a":}`, "\"\xff\"", ` `, `[[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

// FuzzString checks string decoding against encoding/json.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"\ud83d\ude00"`, `"\ud83d\u0041"`, `"\udc00"`, "\"\xc3\x28\"", `"\u00"`, `"a\/b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if trimmed := strings.TrimLeft(string(b), " \t\r\n"); !strings.HasPrefix(trimmed, `"`) {
			return // encoding/json reads null into a string; only strings are compared
		}
		var want string
		wantErr := json.Unmarshal(b, &want)
		d := New(b)
		got, err := d.String()
		if err == nil {
			err = d.End()
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("String(%q) error %v, encoding/json error %v", b, err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("String(%q) = %q, encoding/json %q", b, got, want)
		}
	})
}
