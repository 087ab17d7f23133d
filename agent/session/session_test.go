package session

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newSession(t *testing.T, broker, device string, st *store.Store) *Session {
	t.Helper()
	return startSession(t, Config{Broker: broker, Device: device, Password: "x", KeepAlive: 2 * time.Second,
		MaxReconnect: time.Second, PublishTimeout: 2 * time.Second,
		FetchWindow: 2, FetchTimeout: 300 * time.Millisecond, FetchStall: 3 * time.Second},
		st, testLogger(t))
}

// startSession starts a session of cfg, closed when the test ends.
func startSession(t *testing.T, cfg Config, st *store.Store, log *slog.Logger) *Session {
	t.Helper()
	s, err := New(cfg, st.Outbox(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	t.Cleanup(func() { cancel(); s.Close() })
	return s
}

// blob is a module as the controller serves it.
type blob struct {
	ref    wire.BlobRef
	chunks [][]byte
}

func newBlob(size int) blob {
	raw := make([]byte, size)
	rand.Read(raw)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(raw)
	w.Close()
	chunks, hashes := wire.SplitBlob(buf.Bytes())
	sum := sha256.Sum256(raw)
	return blob{chunks: chunks, ref: wire.BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(size),
		Encoding: wire.EncodingGzip, Stored: int64(buf.Len()), Chunks: hashes}}
}

// chunkServer answers fetch requests like edge-control, dropping each
// index in drop the first time it is asked, and never serving an index in
// never. It records every request.
type chunkServer struct {
	mu       sync.Mutex
	b        blob
	drop     map[int]bool
	never    map[int]bool
	requests [][]int
}

func (cs *chunkServer) serve(t *testing.T, ctl mqtt.Client, device string) {
	ctl.Subscribe(wire.DeviceTopic(device, wire.KindFetch), 1, func(c mqtt.Client, m mqtt.Message) {
		var req wire.FetchChunks
		if err := json.Unmarshal(m.Payload(), &req); err != nil {
			t.Errorf("controller: bad fetch request: %v", err)
			return
		}
		cs.mu.Lock()
		cs.requests = append(cs.requests, req.Indices)
		var send []int
		for _, i := range req.Indices {
			if cs.drop[i] {
				delete(cs.drop, i)
				continue
			}
			if !cs.never[i] {
				send = append(send, i)
			}
		}
		cs.mu.Unlock()
		var blob [32]byte
		hex.Decode(blob[:], []byte(cs.b.ref.SHA256))
		for _, i := range send {
			frame := wire.AppendChunk(nil, &wire.Chunk{Blob: blob, Index: uint32(i), Total: uint32(len(cs.b.chunks)), Data: cs.b.chunks[i]})
			c.Publish(wire.DeviceTopic(device, wire.KindChunks), 1, false, frame)
		}
	}).Wait()
}

func (cs *chunkServer) asked() []int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var all []int
	for _, r := range cs.requests {
		all = append(all, r...)
	}
	return all
}

// watch collects the messages of one topic.
func watch(t *testing.T, ctl mqtt.Client, topic string) chan []byte {
	ch := make(chan []byte, 100)
	if tok := ctl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { ch <- bytes.Clone(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return ch
}

func waitStatus(t *testing.T, ch chan []byte, online bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-ch:
			var st wire.Status
			if len(b) > 0 && json.Unmarshal(b, &st) == nil && st.Online == online {
				return
			}
		case <-deadline:
			t.Fatalf("no status with online=%v", online)
		}
	}
}

func TestSession(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) { testSession(t, url) })
	}
}

func testSession(t *testing.T, broker string) {
	device := uniqueID("dev")
	ctl := controller(t, broker, false)
	t.Cleanup(func() { // clear the retained messages this test created
		publish(t, ctl, wire.DeviceTopic(device, wire.KindDesired), true, nil)
		publish(t, ctl, wire.DeviceTopic(device, wire.KindStatus), true, nil)
	})
	status := watch(t, ctl, wire.DeviceTopic(device, wire.KindStatus))
	// The stand-in controller runs handlers concurrently (its fetch handler
	// publishes from inside one), so it cannot observe order: events, whose
	// order the test checks, are watched by a client that keeps it.
	events := watch(t, controller(t, broker, true), wire.DeviceTopic(device, wire.KindEvents))

	// A retained desired state published before the agent ever connected.
	desired := func(gen int64) []byte {
		b, _ := json.Marshal(wire.DesiredState{Device: device, Generation: gen, Issued: time.Unix(1e9, 0).UTC()})
		return b
	}
	publish(t, ctl, wire.DeviceTopic(device, wire.KindDesired), true, desired(5))

	dir := t.TempDir()
	st, err := store.Open(dir, nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, broker)
	s := newSession(t, px.URL(), device, st)
	waitStatus(t, status, true)

	recv := func() Desired {
		t.Helper()
		select {
		case d := <-s.Desired():
			return d
		case <-time.After(5 * time.Second):
			t.Fatal("no desired state delivered")
		}
		return Desired{}
	}
	if d := recv(); d.State.Generation != 5 || !bytes.Equal(d.Raw, desired(5)) {
		t.Fatalf("desired = gen %d %s", d.State.Generation, d.Raw)
	}
	t.Run("desired filtering", func(t *testing.T) {
		topic := wire.DeviceTopic(device, wire.KindDesired)
		publish(t, ctl, topic, false, []byte("{not json"))
		publish(t, ctl, topic, false, desired(3)) // older generation
		other, _ := json.Marshal(wire.DesiredState{Device: "someone-else", Generation: 9})
		publish(t, ctl, topic, false, other)
		publish(t, ctl, topic, true, desired(6))
		// A reconnect may deliver the retained generation 5 again: desired
		// state is level-triggered and duplicates are allowed. Anything
		// else before 6 means a bad message got through.
		d := recv()
		for d.State.Generation == 5 {
			d = recv()
		}
		if d.State.Generation != 6 {
			t.Errorf("delivered generation %d, want 6 (bad JSON, old generation and other device dropped)", d.State.Generation)
		}
	})

	t.Run("fetch with drops, reconnect and restart", func(t *testing.T) {
		b := newBlob(5*wire.ChunkSize + 1234) // random: 6 chunks gzipped
		n := len(b.chunks)
		cs := &chunkServer{b: b, drop: map[int]bool{1: true, 3: true}, never: map[int]bool{n - 1: true}}
		cs.serve(t, ctl, device)

		// First attempt: the last chunk never comes; cut the connection
		// midway to prove re-requests after reconnect; give up (stall).
		go func() { time.Sleep(500 * time.Millisecond); px.cut() }()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := s.Fetch(ctx, &b.ref, st.Partial(&b.ref))
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("Fetch = %v, want ErrStalled", err)
		}
		asked := cs.asked()
		for _, i := range []int{1, 3} {
			if c := count(asked, i); c < 2 {
				t.Errorf("chunk %d asked %d times, want a re-request after the drop", i, c)
			}
		}

		// "Restart": a new store on the same folder; only the missing
		// chunk is asked for.
		st2, err := store.Open(dir, nil, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st2.Partial(&b.ref).Missing(); !slices.Equal(got, []int{n - 1}) {
			t.Fatalf("missing after restart = %v, want [%d]", got, n-1)
		}
		cs.mu.Lock()
		cs.never, cs.requests = nil, nil
		cs.mu.Unlock()
		enc, err := s.Fetch(ctx, &b.ref, st2.Partial(&b.ref))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(enc)) != b.ref.Stored || !bytes.Equal(enc, bytes.Join(b.chunks, nil)) {
			t.Errorf("assembled %d bytes, want the %d encoded bytes", len(enc), b.ref.Stored)
		}
		if asked := cs.asked(); !slices.Equal(slices.Compact(slices.Sorted(slices.Values(asked))), []int{n - 1}) {
			t.Errorf("resumed transfer asked for %v, want only [%d]", asked, n-1)
		}
	})

	t.Run("last will", func(t *testing.T) {
		waitStatus(t, status, true) // reconnected after the cut above
		px.cut()
		waitStatus(t, status, false)
		waitStatus(t, status, true)
	})

	t.Run("outbox while disconnected", func(t *testing.T) {
		for !s.Connected() {
			time.Sleep(50 * time.Millisecond)
		}
		px.setDown(true)
		px.cut()
		for s.Connected() {
			time.Sleep(10 * time.Millisecond)
		}
		for i, state := range []string{wire.StateFetching, wire.StateVerifying, wire.StateRunning} {
			if err := s.Report(wire.Event{Module: "orders", Version: "1.0.0", State: state, Millis: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if n := st.Outbox().Len(); n != 3 {
			t.Errorf("outbox holds %d, want 3", n)
		}
		// Drain stale messages (e.g. from the will test), then reconnect.
		for len(events) > 0 {
			<-events
		}
		px.setDown(false)
		var got []string
		for len(got) < 3 {
			select {
			case b := <-events:
				var ev wire.Event
				json.Unmarshal(b, &ev)
				if ev.Device != device {
					t.Errorf("event device %q", ev.Device)
				}
				got = append(got, ev.State)
			case <-time.After(10 * time.Second):
				t.Fatalf("events received: %v, want 3", got)
			}
		}
		if want := []string{wire.StateFetching, wire.StateVerifying, wire.StateRunning}; !slices.Equal(got, want) {
			t.Errorf("events = %v, want %v in order", got, want)
		}
		for st.Outbox().Len() != 0 {
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func count(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestOversizeFrameIgnored(t *testing.T) {
	st, _ := store.Open(t.TempDir(), nil, store.Options{})
	s, err := New(Config{Broker: "tcp://127.0.0.1:1", Device: "dev1"}, st.Outbox(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.onChunk(make([]byte, wire.MaxChunkFrameSize+1))
	s.onChunk([]byte("EDGC garbage"))
	if s.dropped != 2 {
		t.Errorf("dropped = %d, want 2", s.dropped)
	}
}
