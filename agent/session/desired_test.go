package session

import (
	"strings"
	"testing"
)

// TestParseDesiredStrict: the agent reads a desired state with wire.Decode,
// the parser the controller uses for what it stores and publishes.
func TestParseDesiredStrict(t *testing.T) {
	good := `{"device":"dev1","generation":4,"modules":[]}`
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", good, true},
		{"unknown field (a newer controller)", strings.Replace(good, `{`, `{"note":"x",`, 1), true},
		{"trailing data", good + ` {}`, false},
		{"second value", good + good, false},
		{"duplicate generation", strings.Replace(good, `"generation":4`, `"generation":4,"generation":99`, 1), false},
		{"case-variant device", strings.Replace(good, `"device":"dev1"`, `"device":"dev1","DEVICE":"dev2"`, 1), false},
		{"another device", strings.Replace(good, `dev1`, `dev2`, 1), false},
		{"older generation", strings.Replace(good, `"generation":4`, `"generation":2`, 1), false},
		{"oversize", strings.Replace(good, `{`, `{"note":"`+strings.Repeat("x", 300<<10)+`",`, 1), false},
		{"empty (cleared)", ``, false},
	} {
		_, err := parseDesired([]byte(tc.in), "dev1", 3)
		if (err == nil) != tc.ok {
			t.Errorf("%s: parseDesired = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
