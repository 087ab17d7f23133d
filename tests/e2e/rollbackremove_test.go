package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestRollbackRemovesNewModule (FINDINGS-1 F4): a staged rollout of a
// module new on the device fails there (its port is taken by the module
// already serving), and the rollback removes it. The failed module must
// then leave both the agent's status and the controller's inventory; it
// used to stay listed failed on both until the agent restarted.
func TestRollbackRemovesNewModule(t *testing.T) {
	f := startFleet(t)
	data, port := f.servingOrders(t, "f4")
	wasm := bin(t, "orders.wasm")
	stdout, stderr, code := edgectl(t, "push", wasm, "--control", f.control, "--key", filepath.Join(f.keyDir, "edge.key"),
		"--name", "orders-new", "--version", "1.0.0", "--node", "f4", "--db", "sqlite", "--port", fmt.Sprint(port),
		"--waves", "1,100%", "--soak", "5s", "--wait", "3m")
	if code == 0 || !strings.Contains(stdout+stderr, "removed") {
		t.Fatalf("rollout of orders-new on a taken port = exit %d, want a failure going back by removing it:\n%s%s", code, stdout, stderr)
	}
	t.Logf("push --waves: exit %d\n%s", code, stderr)
	listed := func() (agent, controller bool) {
		for _, m := range status(t, data).Modules {
			agent = agent || m.Name == "orders-new"
		}
		var d wire.Device
		if c, msg := f.api(t, "GET", "/devices/f4", nil, &d); c != 200 {
			t.Fatalf("GET device f4: %d %s", c, msg)
		}
		if d.Status != nil {
			controller = slices.ContainsFunc(d.Status.Modules, func(m wire.ModuleStatus) bool { return m.Name == "orders-new" })
		}
		return agent, controller
	}
	eventually(t, "orders-new gone from the agent's status and the controller's inventory", func() bool {
		a, c := listed()
		return !a && !c
	})
	if v, _ := f.serving(t, "f4", "orders"); v != "1.0.0" {
		t.Errorf("orders serves %q, want 1.0.0 untouched", v)
	}
}

// servingOrders registers and starts agent id and pushes orders 1.0.0 to
// it on a free port: its data folder and that port.
func (f *fleet) servingOrders(t *testing.T, id string) (data string, port int) {
	t.Helper()
	args := f.device(t, id)
	data = args[slices.Index(args, "--data")+1]
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	port = freePort(t)
	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", id, port); code != 0 {
		t.Fatalf("push orders 1.0.0 to %s = %d\n%s", id, code, out)
	}
	return data, port
}
