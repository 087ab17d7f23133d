package wire

import "testing"

func TestLabelsText(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{"site": "a"}, "site=a"},
		{map[string]string{"site": "a", "ring": "canary", "empty": ""}, "empty=, ring=canary, site=a"},
	}
	for _, tt := range tests {
		if got := LabelsText(tt.labels); got != tt.want {
			t.Errorf("LabelsText(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
}
