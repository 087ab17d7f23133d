package jsonw

import (
	"encoding/json"
	"math"
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
