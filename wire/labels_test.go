package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestValidLabels: the labels an agent declares pass the rules of central
// labels (ValidateLabel, MaxLabels); a reader of a status keeps the valid
// ones and names the rest (F17: an agent's label reached selectors,
// --json and scrapers unchecked).
func TestValidLabels(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 2 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	for _, tt := range []struct {
		name    string
		in      map[string]string
		dropped []string
	}{
		{"none", nil, nil},
		{"good", map[string]string{"site": "a", "ring": "canary", "empty": ""}, nil},
		{"markup value", map[string]string{"site": "a", "x": "<img src=x onerror=alert(1)>"}, []string{"x"}},
		{"space in key", map[string]string{"bad label": "v", "site": "a"}, []string{"bad label"}},
		{"long value", map[string]string{"site": string(make([]byte, 64))}, []string{"site"}},
		{"too many", many, []string{fmt.Sprintf("k%02d", MaxLabels), fmt.Sprintf("k%02d", MaxLabels+1)}},
	} {
		valid, dropped := ValidLabels(tt.in)
		if !reflect.DeepEqual(dropped, tt.dropped) {
			t.Errorf("%s: dropped %q, want %q", tt.name, dropped, tt.dropped)
		}
		if len(valid)+len(dropped) != len(tt.in) {
			t.Errorf("%s: %d valid + %d dropped of %d", tt.name, len(valid), len(dropped), len(tt.in))
		}
		err := ValidateLabels(tt.in)
		if (err == nil) != (tt.dropped == nil) {
			t.Errorf("%s: ValidateLabels = %v, want an error: %v", tt.name, err, tt.dropped != nil)
		}
		if ValidateLabels(valid) != nil {
			t.Errorf("%s: what ValidLabels keeps does not pass ValidateLabels", tt.name)
		}
	}
	if err := ValidateLabels(many); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ValidateLabels(%d labels) = %v, want ErrTooLarge", len(many), err)
	}
}
