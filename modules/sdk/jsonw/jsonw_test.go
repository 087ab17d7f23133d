package jsonw

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{56, "56.0"},
		{0, "0.0"},
		{-2, "-2.0"},
		{15.5, "15.5"},
		{0.1, "0.1"},
		{1e20, "100000000000000000000.0"},
		{1e21, "1e+21"},
		{1e-7, "1e-7"},
		{1.5e-10, "1.5e-10"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		got := string(AppendFloat(nil, tt.in))
		if got != tt.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.want != "null" {
			var back float64
			if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.in {
				t.Errorf("AppendFloat(%v) = %q reads back as %v, %v", tt.in, got, back, err)
			}
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"\n\r\t\x01", `"\n\r\t\u0001"`},
		{"<a&b>", `"\u003ca\u0026b\u003e"`},
		{"caf\u00e9 \u2028", `"café \u2028"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var w Writer
	for range 2 { // the second round checks that Reset leaves no state behind
		w.Reset()
		w.BeginArray()
		w.BeginObject()
		w.Key("id")
		w.Int(1)
		w.Key("amount")
		w.Float(56)
		w.Key("tags")
		w.BeginArray()
		w.String("a")
		w.Bool(true)
		w.Null()
		w.EndArray()
		w.EndObject()
		w.BeginObject()
		w.Key("raw")
		w.Raw([]byte(`{"x":1}`))
		w.EndObject()
		w.EndArray()
		want := `[{"id":1,"amount":56.0,"tags":["a",true,null]},{"raw":{"x":1}}]`
		if got := string(w.Bytes()); got != want {
			t.Fatalf("Writer output = %s, want %s", got, want)
		}
	}
}

// FuzzAppendString checks that every string, valid UTF-8 or not, is written
// as valid JSON that decodes to what encoding/json would decode.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\x1f", "\xff\xfe", "\u2029<>&", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not valid JSON: %v", s, out, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

// referenceFloat is AppendFloat without its fast path: strconv's shortest
// round-trip output in the same notation.
func referenceFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return string(AppendFloat(nil, v)) // not on the fast path
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// TestAppendFloatFastPath compares AppendFloat with strconv's shortest
// output on the values the fast path takes (amounts with few decimals, at
// every magnitude it accepts) and on its edges: 2^53, 1e15, and decimals
// one ulp away from short ones, which must fall through to strconv.
func TestAppendFloatFastPath(t *testing.T) {
	var vals []float64
	for _, m := range []float64{0, 1, 5, 9, 10, 12345, 99999999, 1 << 52, 1<<53 - 1, 1 << 53, 999999999999999} {
		for _, p := range []float64{1, 10, 100, 1e3, 1e6, 1e8, 1e9, 1e12} {
			v := m / p
			vals = append(vals, v, -v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)))
		}
	}
	vals = append(vals, 0.1, 0.2, 0.3, 0.1+0.2, 1e15, 1e15-0.125, 1e-6, 1.5e-6, 123.456, 7.75, 5.25, 99.5, 56, -0.0)
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		switch r.IntN(3) {
		case 0: // cents
			vals = append(vals, float64(r.Int64N(1e12))/100)
		case 1: // up to 8 decimals
			vals = append(vals, float64(r.Int64N(1e15))/pow10[r.IntN(len(pow10))])
		default: // any bits in range
			vals = append(vals, math.Float64frombits(r.Uint64()))
		}
	}
	for _, v := range vals {
		if got, want := string(AppendFloat(nil, v)), referenceFloat(v); got != want {
			t.Fatalf("AppendFloat(%b = %v) = %q, want %q", v, v, got, want)
		}
	}
}

// FuzzAppendFloat checks any float64 against strconv's shortest output.
func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 56, 99.5, 0.1, 1e15 - 0.125, 1 << 53} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if got, want := string(AppendFloat(nil, v)), referenceFloat(v); got != want {
			t.Fatalf("AppendFloat(%v) = %q, want %q", v, got, want)
		}
	})
}

func BenchmarkAppendFloat(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, v := range []float64{56, 99.5, 7.75, 0.1, 1234.56} {
			buf = AppendFloat(buf[:0], v)
		}
	}
}
