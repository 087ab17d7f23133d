package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 7, case 10: every deployment reaches, per device, a terminal state
// within a stated time, and edgectl says which and why.

// pushResult is edgectl push --json's answer, with its exit code and
// stderr.
type pushResult struct {
	ID      string `json:"id"`
	Done    bool   `json:"done"`
	Devices []struct {
		Device, State, Reason string
	} `json:"devices"`
	code   int
	stderr string
	took   time.Duration
}

// pushJSON pushes file as orders@version to node and decodes the result.
func (f *fleet) pushJSON(t *testing.T, file, version, node string, port int, wait string) pushResult {
	t.Helper()
	start := time.Now()
	out, errOut, code := edgectl(t, "push", file, "--control", f.control,
		"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "orders", "--version", version,
		"--node", node, "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", wait, "--json")
	var r pushResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("push %s: stdout is not a deployment (%v), exit %d:\n%s%s", version, err, code, out, errOut)
	}
	r.code, r.stderr, r.took = code, errOut, time.Since(start)
	return r
}

func (r pushResult) state(t *testing.T) (string, string) {
	t.Helper()
	if len(r.Devices) != 1 {
		t.Fatalf("deployment %s has %d devices, want 1: %+v", r.ID, len(r.Devices), r)
	}
	return r.Devices[0].State, r.Devices[0].Reason
}

// TestSameVersionPushIsRunning: pushing the version a device already runs
// (same bytes) ends running at once, "already running", instead of
// staying pending until --wait; so does the same push after a controller
// restart.
func TestSameVersionPushIsRunning(t *testing.T) {
	httpPort, mqttPort := freePort(t), freePort(t)
	f := startFleet(t, "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--mqtt", fmt.Sprintf("127.0.0.1:%d", mqttPort))
	start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "s")...)
	wasm, port := bin(t, "orders.wasm"), freePort(t)
	if r := f.pushJSON(t, wasm, "1.0.0", "s", port, "2m"); r.code != 0 {
		t.Fatalf("first push = exit %d: %+v\n%s", r.code, r, r.stderr)
	}
	check := func(what string) {
		t.Helper()
		r := f.pushJSON(t, wasm, "1.0.0", "s", port, "60s")
		state, reason := r.state(t)
		t.Logf("%s: exit %d after %s: %s %q", what, r.code, r.took.Round(time.Millisecond), state, reason)
		if r.code != 0 || state != "running" || reason != "already running" || !r.Done {
			t.Errorf("%s: exit %d, %s %q, done %v; want 0, running \"already running\", done", what, r.code, state, reason, r.Done)
		}
	}
	check("same version pushed again")
	f.ctl.Stop(t)
	f.startControl(t) // same data folder and ports: the agent reconnects
	check("same version pushed after a controller restart")
}

// TestOfflineDeviceTimesOut: a push to a device that never connects ends
// timed_out at the controller's --deploy-timeout, with exit 3 and a reason
// that says the device never connected.
func TestOfflineDeviceTimesOut(t *testing.T) {
	f := startFleet(t, "--deploy-timeout", "3s")
	f.device(t, "gone") // registered, no agent
	r := f.pushJSON(t, bin(t, "orders.wasm"), "1.0.0", "gone", freePort(t), "2m")
	state, reason := r.state(t)
	t.Logf("exit %d after %s: %s %q", r.code, r.took.Round(time.Millisecond), state, reason)
	if r.code != 3 || state != "timed_out" || !strings.Contains(reason, "never connected") || !r.Done {
		t.Errorf("push to a device that never connects: exit %d, %s %q, done %v; want 3, timed_out (never connected), done\n%s",
			r.code, state, reason, r.Done, r.stderr)
	}
	if !strings.Contains(r.stderr, "timed out on 1 of 1 device at its deadline") {
		t.Errorf("stderr does not say the deployment timed out at its deadline:\n%s", r.stderr)
	}
}

// TestNewerPushSupersedes: while a push waits for a device that is
// offline, a newer push of the module replaces it: the first ends
// superseded (exit 1, naming the newer deployment) at once.
func TestNewerPushSupersedes(t *testing.T) {
	f := startFleet(t)
	f.device(t, "late")
	wasm, port := bin(t, "orders.wasm"), freePort(t)
	first := make(chan pushResult, 1)
	go func() { first <- f.pushJSON(t, wasm, "1.0.0", "late", port, "2m") }()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(listDeployments(t, f), "1.0.0") {
		if time.Now().After(deadline) {
			t.Fatal("first push never created its deployment")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := f.pushJSON(t, wasm, "1.1.0", "late", port, "0")
	var r pushResult
	select {
	case r = <-first:
	case <-time.After(time.Minute):
		t.Fatal("the superseded push still waits a minute later")
	}
	state, reason := r.state(t)
	t.Logf("first push: exit %d: %s %q", r.code, state, reason)
	if r.code != 1 || state != "superseded" || !strings.Contains(reason, second.ID) {
		t.Errorf("superseded push: exit %d, %s %q; want 1 and superseded naming %s\n%s", r.code, state, reason, second.ID, r.stderr)
	}
}

func listDeployments(t *testing.T, f *fleet) string {
	out, _, _ := edgectl(t, "deployments", "--control", f.control, "--json")
	return out
}

// TestDamagedBlobFails: the controller's stored copy of a module is
// damaged after its upload; a device that fetches it fails the deployment
// at once with a reason naming the damage, instead of fetching until
// --wait. Pushing the module again uploads it again, and the upload
// replaces the damaged copy: the same push then runs (before, the upload
// answered "already stored" and every later push failed the same way: a
// new user's trial).
func TestDamagedBlobFails(t *testing.T) {
	f := startFleet(t)
	agentArgs := f.device(t, "y") // offline: the push only uploads the module
	wasm := bin(t, "orders.wasm")
	port := freePort(t)
	r := f.pushJSON(t, wasm, "1.0.0", "y", port, "0")
	if r.code != 0 || r.ID == "" {
		t.Fatalf("push to y = exit %d, deployment %q\n%s", r.code, r.ID, r.stderr)
	}
	blobs, err := filepath.Glob(filepath.Join(f.dataDir, "blobs", "*.gz"))
	if err != nil || len(blobs) != 1 {
		t.Fatalf("controller blobs %v (%v), want one", blobs, err)
	}
	b, err := os.ReadFile(blobs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	if err := os.WriteFile(blobs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, agentRunning, nil, bin(t, "edge-agent"), agentArgs...)
	var d pushResult
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		f.api(t, "GET", "/deployments/"+r.ID, nil, &d)
		if len(d.Devices) == 1 && d.Devices[0].State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment of a damaged blob not failed within 90s: %+v", d)
		}
	}
	if reason := d.Devices[0].Reason; !strings.Contains(reason, "damaged") || !strings.Contains(reason, "does not match its hash") {
		t.Errorf("deployment of a damaged blob failed with %q, want the damage named", reason)
	}

	again := f.pushJSON(t, wasm, "1.0.0", "y", port, "2m")
	state, reason := again.state(t)
	t.Logf("push again: exit %d after %s: %s %q", again.code, again.took.Round(time.Millisecond), state, reason)
	if again.code != 0 || state != "running" {
		t.Errorf("push again after the damage: exit %d, %s %q; want the upload to repair the copy and the push to run\n%s", again.code, state, reason, again.stderr)
	}
}
