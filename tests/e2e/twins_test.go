package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestTwinAgents: a review found that two agents started with the same
// device id knocked each other off the broker for ever (each connection
// of one takes the MQTT session of the other over), silently. Now the
// agents back off and say so, and the controller flags the device: from
// the embedded broker's takeovers and from the agents' id_conflict event.
func TestTwinAgents(t *testing.T) {
	f := startFleet(t)
	args := f.device(t, "twin-1")
	first, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	// The second board: the same id and password, its own data folder.
	args2 := slices.Clone(args)
	args2[slices.Index(args2, "--data")+1] = t.TempDir()
	second, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args2...)

	var conflict *wire.IDConflict
	deadline := time.Now().Add(90 * time.Second)
	for conflict == nil || conflict.Source != "agent" {
		if time.Now().After(deadline) {
			t.Fatalf("twin-1 not flagged by the agents within 90s (last: %+v)\nfirst agent:\n%s\nsecond agent:\n%s", conflict, first.Out, second.Out)
		}
		time.Sleep(500 * time.Millisecond)
		out, _, code := edgectl(t, "devices", "--control", f.control, "--json")
		var devs []wire.Device
		if code != 0 || json.Unmarshal([]byte(out), &devs) != nil {
			continue
		}
		for _, d := range devs {
			if d.ID == "twin-1" && d.IDConflict != nil {
				conflict = d.IDConflict
			}
		}
	}
	if !strings.Contains(conflict.Reason, "twin-1") || conflict.Count < 1 {
		t.Errorf("conflict %+v: want the device named and a count", conflict)
	}
	logs := first.Out.String() + second.Out.String()
	if !strings.Contains(logs, "another agent seems to use device id twin-1") {
		t.Errorf("neither agent logged the conflict:\n%s", logs)
	}
	out, errOut, code := edgectl(t, "devices", "--control", f.control)
	if code != 0 || !strings.Contains(out, "twin-1") || !strings.Contains(out, "ID CONFLICT") {
		t.Errorf("edgectl devices = %d, want twin-1's id conflict shown\n%s%s", code, out, errOut)
	}
}
