package e2e

import (
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var capGuestOnce struct {
	sync.Once
	path string
	err  error
}

// capGuest builds tests/guests/capguest (key-value store and calls).
func capGuest(t *testing.T) string {
	t.Helper()
	capGuestOnce.Do(func() {
		out := filepath.Join(sharedState(t), "guests", "capguest.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./tests/guests/capguest")
		cmd.Dir = repoRoot()
		cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			capGuestOnce.err = fmt.Errorf("build capguest: %v\n%s", err, b)
		}
		capGuestOnce.path = out
	})
	if capGuestOnce.err != nil {
		t.Fatal(capGuestOnce.err)
	}
	return capGuestOnce.path
}

// TestKVAndCallsPushed: the key-value store and calls granted by a signed
// manifest (edgectl push --kv --kv-keys, --call), end to end through the
// controller to a real agent: quota, state across an upgrade, the
// caller's identity, a callee the manifest does not list.
func TestKVAndCallsPushed(t *testing.T) {
	wasm := capGuest(t)
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "k")...)
	ps, pf := freePort(t), freePort(t)
	store, front := fmt.Sprintf("http://127.0.0.1:%d", ps), fmt.Sprintf("http://127.0.0.1:%d", pf)
	push := func(name, version string, port int, extra ...string) {
		t.Helper()
		args := append([]string{"push", wasm, "--control", f.control, "--key", filepath.Join(f.keyDir, "edge.key"),
			"--name", name, "--version", version, "--node", "k", "--port", fmt.Sprint(port), "--probe", "/ping", "--wait", "2m"}, extra...)
		if out, errOut, code := edgectl(t, args...); code != 0 {
			t.Fatalf("push %s %s = %d\n%s%s", name, version, code, out, errOut)
		}
	}
	push("store", "1.0.0", ps, "--kv", "--kv-keys", "2")
	push("front", "1.0.0", pf, "--call", "store")

	for _, k := range []string{"a", "b"} {
		if status, body := call(t, "PUT", store+"/kv?key="+k, "v"+k); status != 200 {
			t.Fatalf("PUT %s = %d %q", k, status, body)
		}
	}
	if status, body := call(t, "PUT", store+"/kv?key=c", "vc"); status != 413 || !strings.Contains(body, "quota is 2") {
		t.Fatalf("third key = %d %q, want 413 naming the manifest's quota", status, body)
	}
	if status, body := call(t, "PUT", front+"/kv?key=a", "x"); status != 403 {
		t.Fatalf("front without a kv grant: PUT = %d %q, want 403", status, body)
	}
	push("store", "1.1.0", ps, "--kv", "--kv-keys", "2")
	if status, body := call(t, "GET", store+"/kv?key=a", ""); status != 200 || body != "va" {
		t.Fatalf("after the upgrade GET a = %d %q, want va", status, body)
	}

	q := url.QueryEscape
	if status, body := call(t, "GET", front+"/call?module=store&path="+q("/whoami"), ""); status != 200 || body != "front" {
		t.Fatalf("front → store /whoami = %d %q, want front", status, body)
	}
	if status, body := call(t, "GET", front+"/call?module=store&path="+q("/kv?key=b"), ""); status != 200 || body != "vb" {
		t.Fatalf("front → store /kv?key=b = %d %q, want vb", status, body)
	}
	if status, body := call(t, "GET", store+"/call?module=front&path="+q("/ping"), ""); status != 403 {
		t.Fatalf("store → front (not in its manifest) = %d %q, want 403", status, body)
	}
}
