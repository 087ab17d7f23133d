package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUndeploy removes a module from a real agent with edgectl undeploy: a
// misspelt name is refused (exit 1, naming the device) and changes
// nothing; the real name's undeploy waits until the device reports the
// module gone (exit 0, "stopped"), after which its port no longer answers,
// the agent holds none of its bytes, and its SQLite data stays in the
// module's data folder, so a later push of the module finds its orders.
func TestUndeploy(t *testing.T) {
	f := startFleet(t)
	dataDir, port := f.servingOrders(t, "ud")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	wasm := bin(t, "orders.wasm")
	runWorkflow(t, base, seedWorkflow(t))
	seeded := getOrders(t, base)

	stdout, stderr, code := edgectl(t, "undeploy", "ordres", "--node", "ud", "--control", f.control)
	if code != 1 || !strings.Contains(stderr, "ordres is not in the desired state of ud") {
		t.Errorf("undeploy of a misspelt module = exit %d, want 1 naming the device:\n%s%s", code, stdout, stderr)
	}
	if got := getOrders(t, base); got != seeded {
		t.Fatalf("after a refused undeploy /orders = %q, want %q", got, seeded)
	}

	stdout, stderr, code = edgectl(t, "undeploy", "orders", "--node", "ud", "--control", f.control, "--wait", "2m")
	if code != 0 {
		t.Fatalf("edgectl undeploy orders = %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("undeploy:\n%s%s", stdout, stderr)
	if !strings.Contains(stdout, "ud") || !strings.Contains(stdout, "stopped") || !strings.Contains(stdout, "1.0.0") {
		t.Errorf("undeploy output does not say ud's orders 1.0.0 stopped:\n%s", stdout)
	}
	if v, _ := f.serving(t, "ud", "orders"); v != "" {
		t.Errorf("after undeploy the device reports orders %q", v)
	}
	if status, body, err := tryGet(base+"/orders", 5*time.Second); err == nil {
		t.Errorf("after undeploy GET /orders still answers: %d %q", status, body)
	}
	if blobs, _ := filepath.Glob(filepath.Join(dataDir, "blobs", "*.wasm")); len(blobs) != 0 {
		t.Errorf("after undeploy the agent still stores %v", blobs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "modules", "orders", "data.db")); err != nil {
		t.Errorf("the module's data was not kept: %v", err)
	}

	stdout, stderr, code = edgectl(t, "undeploy", "orders", "--node", "ud", "--control", f.control)
	if code != 1 || !strings.Contains(stderr, "not in the desired state of ud") {
		t.Errorf("a second undeploy = exit %d, want 1 (not deployed):\n%s%s", code, stdout, stderr)
	}

	if out, _, code := f.push(t, wasm, "1.1.0", "ud", port); code != 0 {
		t.Fatalf("push 1.1.0 after undeploy = %d\n%s", code, out)
	}
	if got := getOrders(t, base); got != seeded {
		t.Errorf("pushed again, /orders = %q, want the data kept: %q", got, seeded)
	}
}
