package supervisor

import (
	"net/http"
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

// TestRunawayAtRestartAnswered: a client that retries the request that
// got a worker killed sends it to the restarted worker, whose first
// moments used to include a full garbage collection (the compile's memory
// returned to the OS). Compiled guest code is never preempted, so a
// runaway call entered during that collection kept the world from
// stopping: the whole worker froze, the 504 was never written and the
// heartbeat stopped, and the client got EOF when the watchdog killed the
// worker for its silence (CI: TestHostileModules, "GET /x: EOF"). Each
// retry waits in the listener's backlog while the worker restarts and
// must be answered 504, the worker killed for the call that ran past its
// deadline, never for a silence.
func TestRunawayAtRestartAnswered(t *testing.T) {
	s, base := deployEcho(t)
	r, _ := current(s, "echo")
	client := &http.Client{Timeout: 20 * time.Second}
	for round := range 6 {
		crashes := r.crashCount()
		start := time.Now()
		resp, err := client.Post(base+"/", "application/octet-stream", strings.NewReader("\x02"))
		if err != nil {
			t.Fatalf("runaway request %d: %v after %s, want 504 (worker crashes: %d, last: %s)",
				round, err, time.Since(start).Round(time.Millisecond), r.crashCount(), r.lastCrashReason())
		}
		resp.Body.Close()
		answered := time.Since(start)
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("runaway request %d = %d, want 504", round, resp.StatusCode)
		}
		deadline := time.Now().Add(20 * time.Second)
		for r.crashCount() == crashes {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: runaway worker not killed", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if why := r.lastCrashReason(); !strings.Contains(why, "past its deadline") {
			t.Fatalf("round %d: worker killed for %q, want for its call past the deadline", round, why)
		}
		t.Logf("round %d: 504 after %s (the restart included), worker killed after %s",
			round, answered.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
}
