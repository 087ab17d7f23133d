package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestMigrateAndExpireLegacy: a state folder written by a controller from
// before deployment deadlines opens (the column is added), and its
// unfinished deployments time out at created + the legacy timeout.
func TestMigrateAndExpireLegacy(t *testing.T) {
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, q := range []string{
		`CREATE TABLE deployments (id TEXT PRIMARY KEY, module TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL,
			envelope TEXT NOT NULL, created INTEGER NOT NULL)`,
		`CREATE TABLE deployment_devices (deployment TEXT NOT NULL, device TEXT NOT NULL, state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '', updated INTEGER NOT NULL, PRIMARY KEY (deployment, device))`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		id      string
		created time.Time
	}{{"d-old", now.Add(-time.Hour)}, {"d-recent", now.Add(-time.Minute)}} {
		old.Exec(`INSERT INTO deployments VALUES (?, 'orders', '1.0.0', 'x', '{}', ?)`, d.id, d.created.UnixNano())
		old.Exec(`INSERT INTO deployment_devices VALUES (?, 'pi-1', 'pending', '', ?)`, d.id, d.created.UnixNano())
	}
	old.Close()

	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatalf("open a legacy state folder: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	if d, err := s.Deployment(ctx, "d-old"); err != nil || !d.Deadline.IsZero() || d.Done {
		t.Fatalf("legacy deployment = %+v, %v; want no deadline, not done", d, err)
	}
	got, err := s.ExpireDeployments(ctx, now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Deployment != "d-old" || got[0].Was != wire.StatePending ||
		!strings.Contains(got[0].Reason, "within 10m0s of the push: the device never connected") {
		t.Fatalf("expired %+v, want only d-old on pi-1, never connected", got)
	}
	if d, _ := s.Deployment(ctx, "d-old"); !d.Done || d.Devices[0].State != wire.StateTimedOut {
		t.Errorf("d-old after expiry = %+v, want timed_out and done", d)
	}
	if d, _ := s.Deployment(ctx, "d-recent"); d.Done {
		t.Errorf("d-recent expired before its deadline: %+v", d)
	}
	if again, _ := s.ExpireDeployments(ctx, now, 10*time.Minute); len(again) != 0 {
		t.Errorf("second sweep expired %+v again", again)
	}
}

// TestTerminalStates: the store's terminal states are wire's.
func TestTerminalStates(t *testing.T) {
	for _, st := range terminalStates {
		if !wire.Terminal(st) {
			t.Errorf("%s is terminal in the store but not in wire", st)
		}
	}
	for _, st := range []string{wire.StatePending, wire.StateFetching, wire.StateVerifying, wire.StateCompiling,
		wire.StateStarting, wire.StateProbing, wire.StateStopped, "exploded"} {
		if wire.Terminal(st) {
			t.Errorf("wire.Terminal(%q) = true", st)
		}
	}
}

// TestSetDeviceState: the rules for a device's progress in a deployment,
// report after report.
func TestSetDeviceState(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		data := []byte("\x00asm\x01\x00\x00\x00module")
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		ref, _, err := s.PutBlob(ctx, sha, data, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := &wire.Manifest{Name: "orders", Version: "1.0.0", SHA256: sha, Size: int64(len(data))}
		if _, err := s.CreateDeployment(ctx, NewDeployment{ID: "d-1", Manifest: m, Blob: ref, Devices: []string{"pi-1"},
			Now: time.Now(), Deadline: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			state, reason string
			changed       bool
			want          string // state: reason after the report
		}{
			{wire.StateFetching, "", true, "fetching: "},
			{wire.StateFetching, "", false, "fetching: "},
			{wire.StateRunning, "already running", true, "running: already running"},
			{wire.StateRunning, "", false, "running: already running"}, // a status report keeps the event's reason
			{wire.StateProbing, "", false, "running: already running"}, // a late step never reopens it
			{wire.StateRolledBack, "5xx burst", true, "rolled_back: 5xx burst"},
			{wire.StateRunning, "", true, "running: "}, // terminal over terminal applies
		}
		for i, st := range steps {
			changed, err := s.SetDeviceState(ctx, "d-1", "pi-1", st.state, st.reason, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			d, _ := s.Deployment(ctx, "d-1")
			if got := d.Devices[0].State + ": " + d.Devices[0].Reason; got != st.want || changed != st.changed {
				t.Errorf("step %d (%s %q): %q, changed %v; want %q, changed %v", i, st.state, st.reason, got, changed, st.want, st.changed)
			}
		}
		if changed, _ := s.SetDeviceState(ctx, "d-1", "pi-2", wire.StateRunning, "", time.Now()); changed {
			t.Error("a device the deployment does not target was recorded")
		}
	})
}
