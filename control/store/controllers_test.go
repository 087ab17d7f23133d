package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestControllerRegistry: a controller registers after its check saw the
// live others; a refused one is not registered; an entry not renewed stops
// counting at its expiry and is removed by the next registration; a
// renewal puts back an entry removed meanwhile; a clean stop removes it.
func TestControllerRegistry(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		ctx := context.Background()
		ids := func(cs []Controller) (out []string) {
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		register := func(c Controller, ttl time.Duration, refuse error) []string {
			t.Helper()
			var seen []Controller
			err := s.RegisterController(ctx, c, ttl, func(live []Controller) error { seen = live; return refuse })
			if !errors.Is(err, refuse) {
				t.Fatalf("register %s: %v, want %v", c.ID, err, refuse)
			}
			return ids(seen)
		}
		a := Controller{ID: "a", Host: "host-a", Version: "1.0", Broker: "tcp://mqtt:1883", BlobStore: "s1", BlobDir: "/blobs"}
		if got := register(a, time.Minute, nil); len(got) != 0 {
			t.Fatalf("first controller saw %v, want none", got)
		}
		refused := errors.New("refused")
		if got := register(Controller{ID: "b"}, time.Minute, refused); len(got) != 1 || got[0] != "a" {
			t.Fatalf("second controller saw %v, want [a]", got)
		}
		// b was refused: not registered.
		if got := register(Controller{ID: "dead"}, 300*time.Millisecond, nil); len(got) != 1 || got[0] != "a" {
			t.Fatalf("third controller saw %v, want [a] (b was refused)", got)
		}
		live, err := s.RenewController(ctx, a, time.Minute)
		if err != nil || len(live) != 1 || live[0].ID != "dead" {
			t.Fatalf("renew a: %v, %v: want [dead]", ids(live), err)
		}
		if l := live[0]; l.Started.IsZero() || !l.Expires.After(l.Started) {
			t.Fatalf("entry %+v: want started before it expires", l)
		}
		time.Sleep(time.Second) // "dead" is not renewed
		if got := register(Controller{ID: "c"}, time.Minute, nil); len(got) != 1 || got[0] != "a" {
			t.Fatalf("after dead's expiry saw %v, want [a]", got)
		}
		var n int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM controllers WHERE id = 'dead'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("expired entry rows: %d (%v), want removed", n, err)
		}
		// Stale entry removed by someone: the renewal puts it back.
		e.exec(t, s, `DELETE FROM controllers WHERE id = 'a'`)
		if _, err := s.RenewController(ctx, a, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveController(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		live, err = s.RenewController(ctx, Controller{ID: "d"}, time.Minute)
		if err != nil || len(live) != 1 || live[0] != (Controller{ID: "a", Host: "host-a", Version: "1.0", Broker: "tcp://mqtt:1883",
			BlobStore: "s1", BlobDir: "/blobs", Started: live[0].Started, Expires: live[0].Expires}) {
			t.Fatalf("live after c stopped: %+v, %v; want a as registered", live, err)
		}
	})
}

// TestRegisterTakesTurns: controllers registering at once are checked one
// after the other, each against those before it, so two that cannot work
// together never both start.
func TestRegisterTakesTurns(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		admitted := 0
		for i := range n {
			wg.Go(func() {
				c := Controller{ID: string(rune('a' + i))}
				err := s.RegisterController(context.Background(), c, time.Minute, func(live []Controller) error {
					if len(live) > 0 {
						return errors.New("one at most")
					}
					return nil
				})
				if err == nil {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if admitted != 1 {
			t.Fatalf("%d of %d controllers admitted, want 1", admitted, n)
		}
	})
}

// TestBlobStoreID: the id is made once per folder and read back by every
// store on it; another folder has another.
func TestBlobStoreID(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	a := openStoreOpts(t, t.TempDir(), Options{BlobDir: dir})
	b := openStoreOpts(t, t.TempDir(), Options{BlobDir: dir})
	c := openStoreOpts(t, t.TempDir(), Options{BlobDir: other})
	var ids []string
	for _, s := range []*Store{a, b, a, c} {
		id, err := s.BlobStoreID()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] || ids[0] != ids[2] || ids[0] == ids[3] || len(ids[0]) != 32 {
		t.Fatalf("ids %q: want the first three equal (one folder), the last another", ids)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != BlobStoreFile {
		t.Fatalf("folder holds %v, want only %s", ents, BlobStoreFile)
	}
	if err := os.WriteFile(filepath.Join(other, BlobStoreFile), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BlobStoreID(); err == nil {
		t.Fatal("damaged id file accepted")
	}
}
