package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// buildGuest builds the test module in tests/e2e/testdata/NAME for wasip1
// and returns the path of the .wasm file; each module is built once per
// test process.
func buildGuest(t *testing.T, name string) string {
	t.Helper()
	guestsMu.Lock()
	defer guestsMu.Unlock()
	if p, ok := guests[name]; ok {
		return p
	}
	out := filepath.Join(sharedState(t), "guests", name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./tests/e2e/testdata/"+name)
	cmd.Dir = repoRoot()
	cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test module %s: %v\n%s", name, err, b)
	}
	guests[name] = out
	return out
}

var (
	guestsMu sync.Mutex
	guests   = map[string]string{}
)

// TestProbeRollback pushes, on top of the order service 1.0.0, a 2.0.0 whose
// health probe answers 500. The agent must refuse it before it takes any
// traffic (clients calling during the push never get its answer),
// edgectl must report that with exit 1 and a reason naming the probe, and
// 1.0.0 must keep serving with the data it had.
func TestProbeRollback(t *testing.T) {
	unhealthy := buildGuest(t, "unhealthy")
	f := startFleet(t)
	args := f.device(t, "p")
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "p", port); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s", code, out)
	}
	runWorkflow(t, base, seedWorkflow(t))
	seeded := getOrders(t, base)
	_, index := call(t, "GET", base+"/", "")

	// Clients keep calling while 2.0.0 starts: none may get its answer
	// (before the switch a new version serves its probe only).
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		calls  atomic.Int64
		leaked atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for !stop.Load() {
				resp, err := c.Get(base + "/")
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				calls.Add(1)
				if strings.Contains(string(b), "must never reach a client") {
					leaked.Add(1)
				}
			}
		})
	}
	stdout, stderr, code := edgectl(t, "push", unhealthy, "--control", f.control,
		"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "orders", "--version", "2.0.0",
		"--probe", "/healthz", "--node", "p", "--db", "sqlite", "--port", fmt.Sprint(port),
		"--wait", "2m", "--json")
	stop.Store(true)
	wg.Wait()
	t.Logf("%d calls during the push, %d answered by 2.0.0", calls.Load(), leaked.Load())
	if leaked.Load() > 0 || calls.Load() == 0 {
		t.Errorf("%d of %d calls during the push were answered by 2.0.0, whose probe failed; want none", leaked.Load(), calls.Load())
	}
	var res struct {
		Devices []struct {
			Device, State, Reason string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("push 2.0.0: stdout is not JSON (%v), exit %d:\n%s%s", err, code, stdout, stderr)
	}
	if code != 1 || len(res.Devices) != 1 {
		t.Fatalf("push of 2.0.0 with a failing probe = exit %d with %d devices, want 1 and 1:\n%s%s", code, len(res.Devices), stdout, stderr)
	}
	d := res.Devices[0]
	if (d.State != "rolled_back" && d.State != "failed") || !strings.Contains(d.Reason, "probe") || !strings.Contains(d.Reason, "/healthz") {
		t.Errorf("push 2.0.0: device %s %s (%q), want rolled_back or failed with a reason naming the probe /healthz", d.Device, d.State, d.Reason)
	} else {
		t.Logf("failing probe refused: %s %s: %s", d.Device, d.State, d.Reason)
	}

	// 1.0.0 still serves, with its data; the unhealthy module never answered.
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after the refused 2.0.0 /orders = %q, want %q", got, seeded)
	}
	if status, body := call(t, "GET", base+"/", ""); status != 200 || body != index {
		t.Errorf("after the refused 2.0.0 GET / = %d %q, want 200 %q", status, body, index)
	}
}
