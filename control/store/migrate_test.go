package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestMigrateConcurrently: controllers starting at once against one new
// database (replicas) migrate it once, and all of them open it.
func TestMigrateConcurrently(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		stores := make([]*Store, n)
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = e.tryOpen(Options{}) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		var v int
		if err := stores[0].db.QueryRow(`SELECT version FROM schema_version WHERE id = 1`).Scan(&v); err != nil || v != SchemaVersion {
			t.Errorf("schema version %d (%v), want %d", v, err, SchemaVersion)
		}
		var rows int
		stores[0].db.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&rows)
		if rows != 1 {
			t.Errorf("%d schema_version rows, want 1", rows)
		}
	})
}

// TestSchemaNewerRefused: a database a newer controller migrated is not
// written to by an older one.
func TestSchemaNewerRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		e.exec(t, s, `UPDATE schema_version SET version = ? WHERE id = 1`, SchemaVersion+1)
		s.Close()
		if s2, err := e.tryOpen(Options{}); !errors.Is(err, ErrSchemaNewer) {
			if s2 != nil {
				s2.Close()
			}
			t.Fatalf("open = %v, want ErrSchemaNewer", err)
		}
	})
}

// TestIDsAreCaseSensitive: "Pi-1" and "pi-1" are two devices on every
// engine (MySQL's default collation would make them one).
func TestIDsAreCaseSensitive(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		for _, id := range []string{"pi-1", "Pi-1"} {
			if err := s.PutStatus(ctx, &wire.Status{Device: id, Online: true, AgentVersion: id}, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCredential(ctx, id, []byte(id), t0); err != nil {
				t.Fatal(err)
			}
		}
		devs, err := s.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(devs) != 2 || devs[0].ID != "Pi-1" || devs[1].ID != "pi-1" {
			t.Fatalf("devices %+v, want Pi-1 then pi-1 (byte order)", devs)
		}
		if h, _ := s.CredentialHash(ctx, "Pi-1"); string(h) != "Pi-1" {
			t.Errorf("credential of Pi-1 = %q", h)
		}
	})
}

// TestConcurrentDesiredChanges: two controllers on one database changing
// one device's desired state at once lose no change and never issue one
// generation twice (SQLite: one writer at a time; MySQL: locking reads,
// and a transaction that deadlocks runs again).
func TestConcurrentDesiredChanges(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		a, b := e.open(t, Options{}), e.open(t, Options{})
		const n = 15 // 2n labels within wire.MaxLabels
		var wg sync.WaitGroup
		var mu sync.Mutex
		gens := map[int64]bool{}
		errs := make(chan error, 2*n)
		for i := range n {
			for j, s := range []*Store{a, b} {
				wg.Go(func() {
					ds, changed, err := s.SetLabels(ctx, "pi-1", map[string]string{fmt.Sprintf("k%d-%d", i, j): "v"}, nil, time.Now())
					if err != nil || !changed {
						errs <- fmt.Errorf("set label %d/%d: changed %v, %v", i, j, changed, err)
						return
					}
					mu.Lock()
					if gens[ds.Generation] {
						errs <- fmt.Errorf("generation %d issued twice", ds.Generation)
					}
					gens[ds.Generation] = true
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		ds, err := a.Desired(ctx, "pi-1")
		if err != nil {
			t.Fatal(err)
		}
		if ds.Generation != 2*n || len(ds.Labels) != 2*n {
			t.Errorf("generation %d with %d labels, want %d and %d: a change was lost", ds.Generation, len(ds.Labels), 2*n, 2*n)
		}
	})
}

// TestStatusOrder: of two online statuses stored out of order (two
// controllers on one shared subscription), the newer stays; an offline
// status (a Last Will carries its session's start time) always applies.
func TestStatusOrder(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		put := func(online bool, at time.Time, version string) {
			t.Helper()
			if err := s.PutStatus(ctx, &wire.Status{Device: "pi-1", Online: online, Time: at, AgentVersion: version}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		check := func(online bool, version string) {
			t.Helper()
			d, err := s.Device(ctx, "pi-1")
			if err != nil || d.Status == nil || d.Online != online || d.Status.AgentVersion != version {
				t.Fatalf("device = %+v (%v), want online %v with %s", d, err, online, version)
			}
		}
		put(true, t0.Add(2*time.Second), "new")
		put(true, t0.Add(time.Second), "old") // handled late
		check(true, "new")
		put(false, t0, "will")
		check(false, "will")
		put(true, t0.Add(3*time.Second), "back")
		check(true, "back")
	})
}
