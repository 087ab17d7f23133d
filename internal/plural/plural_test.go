package plural

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Count(0, "wave"), "0 waves"},
		{Count(1, "wave"), "1 wave"},
		{Count(2, "wave"), "2 waves"},
		{Count(uint64(1), "request"), "1 request"},
		{Count(uint64(1<<64-1), "request"), "18446744073709551615 requests"},
		{Count(int64(-1), "point"), "-1 points"},
		{Count(3, "retained topic"), "3 retained topics"},
		{Count(2, "entry"), "2 entries"},
		{Count(2, "day"), "2 days"},
		{Count(2, "match"), "2 matches"},
		{Count(2, "bus"), "2 buses"},
		{Of(1, "runs", "run"), "runs"},
		{Of(4, "runs", "run"), "run"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
