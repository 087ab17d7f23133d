package semver

import (
	"cmp"
	"testing"
)

func TestCompare(t *testing.T) {
	// semver.org's precedence example, in increasing order.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			got, err := Compare(order[i], order[j])
			if err != nil {
				t.Fatal(err)
			}
			want := cmp.Compare(uint64(i), uint64(j))
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if c, _ := Compare("1.0.0+a", "1.0.0+b"); c != 0 {
		t.Errorf("build metadata must be ignored, got %d", c)
	}
	for _, bad := range []string{"", "1.0", "1.0.0-", "01.0.0", "1.0.0-a..b", "x.y.z", "1.0.0-!"} {
		if _, err := Compare(bad, "1.0.0"); err == nil {
			t.Errorf("Compare(%q) accepted", bad)
		}
	}
}
