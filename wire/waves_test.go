package wire

import (
	"slices"
	"strings"
	"testing"
)

// TestWaveEnds: one parser for edgectl's --waves check and the
// controller's resolution. "5,3" of 3 devices, NaN%, +1 and hex used to
// pass the controller's copy, which checked only resolved counts and
// strconv's syntax.
func TestWaveEnds(t *testing.T) {
	tests := []struct {
		spec string
		n    int
		want []int
		err  string
	}{
		{"1,10%,50%,100%", 20, []int{1, 2, 10, 20}, ""},
		{"1,10%,50%,100%", 4, []int{1, 2, 4}, ""}, // 10% of 4 rounds up to 1: merged
		{"1,10%,50%,100%", 1, []int{1}, ""},
		{"2,100%", 1, []int{1}, ""},
		{"100%", 7, []int{7}, ""},
		{"1,3,7", 7, []int{1, 3, 7}, ""},
		{"2,1%,100%", 300, []int{2, 3, 300}, ""},
		{"12.5%,100%", 8, []int{1, 8}, ""},
		{"", 5, []int{5}, ""},
		{"1,50%", 10, nil, "end the waves with 100%"},
		{"1,2", 3, nil, "reaches 2 of the 3 targeted devices"},
		{"5,2,100%", 10, nil, "cumulative"},
		{"5,3", 3, nil, "cumulative"},
		{"50%,10%,100%", 10, nil, "cumulative"},
		{"10%,1,100%", 100, nil, "cumulative"},
		{"0,100%", 10, nil, "want a count"},
		{"x%", 10, nil, "want a count"},
		{"1,,100%", 10, nil, "want a count"},
		{"150%", 10, nil, "up to 100%"},
		{"NaN%,100%", 10, nil, "want a count"},
		{"+1,100%", 10, nil, "want a count"},
		{"0x10,100%", 10, nil, "want a count"},
		{"1e1%,100%", 10, nil, "want a count"},
		{".5%,100%", 10, nil, "want a count"},
		{" 1,100%", 10, nil, "want a count"},
	}
	for _, tt := range tests {
		var spec []string
		if tt.spec != "" {
			spec = strings.Split(tt.spec, ",")
		}
		got, err := WaveEnds(spec, tt.n)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s of %d: err %v, want %q", tt.spec, tt.n, err, tt.err)
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("%s of %d = %v, %v; want %v", tt.spec, tt.n, got, err, tt.want)
		}
	}
}

// FuzzWaves: whatever a request's waves hold, WaveEnds never panics, and
// what it accepts is strictly increasing and ends at n; ParseWaves
// accepts every spec WaveEnds accepts.
func FuzzWaves(f *testing.F) {
	f.Add("1,10%,50%,100%", 20)
	f.Add("2,1%,100%", 3)
	f.Add("NaN%", 1)
	f.Add("99999999999999999999,100%", 5)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 1 || n > 1<<20 {
			return
		}
		spec := strings.Split(s, ",")
		ends, err := WaveEnds(spec, n)
		if err != nil {
			return
		}
		if _, err := ParseWaves(spec); err != nil {
			t.Fatalf("WaveEnds accepted %q that ParseWaves refuses: %v", s, err)
		}
		for i, e := range ends {
			if e < 1 || e > n || (i > 0 && e <= ends[i-1]) {
				t.Fatalf("%q of %d: ends %v", s, n, ends)
			}
		}
		if ends[len(ends)-1] != n {
			t.Fatalf("%q of %d: ends %v, not reaching every device", s, n, ends)
		}
	})
}
