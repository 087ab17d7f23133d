package edgectl

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestWavesCheckedBeforeUpload: a malformed --waves is refused by edgectl
// (exit 2, the controller's wording) before anything is uploaded; it used
// to be refused by the controller only after the module was uploaded.
func TestWavesCheckedBeforeUpload(t *testing.T) {
	key, pub := testKey(t)
	mod := testModule(t, "orders.wasm")
	tests := []struct {
		waves string
		nodes []string
		says  string
	}{
		{"1,50%", []string{"a"}, "end the waves with 100%"},
		{"0,100%", []string{"a"}, "want a count"},
		{"x%,100%", []string{"a"}, "want a count"},
		{"150%", []string{"a"}, "up to 100%"},
		{"5,2,100%", []string{"a"}, "cumulative"},
		{"50%,10%,100%", []string{"a"}, "cumulative"},
		{"1,,100%", []string{"a"}, "want a count"},
		{"1,2", []string{"a", "b", "c"}, "reaches 2 of the 3 targeted devices"},
		// edgectl's own copy of the check let these through (the
		// controller's parser is now the only one):
		{"NaN%,100%", []string{"a"}, "want a count"},
		{"+1,100%", []string{"a"}, "want a count"},
		{"10%,1,100%", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}, "cumulative"},
	}
	for _, tt := range tests {
		f := newFakeControl(t, pub, []string{wire.StateRunning})
		args := []string{"push", mod, "--key", key, "--version", "1.0.0", "--port", "8080", "--waves", tt.waves, "--control", f.srv.URL}
		for _, n := range tt.nodes {
			args = append(args, "--node", n)
		}
		code, _, stderr := run(t, args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.says) {
			t.Errorf("--waves %s: exit %d, %q; want 2 saying %q", tt.waves, code, stderr, tt.says)
		}
		if len(f.blobs) != 0 {
			t.Errorf("--waves %s: the module was uploaded before the waves were refused", tt.waves)
		}
	}
	for _, ok := range []string{"1,10%,50%,100%", "100%", "1,3,7", "2,1%,100%"} {
		if _, err := wire.ParseWaves(strings.Split(ok, ",")); err != nil {
			t.Errorf("--waves %s: %v, want it accepted", ok, err)
		}
	}
}

// TestDescribeWaves: counts read as English ("1 wave reaching 1 device"),
// never "1 waves reaching 1 devices".
func TestDescribeWaves(t *testing.T) {
	gate := wire.Gate{SoakMillis: 60000}
	tests := []struct {
		waves [][]string
		want  string
	}{
		{[][]string{{"a"}}, "1 wave reaching 1 device, soak 1m0s each"},
		{[][]string{{"a", "b"}}, "1 wave reaching 2 devices, soak 1m0s each"},
		{[][]string{{"a"}, {"b", "c"}}, "2 waves reaching 1, 3 devices, soak 1m0s each"},
	}
	for _, tt := range tests {
		r := &wire.Rollout{Gate: gate}
		for _, d := range tt.waves {
			r.Waves = append(r.Waves, wire.RolloutWave{Devices: d})
		}
		if got := describeWaves(r); got != tt.want {
			t.Errorf("describeWaves(%v) = %q, want %q", tt.waves, got, tt.want)
		}
	}
}

// TestByVersion: the rollbacks a staged push signs are reported once per
// version for all its devices, not once per deployment ("for 1 device"
// twice for two devices on 1.0.0).
func TestByVersion(t *testing.T) {
	src := func(v string, devs ...string) wire.PlanSource {
		return wire.PlanSource{PlanVersion: wire.PlanVersion{Version: v}, Devices: devs}
	}
	got := byVersion([]wire.PlanSource{src("1.0.0", "pi-1"), src("0.9.0", "pi-3"), src("1.0.0", "pi-2", "pi-4")})
	want := []versionCount{{"1.0.0", 3}, {"0.9.0", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("byVersion: got %v, want %v", got, want)
	}
}
