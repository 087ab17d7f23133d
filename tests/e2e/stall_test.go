package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentStallKillsNoWorker: an agent that does not run for a second
// (SIGSTOP here; a stall of an overloaded board, swapping, a debugger in
// the field) has not watched its workers, whose heartbeats wait in their
// pipes meanwhile. It used to count that second as every worker's silence
// and kill them all at once on waking (found by TestHostileModules: the
// order service's worker killed beside a memory bomb, two writes lost
// their connection). Now silence is judged over time the agent ran: no
// worker is killed and the service answers throughout.
func TestAgentStallKillsNoWorker(t *testing.T) {
	f := startFleet(t)
	ag, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "st")...)
	port := freePort(t)
	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "st", port); code != 0 {
		t.Fatalf("push = %d\n%s", code, out)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	pid := ag.Cmd.Process.Pid
	for range 3 {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		// The worker serves while its supervisor is stopped.
		if status, _, err := tryGet(base+"/", 5*time.Second); err != nil || status != 200 {
			t.Errorf("GET / while the agent is stopped = %d %v, want 200", status, err)
		}
		syscall.Kill(pid, syscall.SIGCONT)
		time.Sleep(500 * time.Millisecond)
	}
	if status, _, err := tryGet(base+"/", 5*time.Second); err != nil || status != 200 {
		t.Errorf("GET / after the stalls = %d %v, want 200", status, err)
	}
	if n := strings.Count(ag.Out.String(), "worker crashed"); n != 0 {
		t.Errorf("%d worker(s) killed after the agent's stalls, want none:\n%s", n, tail(ag.Out.String(), 3000))
	}
}
