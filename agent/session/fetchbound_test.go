package session

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// TestFetchBoundedInTime: a controller that trickles chunks (progress, but
// slowly) and one that stops sending both end the transfer within its
// bounds, and the transfer's in-memory state is freed (late chunks are
// dropped); the chunks received stay on disk for the next try.
func TestFetchBoundedInTime(t *testing.T) {
	broker := startMochi(t)
	for _, tc := range []struct {
		name       string
		every      time.Duration // between chunks sent
		stopAfter  int           // chunks sent, then nothing
		stall, max time.Duration
		want       error
	}{
		{"trickle", 250 * time.Millisecond, 1000, 5 * time.Second, time.Second, ErrFetchTimeout},
		{"stops sending", 10 * time.Millisecond, 2, 700 * time.Millisecond, time.Minute, ErrStalled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			device := uniqueID("dev")
			st, err := store.Open(t.TempDir(), nil, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Config{Broker: broker, Device: device, FetchWindow: 16, FetchTimeout: 10 * time.Second,
				FetchStall: tc.stall, FetchMax: tc.max}, st.Outbox(), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.Start(ctx)
			defer s.Close()
			b := newBlob(12 * wire.ChunkSize) // random: 13 chunks
			slowServer(t, controller(t, broker, false), device, b, tc.every, tc.stopAfter)
			for !s.Connected() {
				time.Sleep(10 * time.Millisecond)
			}
			start := time.Now()
			parts := st.Partial(&b.ref)
			_, err = s.Fetch(ctx, &b.ref, parts)
			took := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Fetch = %v after %s, want %v", err, took, tc.want)
			}
			if limit := min(tc.max, tc.stall) + 3*time.Second; took > limit {
				t.Errorf("Fetch gave up after %s, want within %s", took, limit)
			}
			s.mu.Lock()
			held := len(s.fetches)
			s.mu.Unlock()
			if held != 0 {
				t.Errorf("%d transfers still registered after giving up", held)
			}
			if got := len(parts.Missing()); got == 0 || got == len(b.chunks) {
				t.Errorf("%d of %d chunks missing on disk, want the received ones kept", got, len(b.chunks))
			}
		})
	}
}

// slowServer answers fetch requests one chunk every interval, and stops
// after stopAfter chunks.
func slowServer(t *testing.T, ctl mqtt.Client, device string, b blob, every time.Duration, stopAfter int) {
	var blobID [32]byte
	hex.Decode(blobID[:], []byte(b.ref.SHA256))
	reqs := make(chan []int, 100)
	ctl.Subscribe(wire.DeviceTopic(device, wire.KindFetch), 1, func(_ mqtt.Client, m mqtt.Message) {
		var req wire.FetchChunks
		if wire.Decode(m.Payload(), &req) == nil {
			reqs <- req.Indices
		}
	}).Wait()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		sent := 0
		for {
			select {
			case <-done:
				return
			case idx := <-reqs:
				for _, i := range idx {
					if sent >= stopAfter {
						continue
					}
					select {
					case <-done:
						return
					case <-time.After(every):
					}
					frame := wire.AppendChunk(nil, &wire.Chunk{Blob: blobID, Index: uint32(i), Total: uint32(len(b.chunks)), Data: b.chunks[i]})
					ctl.Publish(wire.DeviceTopic(device, wire.KindChunks), 1, false, frame)
					sent++
				}
			}
		}
	}()
}
