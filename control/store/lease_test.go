package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestLease: one holder at a time; a renewal keeps the token; an expired
// lease goes to the next asker with the next token; a release hands it
// over at once; the old holder cannot release the new one's.
func TestLease(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		a, b := e.open(t, Options{}), e.open(t, Options{}) // two controllers
		const ttl = 400 * time.Millisecond
		la, ok, err := a.AcquireLease(ctx, "leader", "a", ttl)
		if err != nil || !ok || la.Token != 1 {
			t.Fatalf("first acquire = %+v, %v, %v; want a with token 1", la, ok, err)
		}
		if lb, ok, err := b.AcquireLease(ctx, "leader", "b", ttl); err != nil || ok || lb.Holder != "a" {
			t.Fatalf("acquire of a held lease = %+v, %v, %v; want refused, held by a", lb, ok, err)
		}
		if la2, ok, _ := a.AcquireLease(ctx, "leader", "a", ttl); !ok || la2.Token != 1 {
			t.Fatalf("renewal = %+v, %v; want the same token", la2, ok)
		}
		time.Sleep(ttl + 100*time.Millisecond)
		lb, ok, err := b.AcquireLease(ctx, "leader", "b", ttl)
		if err != nil || !ok || lb.Token != 2 {
			t.Fatalf("acquire of an expired lease = %+v, %v, %v; want b with token 2", lb, ok, err)
		}
		if _, ok, _ := a.AcquireLease(ctx, "leader", "a", ttl); ok {
			t.Fatal("the old holder renewed a lease taken over")
		}
		if err := a.ReleaseLease(ctx, "leader", "a", 1); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.AcquireLease(ctx, "leader", "a", ttl); ok {
			t.Fatal("the old holder's release freed the new holder's lease")
		}
		if err := b.ReleaseLease(ctx, "leader", "b", 2); err != nil {
			t.Fatal(err)
		}
		if la, ok, _ := a.AcquireLease(ctx, "leader", "a", ttl); !ok || la.Token != 3 {
			t.Fatalf("acquire after a release = %+v, %v; want a with token 3", la, ok)
		}
		if l, err := b.GetLease(ctx, "leader"); err != nil || l.Holder != "a" || l.Token != 3 {
			t.Errorf("GetLease = %+v, %v", l, err)
		}
	})
}

// TestUnpublished: a desired state stored and not marked published is
// listed until it is; marking never lowers the record.
func TestUnpublished(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		for _, dev := range []string{"pi-1", "pi-2"} {
			if _, _, err := s.SetLabels(ctx, dev, map[string]string{"a": "1"}, nil, t0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Unpublished(ctx, 10)
		if err != nil || len(got) != 2 || got[0].Device != "pi-1" || got[0].Generation != 1 {
			t.Fatalf("unpublished = %+v, %v; want pi-1 and pi-2 at generation 1", got, err)
		}
		s.MarkPublished(ctx, "pi-1", 1)
		s.SetLabels(ctx, "pi-2", map[string]string{"b": "1"}, nil, t0)
		s.MarkPublished(ctx, "pi-2", 2)
		s.MarkPublished(ctx, "pi-2", 1) // late: never lowers
		if got, _ := s.Unpublished(ctx, 10); len(got) != 0 {
			t.Errorf("unpublished after marking = %+v, want none", got)
		}
		s.SetLabels(ctx, "pi-1", map[string]string{"b": "1"}, nil, t0)
		if got, _ := s.Unpublished(ctx, 10); len(got) != 1 || got[0].Generation != 2 {
			t.Errorf("unpublished after a change = %+v, want pi-1 at 2", got)
		}
	})
}

// TestSaveRolloutStale: a save over a revision another controller saved
// since is refused (ErrStale), not applied.
func TestSaveRolloutStale(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		r := &Rollout{Rollout: wire.Rollout{ID: "r-1", Module: "orders", State: wire.RolloutDeploying, Created: t0}}
		if err := s.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
		x, _ := s.GetRollout(ctx, "r-1")
		y, _ := s.GetRollout(ctx, "r-1")
		x.State = wire.RolloutPaused
		if err := s.SaveRollout(ctx, x); err != nil {
			t.Fatal(err)
		}
		y.State = wire.RolloutSoaking
		if err := s.SaveRollout(ctx, y); !errors.Is(err, ErrStale) {
			t.Fatalf("save over a newer revision = %v, want ErrStale", err)
		}
		if got, _ := s.GetRollout(ctx, "r-1"); got.State != wire.RolloutPaused {
			t.Errorf("state %s, want the first save's (paused)", got.State)
		}
		x.State = wire.RolloutDeploying
		if err := s.SaveRollout(ctx, x); err != nil {
			t.Errorf("a second save by the same reader = %v", err)
		}
	})
}

// TestPublisherWritesArePublished: what the publishing controller writes
// is recorded published as written (it publishes it next); only other
// controllers' writes are left for its poll.
func TestPublisherWritesArePublished(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		leader, other := e.open(t, Options{}), e.open(t, Options{})
		leader.SetPublisher(func() bool { return true })
		other.SetPublisher(func() bool { return false })
		if _, _, err := leader.SetLabels(ctx, "pi-1", map[string]string{"a": "1"}, nil, t0); err != nil {
			t.Fatal(err)
		}
		if un, _ := leader.Unpublished(ctx, 10); len(un) != 0 {
			t.Errorf("the leader's own write is unpublished: %+v", un)
		}
		if _, _, err := other.SetLabels(ctx, "pi-1", map[string]string{"a": "2"}, nil, t0); err != nil {
			t.Fatal(err)
		}
		if un, _ := leader.Unpublished(ctx, 10); len(un) != 1 || un[0].Generation != 2 {
			t.Errorf("unpublished = %+v, want the other controller's generation 2", un)
		}
	})
}
