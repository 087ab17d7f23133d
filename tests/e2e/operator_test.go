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

// TestOperatorsDay drives README's "operator's day" with the real
// programs: targets that name no registered device are refused, central
// labels target pushes (under the agent's own labels), a staged rollout
// goes through its waves, another is paused, resumed and aborted (the
// canary goes back with the rollback statement signed at the push), and a
// deployment an offline device has not finished is cancelled.
func TestOperatorsDay(t *testing.T) {
	f := startFleet(t)
	port := freePort(t)
	key := filepath.Join(f.keyDir, "edge.key")
	wasm := bin(t, "orders.wasm")
	hosts := map[string]string{"a": "127.0.0.2", "b": "127.0.0.3"}
	procs := map[string]*proc{}
	for _, id := range []string{"a", "b"} {
		// A loaded test machine can starve a worker's heartbeat past the
		// default 300 ms; this test is about the controller's decisions.
		args := append(f.device(t, id), "--listen", hosts[id], "--heartbeat-timeout", "2s")
		if id == "a" {
			args = append(args, "--label", "site=lyon")
		}
		procs[id], _ = start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	}
	ctl := func(args ...string) (string, string, int) {
		return edgectl(t, append(args, "--control", f.control)...)
	}
	push := func(version string, extra ...string) (string, string, int) {
		return ctl(append([]string{"push", wasm, "--key", key, "--name", "orders", "--version", version,
			"--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "2m"}, extra...)...)
	}

	// A typo in a node is refused before anything is sent to a device.
	if _, stderr, code := push("1.0.0", "--node", "ghost"); code != 1 || !strings.Contains(stderr, "ghost never registered") {
		t.Errorf("push to a device never registered = exit %d %q, want 1 naming it", code, stderr)
	}
	// Central labels; the agent's own site=lyon wins over a central site.
	if _, stderr, code := ctl("label", "a", "ring=canary", "site=paris"); code != 0 || !strings.Contains(stderr, "declares site=lyon itself") {
		t.Errorf("label a = exit %d %q, want a warning that the agent's site wins", code, stderr)
	}
	if _, _, code := ctl("label", "b", "ring=stable"); code != 0 {
		t.Fatal("label b failed")
	}
	waitAgentHasLabels(t, f, "a")
	if stdout, stderr, code := push("1.0.0", "--label", "ring=canary", "--json"); code != 0 || devicesOf(stdout) != "a" {
		t.Fatalf("push to ring=canary = exit %d, devices %q, want a only\n%s", code, devicesOf(stdout), stderr)
	}
	if _, stderr, code := push("1.0.0", "--label", "site=paris"); code != 1 || !strings.Contains(stderr, "no known device carries") {
		t.Errorf("push to the shadowed site=paris = exit %d %q, want refused: it targets nobody", code, stderr)
	}
	if stdout, stderr, code := push("1.0.0", "--node", "a", "--node", "b"); code != 0 {
		t.Fatalf("push 1.0.0 to a and b = %d\n%s%s", code, stdout, stderr)
	}

	// A staged rollout that goes through (without traffic: --low-traffic pass).
	stdout, stderr, code := push("1.1.0", "--node", "a", "--node", "b", "--waves", "1,100%", "--soak", "2s",
		"--low-traffic", "pass", "--json")
	var r wire.Rollout
	if json.Unmarshal([]byte(stdout), &r); code != 0 || r.State != wire.RolloutSucceeded {
		t.Fatalf("push --waves 1.1.0 = exit %d, %s %s\n%s", code, r.State, r.Reason, stderr)
	}
	for _, id := range []string{"a", "b"} {
		waitServing(t, f, id, "1.1.0")
	}

	// Another, aborted while its canary soaks: the canary goes back to
	// 1.1.0 with the statement signed at the push (one epoch up).
	stdout, stderr, code = push("1.2.0", "--node", "a", "--node", "b", "--waves", "1,100%", "--soak", "10m", "--wait", "0", "--json")
	if json.Unmarshal([]byte(stdout), &r); code != 0 || r.ID == "" {
		t.Fatalf("push --waves 1.2.0 --wait 0 = exit %d %q\n%s", code, stdout, stderr)
	}
	waitRolloutState(t, ctl, r.ID, wire.RolloutSoaking)
	for _, action := range []string{"pause", "resume"} {
		if stdout, stderr, code := ctl("rollout", action, r.ID); code != 0 {
			t.Fatalf("rollout %s = %d\n%s%s", action, code, stdout, stderr)
		}
	}
	if _, stderr, code := ctl("rollout", "resume", r.ID); code != 1 || !strings.Contains(stderr, "cannot resume") {
		t.Errorf("resume of a soaking rollout = exit %d %q, want 1 (409)", code, stderr)
	}
	canary := r.Waves[0].Devices[0]
	if _, _, code := ctl("rollout", "abort", r.ID); code != 0 {
		t.Fatal("rollout abort failed")
	}
	stdout, stderr, code = ctl("rollout", "status", r.ID, "--watch", "2m", "--json")
	if json.Unmarshal([]byte(stdout), &r); code != 1 || r.State != wire.RolloutAborted {
		t.Fatalf("rollout status --watch after abort = exit %d, %s %s\n%s", code, r.State, r.Reason, stderr)
	}
	waitServing(t, f, canary, "1.1.0")
	other := map[string]string{"a": "b", "b": "a"}[canary]
	if v, _ := f.serving(t, other, "orders"); v != "1.1.0" {
		t.Errorf("%s serves %s, want 1.1.0 (never updated)", other, v)
	}

	// A push b cannot finish (it is stopped) is cancelled: its desired
	// entry goes back.
	procs["b"].Stop(t)
	stdout, stderr, code = push("1.3.0", "--node", "b", "--wait", "0", "--json")
	var d wire.Deployment
	if json.Unmarshal([]byte(stdout), &d); code != 0 || d.ID == "" {
		t.Fatalf("push 1.3.0 --wait 0 = exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = ctl("deployment", "cancel", d.ID)
	if code != 0 || !strings.Contains(stdout, "b: cancelled; desired state restored: orders 1.1.0") {
		t.Errorf("deployment cancel = exit %d\n%s%s", code, stdout, stderr)
	}
}

// devicesOf lists the devices of edgectl push --json's deployment.
func devicesOf(stdout string) string {
	var d wire.Deployment
	json.Unmarshal([]byte(stdout), &d)
	var ids []string
	for _, dd := range d.Devices {
		ids = append(ids, dd.Device)
	}
	return strings.Join(ids, ",")
}

// waitAgentHasLabels waits until the controller has device id's status
// (its own labels, which targeting merges).
func waitAgentHasLabels(t *testing.T, f *fleet, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var l wire.Labels
		f.api(t, "GET", "/devices/"+id+"/labels", nil, &l)
		if len(l.Agent) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status with labels from %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitRolloutState(t *testing.T, ctl func(...string) (string, string, int), id, state string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		stdout, _, _ := ctl("rollout", "status", id, "--json")
		var r wire.Rollout
		json.Unmarshal([]byte(stdout), &r)
		if r.State == state {
			return
		}
		if time.Now().After(deadline) || wire.RolloutDone(r.State) {
			t.Fatalf("rollout %s is %s (%s), want %s", id, r.State, r.Reason, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
