package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// TestRolloutGateSeesOutage is FINDINGS F7 with a real agent: the only
// device of a wave is killed (SIGKILL) as its soak begins and started
// again a few seconds later. The gate judged only 5xx share and p99, so
// the outage was invisible and the wave passed at the end of the first
// soak. Now the soak starts again from the device's return (its Last
// Will, its status online again, its agent's new start), the gate's line
// says so, and the wave passes no earlier than a full soak after it.
func TestRolloutGateSeesOutage(t *testing.T) {
	const soak = 15 * time.Second
	f := startFleet(t)
	agentArgs := append(f.device(t, "ot"), "--heartbeat-timeout", "2s", "--metrics-interval", "1s")
	ag, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), agentArgs...)
	port := freePort(t)
	wasm := bin(t, "orders.wasm")
	if out, _, code := f.push(t, wasm, "1.0.0", "ot", port); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s", code, out)
	}

	args := []string{"push", wasm, "--control", f.control, "--key", f.keyDir + "/edge.key", "--name", "orders",
		"--version", "1.1.0", "--db", "sqlite", "--port", fmt.Sprint(port), "--node", "ot",
		"--waves", "1", "--soak", soak.String(), "--low-traffic", "pass", "--wait", "4m", "--json"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "edgectl"), args...)
	cmd.Env = harness.EdgectlEnvFor(args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	soaking := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !said && strings.Contains(sc.Text(), "(ot): soaking") {
				said = true
				close(soaking)
			}
		}
	}()
	select {
	case <-soaking:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the wave never soaked:\n%s", stderr.String())
	}
	ag.Cmd.Process.Kill()
	<-ag.Done
	time.Sleep(5 * time.Second) // down for a third of the soak
	start(t, agentRunning, nil, bin(t, "edge-agent"), agentArgs...)
	back := time.Now()

	err = cmd.Wait()
	t.Logf("push --waves: %v\n%s", err, stderr.String())
	var r wire.Rollout
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("push --waves: stdout is not a rollout (%v): %q", err, stdout.String())
	}
	if r.State != wire.RolloutSucceeded || len(r.Waves) != 1 || r.Waves[0].Figures == nil {
		t.Fatalf("rollout %s: %s, waves %+v; want succeeded (the device came back, healthy)", r.State, r.Reason, r.Waves)
	}
	w := r.Waves[0]
	if !strings.Contains(w.Figures.Reason, "soak restarted at") || !strings.Contains(stderr.String(), "soak restarted at") {
		t.Errorf("wave's gate line %q does not say the soak restarted", w.Figures.Reason)
	}
	// The agent is up a moment before the controller sees it back: a
	// margin of 3 s for that.
	if passed := w.Ended.Sub(back); passed < soak-3*time.Second {
		t.Errorf("the wave passed %s after the device came back, want a full soak (%s) after it", passed.Round(time.Millisecond), soak)
	}
}
