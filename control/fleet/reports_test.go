package fleet

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestReportsDoNotWaitForTheDatabase: HandleMessage runs on the MQTT
// client's one delivery goroutine, which every report and fetch request
// waits for. A status or an event is stored a moment later, with the
// others received meanwhile, in one transaction: while the database is
// locked by another writer, HandleMessage still returns at once (it used
// to wait for the lock, up to the busy timeout), and the reports are
// stored when the lock is released. A Last Will keeps the modules of the
// status before it.
func TestReportsDoNotWaitForTheDatabase(t *testing.T) {
	dir := t.TempDir()
	f, st, _ := newTestFleet(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.runReports(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "control.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()

	status := func(id string, online bool, mods ...wire.ModuleStatus) []byte {
		b, _ := json.Marshal(wire.Status{Device: id, Online: online, Time: time.Now(), Modules: mods})
		return b
	}
	start := time.Now()
	for i, id := range []string{"pi-1", "pi-2", "pi-3"} {
		f.HandleMessage(wire.DeviceTopic(id, wire.KindStatus), status(id, true, wire.ModuleStatus{Name: "orders", Version: "1.0." + string(rune('0'+i)), State: wire.StateRunning}))
	}
	f.HandleMessage(wire.DeviceTopic("pi-2", wire.KindStatus), status("pi-2", false)) // its Last Will
	ev, _ := json.Marshal(wire.Event{Device: "pi-3", Module: "orders", Version: "1.0.2", State: wire.StateStopped, Time: time.Now()})
	f.HandleMessage(wire.DeviceTopic("pi-3", wire.KindEvents), ev)
	if took := time.Since(start); took > time.Second {
		t.Errorf("HandleMessage took %s with the database locked, want no wait", took)
	}
	time.Sleep(3 * reportsEvery) // tries to store, and waits
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		devs, err := st.Devices(context.Background())
		if err == nil && len(devs) == 3 {
			for _, d := range devs {
				if d.Status == nil || len(d.Status.Modules) != 1 || d.Status.Online != (d.ID != "pi-2") {
					t.Errorf("%s: status %+v, want online but pi-2 (its will), each with its module", d.ID, d.Status)
				}
			}
			if evs, err := st.Events(context.Background(), "pi-3", 10, false); err != nil || len(evs) != 1 || evs[0].Event.State != wire.StateStopped {
				t.Errorf("pi-3's events: %+v, %v; want the one it sent", evs, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices stored: %d, %v; want 3 once the lock is released", len(devs), err)
		}
	}
}

// TestPlanSeesReportsJustReceived: an agent that has just connected with
// its labels can be targeted at once. Its status waits in the reports
// queue for up to reportsEvery; a plan (or deploy) stores what was
// received before it reads the fleet. Before, a push by label right after
// the agents connected answered "manifest targets no device" (CI, in
// tests/devsim's TestFetchBlobs).
func TestPlanSeesReportsJustReceived(t *testing.T) {
	f, _, _ := newTestFleet(t, t.TempDir()) // no runReports: only the plan stores
	b, _ := json.Marshal(wire.Status{Device: "pi-9", Online: true, Time: time.Now(), Labels: map[string]string{"site": "north"}})
	f.HandleMessage(wire.DeviceTopic("pi-9", wire.KindStatus), b)
	p, err := f.Plan(context.Background(), wire.PlanRequest{Module: "orders", Targets: wire.Targets{Labels: map[string]string{"site": "north"}}})
	if err != nil {
		t.Fatalf("plan right after the status arrived: %v", err)
	}
	if len(p.Devices) != 1 || p.Devices[0].ID != "pi-9" {
		t.Fatalf("plan devices %+v, want pi-9", p.Devices)
	}
}
