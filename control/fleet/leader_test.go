package fleet

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// recorder is a Publisher that keeps the desired states published.
type recorder struct {
	mu  sync.Mutex
	got []wire.DesiredState
}

func (r *recorder) Publish(_ context.Context, topic string, _ byte, _ bool, payload []byte) error {
	if _, kind, err := wire.ParseDeviceTopic(topic); err != nil || kind != wire.KindDesired {
		return nil
	}
	var ds wire.DesiredState
	if err := json.Unmarshal(payload, &ds); err != nil {
		return err
	}
	r.mu.Lock()
	r.got = append(r.got, ds)
	r.mu.Unlock()
	return nil
}

func (r *recorder) generations(device string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, ds := range r.got {
		if ds.Device == device {
			out = append(out, ds.Generation)
		}
	}
	return out
}

// replica is one controller on a shared state folder.
type replica struct {
	f      *Fleet
	pub    *recorder
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, dir, name string, ttl time.Duration) *replica {
	t.Helper()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{pub: &recorder{}, done: make(chan struct{})}
	r.f = New(Config{Store: st, Publisher: r.pub, Logger: slog.New(slog.DiscardHandler), Holder: name, LeaseTTL: ttl})
	if err := r.f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.f.Run(ctx); close(r.done) }()
	t.Cleanup(func() { r.stop(); st.Close() })
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestOneLeaderPublishes: of two controllers on one database, only the
// leader publishes desired states, those the other one stored included;
// when the leader stops, the other takes over and publishes what is newer.
func TestOneLeaderPublishes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const ttl = 600 * time.Millisecond
	a := startReplica(t, dir, "a", ttl)
	b := startReplica(t, dir, "b", ttl)
	if !a.f.Leading() || b.f.Leading() {
		t.Fatalf("leading: a %v, b %v; want a only", a.f.Leading(), b.f.Leading())
	}
	if err := a.f.store.SetCredential(ctx, "pi-1", []byte("x"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.f.SetLabels(ctx, "pi-1", wire.LabelRequest{Set: map[string]string{"zone": "a"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to publish what the follower stored", 2*time.Second, func() bool { return len(a.pub.generations("pi-1")) == 1 })
	if g := b.pub.generations("pi-1"); len(g) != 0 {
		t.Errorf("the follower published %v", g)
	}
	a.stop() // gives the lease up
	waitFor(t, "b to lead", 2*ttl, b.f.Leading)
	if _, err := b.f.SetLabels(ctx, "pi-1", wire.LabelRequest{Set: map[string]string{"zone": "b"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to publish generation 2", 2*time.Second, func() bool {
		g := b.pub.generations("pi-1")
		return len(g) > 0 && g[len(g)-1] == 2
	})
	for _, g := range b.pub.generations("pi-1") {
		if g < 1 {
			t.Errorf("b published generation %d", g)
		}
	}
}

// TestPausedLeaderPublishesNothing: a leader that could not renew its
// lease (paused, or cut off from the database) stops publishing when the
// lease runs out by its own clock, even before anyone else takes it.
func TestPausedLeaderPublishesNothing(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub := &recorder{}
	f := New(Config{Store: st, Publisher: pub, Logger: slog.New(slog.DiscardHandler), LeaseTTL: 300 * time.Millisecond})
	if err := f.Load(ctx); err != nil { // leads; Run (the renewals) never starts: as if paused
		t.Fatal(err)
	}
	if err := st.SetCredential(ctx, "pi-1", []byte("x"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetLabels(ctx, "pi-1", wire.LabelRequest{Set: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if g := pub.generations("pi-1"); len(g) != 1 {
		t.Fatalf("published %v while leading, want generation 1", g)
	}
	time.Sleep(300 * time.Millisecond)
	if f.Leading() {
		t.Fatal("still leading after the lease ran out")
	}
	if _, err := f.SetLabels(ctx, "pi-1", wire.LabelRequest{Set: map[string]string{"a": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Republish(ctx); err != nil {
		t.Fatal(err)
	}
	if g := pub.generations("pi-1"); len(g) != 1 {
		t.Errorf("published %v after the lease ran out, want nothing more", g)
	}
	if un, _ := st.Unpublished(ctx, 10); len(un) != 1 || un[0].Generation != 2 {
		t.Errorf("unpublished = %+v, want generation 2 left for the leader", un)
	}
}
