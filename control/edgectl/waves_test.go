package edgectl

import (
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
		if err := checkWaves(strings.Split(ok, ",")); err != nil {
			t.Errorf("--waves %s: %v, want it accepted", ok, err)
		}
	}
}
