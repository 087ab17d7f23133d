package fleet

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestIDConflict: the device is flagged from the embedded broker's
// takeovers (3 within a minute) and from an agent's id_conflict event,
// shown in the inventory until the agent reports it over or conflictHold
// passes, and forgotten with the device.
func TestIDConflict(t *testing.T) {
	f, st, c := newTestFleet(t, t.TempDir())
	f.SetPublisher(&recordingPublisher{})
	ctx := context.Background()
	for _, id := range []string{"pi-1", "pi-2"} {
		if err := st.AddCredential(ctx, id, []byte("h"), t0); err != nil {
			t.Fatal(err)
		}
		f.DeviceRegistered(id)
	}
	flagged := func(id string) *wire.IDConflict {
		t.Helper()
		d, err := f.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.IDConflict
	}

	// Takeovers spread over more than a minute are not a conflict.
	for range 3 {
		f.NoteTakeover("pi-1")
		c.add(40 * time.Second)
	}
	if k := flagged("pi-1"); k != nil {
		t.Fatalf("3 takeovers over 80s flagged: %+v", k)
	}
	f.NoteTakeover("pi-1")
	f.NoteTakeover("pi-1")
	k := flagged("pi-1")
	if k == nil || k.Source != "broker" || k.Count != 1 || !strings.Contains(k.Reason, "pi-1") {
		t.Fatalf("3 takeovers within a minute: %+v, want flagged by the broker", k)
	}

	// An agent's event, with no module.
	ev, _ := json.Marshal(wire.Event{Device: "pi-2", State: wire.StateIDConflict, Reason: "another agent seems to use device id pi-2", Time: t0})
	f.HandleMessage(wire.DeviceTopic("pi-2", wire.KindEvents), ev)
	f.storeReports(ctx) // reports are decoded and stored off the MQTT delivery goroutine
	if k := flagged("pi-2"); k == nil || k.Source != "agent" || k.Reason != "another agent seems to use device id pi-2" {
		t.Fatalf("after the agent's event: %+v, want flagged by the agent", k)
	}
	detail, err := f.DeviceDetail(ctx, "pi-2")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(detail); !strings.Contains(string(b), wire.StateIDConflict) {
		t.Errorf("device detail lacks the id_conflict event: %s", b)
	}

	// The agent says the conflict is over: the flag clears at once (it
	// stayed conflictHold, FINDINGS-1 F10).
	over, _ := json.Marshal(wire.Event{Device: "pi-2", State: wire.StateIDConflictOver, Reason: "device id conflict over", Time: t0})
	f.HandleMessage(wire.DeviceTopic("pi-2", wire.KindEvents), over)
	f.storeReports(ctx)
	if k := flagged("pi-2"); k != nil {
		t.Errorf("flagged after the agent's id_conflict_over: %+v", k)
	}
	// Said again: flagged again, until conflictHold passes without a word.
	f.HandleMessage(wire.DeviceTopic("pi-2", wire.KindEvents), ev)
	f.storeReports(ctx)
	if k := flagged("pi-2"); k == nil {
		t.Error("not flagged again by a new id_conflict event")
	}
	c.add(conflictHold + time.Second)
	if k := flagged("pi-2"); k != nil {
		t.Errorf("still flagged %s after the last report: %+v", conflictHold, k)
	}
	f.NoteTakeover("pi-1")
	f.NoteTakeover("pi-1")
	f.NoteTakeover("pi-1")
	if _, err := f.RemoveDevice(ctx, "pi-1", nil); err != nil {
		t.Fatal(err)
	}
	if k := f.conflict("pi-1"); k != nil {
		t.Errorf("removed device still flagged: %+v", k)
	}
}
