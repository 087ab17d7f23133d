package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestEvents: newest first, the failed ones apart, at most KeepEvents
// per device after pruning, and old ones gone.
func TestEvents(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		n := KeepEvents + 30
		for i := range n {
			state := wire.StateRunning
			if i%10 == 0 {
				state = wire.StateRejected
			}
			ev := &wire.Event{Device: "pi-1", Module: "orders", Version: fmt.Sprintf("1.0.%d", i), State: state, Time: at(i)}
			if err := s.AddEvent(ctx, ev, at(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddEvent(ctx, &wire.Event{Device: "pi-2", Module: "orders", State: wire.StateFailed}, t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events(ctx, "pi-1", 5, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 || got[0].Event.Version != fmt.Sprintf("1.0.%d", n-1) || !got[0].Received.Equal(at(n-1)) {
			t.Errorf("newest 5 = %+v", got)
		}
		failed, err := s.Events(ctx, "pi-1", 3, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 3 || failed[0].Event.Version != "1.0.220" || failed[2].Event.Version != "1.0.200" {
			t.Errorf("failed = %+v", failed)
		}
		if err := s.PruneEvents(ctx, "pi-1", t0.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		all, err := s.AllEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != KeepEvents {
			t.Fatalf("%d events after pruning, want %d of pi-1 and none of pi-2 (older than the cutoff)", len(all), KeepEvents)
		}
		if all[0].Event.Version != "1.0.30" || all[len(all)-1].Event.Version != fmt.Sprintf("1.0.%d", n-1) {
			t.Errorf("kept %s..%s, want the newest", all[0].Event.Version, all[len(all)-1].Event.Version)
		}
	})
}
