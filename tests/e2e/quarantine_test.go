package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuarantineKeysOnWhatFailed is issue 9's quarantine case with a real
// agent. A configuration fault of the device (a database binding it does
// not define; a port another program holds) fails the push with its
// reason and quarantines nothing, so the same binary with a corrected
// configuration, or once the port is free, runs (it used to be refused for
// good: the digest was quarantined). A module that fails its probe is
// quarantined for that manifest: pushed again it is refused, listed by
// edgectl quarantine list, and tried again after edgectl quarantine clear.
func TestQuarantineKeysOnWhatFailed(t *testing.T) {
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), append(f.device(t, "q"), "--heartbeat-timeout", "2s")...)
	port := freePort(t)
	wasm := bin(t, "orders.wasm")

	out, reason, code := f.pushDB(t, wasm, "1.0.0", "q", "nosuch", port)
	if code != 1 || !strings.Contains(reason, "failed") || !strings.Contains(reason, `binding "nosuch" is not defined`) ||
		!strings.Contains(reason, "not quarantined") {
		t.Fatalf("push with an undefined binding = exit %d (%s), want 1 and failed naming the binding:\n%s", code, reason, out)
	}
	if out, reason, code := f.pushDB(t, wasm, "1.0.0", "q", "sqlite", port); code != 0 {
		t.Fatalf("the same binary and version with --db sqlite = exit %d (%s), want 0:\n%s", code, reason, out)
	}

	// Another program holds the port of a second module.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	heldPort := held.Addr().(*net.TCPAddr).Port
	pushOther := func() (string, string, int) {
		stdout, stderr, code := edgectl(t, "push", wasm, "--control", f.control, "--key", filepath.Join(f.keyDir, "edge.key"),
			"--name", "other", "--version", "1.0.0", "--node", "q", "--db", "sqlite", "--port", fmt.Sprint(heldPort), "--wait", "2m", "--json")
		return stdout + stderr, reasons(stdout), code
	}
	if out, reason, code := pushOther(); code != 1 || !strings.Contains(reason, "address already in use") {
		t.Fatalf("push on a held port = exit %d (%s), want 1 naming the port in use:\n%s", code, reason, out)
	}
	held.Close()
	if out, reason, code := pushOther(); code != 0 {
		t.Fatalf("the same push once the port is free = exit %d (%s), want 0:\n%s", code, reason, out)
	}

	// A module fault: its probe fails. Quarantined for that manifest.
	unhealthy := buildGuest(t, "unhealthy")
	pushBad := func() (string, string, int) {
		stdout, stderr, code := edgectl(t, "push", unhealthy, "--control", f.control, "--key", filepath.Join(f.keyDir, "edge.key"),
			"--name", "orders", "--version", "2.0.0", "--probe", "/healthz", "--node", "q", "--db", "sqlite",
			"--port", fmt.Sprint(port), "--wait", "2m", "--json")
		return stdout + stderr, reasons(stdout), code
	}
	if out, reason, code := pushBad(); code != 1 || !strings.Contains(reason, "probe") {
		t.Fatalf("push of a failing probe = exit %d (%s), want 1:\n%s", code, reason, out)
	}
	if out, reason, code := pushBad(); code != 1 || !strings.Contains(reason, "rejected") || !strings.Contains(reason, "quarantine clear q orders") {
		t.Fatalf("the same manifest again = exit %d (%s), want rejected as quarantined with the way out:\n%s", code, reason, out)
	}
	stdout, stderr, code := edgectl(t, "quarantine", "list", "q", "--control", f.control, "--json")
	var rows []struct{ Device, Module, Version, Reason string }
	if code != 0 || json.Unmarshal([]byte(stdout), &rows) != nil || len(rows) != 1 || rows[0].Version != "2.0.0" {
		t.Fatalf("quarantine list = exit %d %q %s, want orders 2.0.0", code, stdout, stderr)
	}
	if _, stderr, code := edgectl(t, "quarantine", "clear", "q", "ordres", "--control", f.control); code != 1 || !strings.Contains(stderr, "no quarantined manifest of ordres") {
		t.Errorf("clear of a misspelt module = exit %d %q, want 1", code, stderr)
	}
	if stdout, stderr, code := edgectl(t, "quarantine", "clear", "q", "orders", "--control", f.control); code != 0 || !strings.Contains(stdout, "orders 2.0.0") {
		t.Fatalf("quarantine clear = exit %d\n%s%s", code, stdout, stderr)
	}
	// Cleared: the desired 2.0.0 is tried again (and fails its probe again).
	if out, reason, code := pushBad(); code != 1 || !strings.Contains(reason, "probe") || strings.Contains(reason, "quarantined") {
		t.Errorf("after the clear = exit %d (%s), want a new attempt that fails its probe:\n%s", code, reason, out)
	}
	if status, body := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/", port), ""); status != 200 || strings.Contains(body, "unhealthy") {
		t.Errorf("GET / = %d %q, want the order service 1.0.0 throughout", status, body)
	}
}

// reasons summarises edgectl push --json's devices: "dev state: reason".
func reasons(stdout string) string {
	var res struct {
		Devices []struct{ Device, State, Reason string }
	}
	json.Unmarshal([]byte(stdout), &res)
	var out []string
	for _, d := range res.Devices {
		out = append(out, d.Device+" "+d.State+": "+d.Reason)
	}
	return strings.Join(out, "; ")
}
