package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// cmdResult is what a command run in the background gave.
type cmdResult struct {
	out, errOut string
	code        int
}

// inBackground runs fn (an edgectl command) in a goroutine; its result
// comes on the channel.
func inBackground(fn func() (string, string, int)) <-chan cmdResult {
	done := make(chan cmdResult, 1)
	go func() {
		out, errOut, code := fn()
		done <- cmdResult{out, errOut, code}
	}()
	return done
}

// TestRemoveDeviceDuringRollout is FINDINGS-1 F13 with real binaries: a
// device of the second wave is removed while the first soaks. device
// remove names the rollout; the second wave records the device removed
// and the rollout succeeds on the other (it used to deploy to the
// removed device and wait the deploy timeout, 10 min, refusing every
// other push of the module meanwhile).
func TestRemoveDeviceDuringRollout(t *testing.T) {
	f := startFleet(t)
	port := freePort(t)
	ids := []string{"rr1", "rr2"}
	var nodes []string
	for i, id := range ids {
		args := append(f.device(t, id), "--listen", fmt.Sprintf("127.0.0.%d", i+2))
		start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
		nodes = append(nodes, "--node", id)
	}
	key := filepath.Join(f.keyDir, "edge.key")
	push := func(version string, extra ...string) (string, string, int) {
		args := append([]string{"push", bin(t, "orders.wasm"), "--control", f.control, "--key", key, "--name", "orders",
			"--version", version, "--db", "sqlite", "--port", fmt.Sprint(port)}, nodes...)
		return edgectl(t, append(args, extra...)...)
	}
	if stdout, stderr, code := push("1.0.0", "--wait", "2m"); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s%s", code, stdout, stderr)
	}

	done := inBackground(func() (string, string, int) {
		return push("1.1.0", "--waves", "1,100%", "--soak", "10s", "--low-traffic", "pass", "--wait", "4m", "--json")
	})
	var r wire.Rollout
	eventually(t, "the rollout's first wave soaking", func() bool {
		var rs []wire.Rollout
		if code, _ := f.api(t, "GET", "/rollouts", nil, &rs); code != 200 || len(rs) == 0 {
			return false
		}
		r = rs[0]
		return r.State == wire.RolloutSoaking
	})
	gone := r.Waves[1].Devices[0]
	stdout, stderr, code := edgectl(t, "device", "remove", gone, "--control", f.control)
	if code != 0 || !strings.Contains(stdout, "rollout goes on without it: "+r.ID) {
		t.Errorf("device remove %s = exit %d, want it to name rollout %s:\n%s%s", gone, code, r.ID, stdout, stderr)
	}
	var res cmdResult
	select {
	case res = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("push --waves still running 3 min after the removal")
	}
	if err := json.Unmarshal([]byte(res.out), &r); err != nil {
		t.Fatalf("push --waves: stdout is not a rollout (%v): exit %d\n%s%s", err, res.code, res.out, res.errOut)
	}
	if res.code != 0 || r.State != wire.RolloutSucceeded {
		t.Fatalf("rollout = exit %d, %s: %s; want succeeded without %s\n%s", res.code, r.State, r.Reason, gone, res.errOut)
	}
	var d wire.Deployment
	if code, msg := f.api(t, "GET", "/deployments/"+r.Waves[1].Deployment, nil, &d); code != 200 {
		t.Fatalf("GET wave 2: %d %s", code, msg)
	}
	for _, dd := range d.Devices {
		if dd.Device == gone && dd.State != wire.StateRemoved {
			t.Errorf("%s in wave 2: %s, want removed", gone, dd.State)
		}
	}
}
