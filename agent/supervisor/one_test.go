package supervisor

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/worker"
)

// TestRunOneStopsRunawayGuest is `edge-agent serve`'s protection: a guest
// call in an endless loop, in fast mode (nothing interrupts it), gets 504
// at its deadline, the watchdog kills the worker a second later, and the
// restarted worker serves the same socket.
func TestRunOneStopsRunawayGuest(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	wcfg := worker.Config{
		Module: filepath.Join(repoRoot(), "agent", "wasmhost", "testdata", "echo.wasm"),
		Name:   "echo", Pool: 2, DeadlineMS: 200, DeadlineMode: "fast",
	}
	go func() { done <- s.RunOne(ctx, "echo", wcfg, ln.(*net.TCPListener), func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("RunOne: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker not ready")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(body string) (int, error) {
		resp, err := client.Post(base+"/", "application/octet-stream", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post("ok"); err != nil || code != 200 {
		t.Fatalf("before: %d, %v", code, err)
	}
	start := time.Now()
	code, err := post("\x02")
	// A 504 at the deadline, or, when a garbage collection began while
	// the guest spun (a stop-the-world waits for compiled guest code,
	// which nothing preempts, and the whole worker freezes), no answer:
	// the watchdog then kills the frozen worker for its silence. Either
	// way the worker is replaced (checked below).
	runawayErr := err
	if err == nil && code != http.StatusGatewayTimeout {
		t.Errorf("runaway request: %d; want 504 (or no answer from a frozen worker)", code)
	}
	t.Logf("runaway request answered after %s", time.Since(start).Round(time.Millisecond))
	// The worker is killed (runaway call) and restarted on the socket.
	s.mu.Lock()
	r := s.one
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for r.crashCount() == 0 || !r.heartbeat().Ready {
		if time.Now().After(deadline) {
			t.Fatalf("runaway worker not killed and restarted (crashes %d)", r.crashCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("killed and restarted %s after the request (%s)", time.Since(start).Round(time.Millisecond), r.lastCrashReason())
	if runawayErr != nil && !strings.Contains(r.lastCrashReason(), "heartbeat silent") && !strings.Contains(r.lastCrashReason(), "past its deadline") {
		t.Errorf("runaway request got no answer (%v), and the worker was killed for %q", runawayErr, r.lastCrashReason())
	}
	for time.Now().Before(deadline) {
		if code, err = post("after"); err == nil && code == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("after the runaway call: %d, %v", code, err)
	}
	s.mu.Lock()
	n := len(s.mods)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("RunOne registered %d modules with the supervisor, want none", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunOne after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunOne did not return after cancel")
	}
}
