package cli

import "testing"

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "268435456": 256 << 20, "256MiB": 256 << 20,
		"1GiB": 1 << 30, "65536KiB": 64 << 20, "33554432B": 32 << 20, " 128MiB ": 128 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"256M", "-1", "1.5GiB", "lots", "1MiB", "99999999999GiB"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}
