package edgectl

import (
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestPushTerminalStates: push --wait ends as soon as every device is in
// a terminal state, and its exit code says which: 0 all running; 1 a
// device will not run it (rejected, failed, rolled back, superseded by a
// newer push), which wins over a timeout, or every device was removed; 3
// the controller timed a device out; a removed device counts neither way. Stderr names each such device with its reason.
func TestPushTerminalStates(t *testing.T) {
	key, pub := testKey(t)
	tests := []struct {
		name   string
		states []string
		code   int
		stderr []string
	}{
		{"all running", []string{wire.StateRunning, wire.StateRunning}, ExitOK, nil},
		{"superseded", []string{wire.StateSuperseded, wire.StateRunning}, ExitFailed,
			[]string{"failed on 1 of 2 devices", "pi-1 superseded: replaced by deployment d-2 (orders 1.1.0) before it finished"}},
		{"rolled back", []string{wire.StateRolledBack, wire.StateRunning}, ExitFailed, []string{"pi-1 rolled_back: data kept"}},
		{"timed out", []string{wire.StateRunning, wire.StateTimedOut}, ExitTimeout,
			[]string{"deployment d-1 timed out on 1 of 2 devices at its deadline", "pi-2: no terminal state within 10m0s of the push: the device never connected"}},
		{"timed out and failed", []string{wire.StateFailed, wire.StateTimedOut}, ExitFailed, []string{"pi-1 failed: blob damaged"}},
		// A device removed from the fleet during the push is neither
		// running nor failed (it was "done, but pi-2 is removed", exit 1).
		{"one removed", []string{wire.StateRunning, wire.StateRemoved}, ExitOK, nil},
		{"all removed", []string{wire.StateRemoved, wire.StateRemoved}, ExitFailed, []string{"every targeted device was removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeControl(t, pub, []string{wire.StateFetching}, tt.states)
			f.reasons[wire.StateSuperseded] = "replaced by deployment d-2 (orders 1.1.0) before it finished"
			f.reasons[wire.StateRolledBack] = "data kept"
			f.reasons[wire.StateTimedOut] = "no terminal state within 10m0s of the push: the device never connected"
			f.reasons[wire.StateFailed] = "blob damaged"
			// --wait far longer than the test: it must end on the states.
			code, stdout, stderr := run(t, "push", testModule(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080",
				"--node", "pi-1", "--node", "pi-2", "--wait", "1m", "--control", f.srv.URL)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "--wait") || !strings.Contains(stdout, "; done") {
				t.Errorf("push waited out --wait or does not say done:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
		})
	}
}
