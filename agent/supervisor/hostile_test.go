package supervisor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// hostile is the path of a module of the hostile corpus (tests/e2e).
func hostile(name string) string {
	return filepath.Join(repoRoot(), "tests", "e2e", "testdata", "hostile", name+".wasm")
}

// TestInitLoopKilled: a guest whose _initialize never returns is a guest
// call like any other: past its deadline + 1s the worker is killed, so a
// deploy of it fails within that time, naming it. It used to wait for the
// 60 s ready timeout in fast mode (compiled code is never interrupted, and
// the watchdog saw request calls only), burning a core meanwhile. The pool
// refilling after a discarded instance runs _initialize too, in a serving
// worker: the same watch covers it.
func TestInitLoopKilled(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	m := &wire.Manifest{Name: "initloop", Version: "1.0.0", SHA256: strings.Repeat("a", 64), Port: port,
		Limits: wire.Limits{Pool: 1, DeadlineMS: 200}}
	start := time.Now()
	err := deploy(t, s, m, hostile("initloop"))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "past its deadline") {
		t.Fatalf("deploy of a guest stuck in _initialize = %v, want a failure naming the runaway call", err)
	}
	if took > 10*time.Second {
		t.Errorf("deploy failed after %s, want within the deadline (200ms) + 1s + start-up", took.Round(time.Millisecond))
	}
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
}
