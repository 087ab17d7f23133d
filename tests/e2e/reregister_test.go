package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// TestReregisteredDevice: a review found that a device removed and
// registered again under the same id lost its modules, without a word, on
// the next push of another module. The new registration starts with an
// empty desired state while the agent keeps running what it ran; the push
// sent it a desired state holding the new module only, and the agent
// stopped the rest. Now every operation that would send such a device a
// desired state is refused (409) naming the device and its modules, and
// edgectl push --stop-unknown is the explicit fresh start.
func TestReregisteredDevice(t *testing.T) {
	f := startFleet(t)
	args := f.device(t, "re-1")
	data := args[slices.Index(args, "--data")+1]
	agent, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	p1, p2 := freePort(t), freePort(t)
	if out, reasons, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "re-1", p1); code != 0 {
		t.Fatalf("push orders = %d: %s\n%s", code, reasons, out)
	}
	orders := fmt.Sprintf("http://127.0.0.1:%d", p1)
	serves(t, orders)

	if out, errOut, code := edgectl(t, "device", "remove", "re-1", "--control", f.control); code != 0 {
		t.Fatalf("device remove = %d\n%s%s", code, out, errOut)
	}
	agent.Stop(t)
	// Registered again: a new password, the same board and data folder.
	args = f.device(t, "re-1")
	args[slices.Index(args, "--data")+1] = data
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	eventually(t, "the agent serves the orders it stored", func() bool {
		status, _, err := harness.TryCall("GET", orders+"/", "", time.Second)
		return err == nil && status == 200
	})
	eventually(t, "re-1 reports orders serving", func() bool {
		out, _, code := edgectl(t, "devices", "--control", f.control, "--json")
		var devs []wire.Device
		if code != 0 || json.Unmarshal([]byte(out), &devs) != nil {
			return false
		}
		for _, d := range devs {
			if d.ID == "re-1" && d.Status != nil && d.Online {
				for _, m := range d.Status.Modules {
					if m.Name == "orders" && m.Version == "1.0.0" {
						return true
					}
				}
			}
		}
		return false
	})

	pushOther := func(extra ...string) (string, int) {
		out, errOut, code := edgectl(t, append([]string{"push", bin(t, "orders.wasm"), "--control", f.control,
			"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "other", "--version", "1.0.0",
			"--node", "re-1", "--db", "sqlite", "--port", fmt.Sprint(p2), "--wait", "2m"}, extra...)...)
		return out + errOut, code
	}
	out, code := pushOther()
	if code == 0 || !strings.Contains(out, "re-1 runs orders 1.0.0") || !strings.Contains(out, "--stop-unknown") {
		t.Fatalf("push of another module to the registered-again device = %d, want refused naming orders 1.0.0 and --stop-unknown\n%s", code, out)
	}
	// The same for the operations that send a desired state without a push.
	if out, errOut, code := edgectl(t, "label", "re-1", "site=lab", "--control", f.control); code == 0 || !strings.Contains(errOut, "re-1 runs orders 1.0.0") {
		t.Errorf("label set on the registered-again device = %d, want refused naming orders\n%s%s", code, out, errOut)
	}
	time.Sleep(2 * time.Second) // what a desired state sent anyway would have stopped by now
	serves(t, orders)

	// The explicit fresh start: the push goes out and orders stops.
	if out, code := pushOther("--stop-unknown"); code != 0 {
		t.Fatalf("push --stop-unknown = %d\n%s", code, out)
	}
	serves(t, fmt.Sprintf("http://127.0.0.1:%d", p2))
	eventually(t, "orders stopped", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p1), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

// serves checks that the module at base answers its health probe.
func serves(t *testing.T, base string) {
	t.Helper()
	if status, body := call(t, "GET", base+"/", ""); status != 200 {
		t.Fatalf("GET %s/ = %d %q", base, status, body)
	}
}
