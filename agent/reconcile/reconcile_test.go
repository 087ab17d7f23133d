package reconcile

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// fakeDeployer stands in for the supervisor (another package's job): it
// checks the file it is given and records what it was asked.
type fakeDeployer struct {
	mu      sync.Mutex
	running map[string]string
	deploys []string
	fail    map[string]error // version → error
}

func (d *fakeDeployer) Deploy(ctx context.Context, m *wire.Manifest, path string, progress func(string, string)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.SHA256 {
		return fmt.Errorf("deployer got bytes that do not match the manifest")
	}
	progress(wire.StateCompiling, "")
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deploys = append(d.deploys, m.Version)
	if err := d.fail[m.Version]; err != nil {
		return err
	}
	d.running[m.Name] = m.Version
	return nil
}

func (d *fakeDeployer) Stop(_ context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.running, name)
	return nil
}

func (d *fakeDeployer) Running() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for k, v := range d.running {
		out[k] = v
	}
	return out
}

func (d *fakeDeployer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deploys)
}

type allowAll struct{ mochi.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

func startBroker(t *testing.T) string {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	srv.AddHook(new(allowAll), nil)
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + l.Address()
}

// module is one signed version as edgectl + edge-control would publish it.
type module struct {
	dm     wire.DesiredModule
	chunks [][]byte
}

func signed(t *testing.T, key ed25519.PrivateKey, device, version string) module {
	raw := make([]byte, 100_000)
	rand.Read(raw)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(raw)
	w.Close()
	chunks, hashes := wire.SplitBlob(buf.Bytes())
	sum := sha256.Sum256(raw)
	m := &wire.Manifest{Schema: 1, Name: "orders", Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw)),
		Created: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour), Targets: wire.Targets{Nodes: []string{device}}}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return module{chunks: chunks, dm: wire.DesiredModule{Deployment: "dep-" + version, Envelope: *env,
		Blob: wire.BlobRef{SHA256: m.SHA256, Size: m.Size, Encoding: wire.EncodingGzip, Stored: int64(buf.Len()), Chunks: hashes}}}
}

func TestReconcile(t *testing.T) {
	broker := startBroker(t)
	device := "dev-reconcile"
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()

	ctl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("ctl").SetOrderMatters(false))
	if tok := ctl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer ctl.Disconnect(100)
	var mu sync.Mutex
	blobs := map[string]module{}
	ctl.Subscribe(wire.DeviceTopic(device, wire.KindFetch), 1, func(c mqtt.Client, msg mqtt.Message) {
		var req wire.FetchChunks
		json.Unmarshal(msg.Payload(), &req)
		mu.Lock()
		m := blobs[req.SHA256]
		mu.Unlock()
		var id [32]byte
		hex.Decode(id[:], []byte(req.SHA256))
		for _, i := range req.Indices {
			c.Publish(wire.DeviceTopic(device, wire.KindChunks), 1, false,
				wire.AppendChunk(nil, &wire.Chunk{Blob: id, Index: uint32(i), Total: uint32(len(m.chunks)), Data: m.chunks[i]}))
		}
	}).Wait()
	events := make(chan wire.Event, 100)
	ctl.Subscribe(wire.DeviceTopic(device, wire.KindEvents), 1, func(_ mqtt.Client, msg mqtt.Message) {
		var ev wire.Event
		json.Unmarshal(msg.Payload(), &ev)
		events <- ev
	}).Wait()
	publishDesired := func(gen int64, mods ...module) {
		ds := wire.DesiredState{Device: device, Generation: gen}
		mu.Lock()
		for _, m := range mods {
			ds.Modules = append(ds.Modules, m.dm)
			blobs[m.dm.Blob.SHA256] = m
		}
		mu.Unlock()
		b, _ := json.Marshal(ds)
		ctl.Publish(wire.DeviceTopic(device, wire.KindDesired), 1, true, b).Wait()
	}
	waitEvent := func(version, state string) wire.Event {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Version == version && ev.State == state {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %s event for %s", state, version)
			}
		}
	}

	start := func(brokerURL string, d *fakeDeployer) (*store.Store, context.CancelFunc) {
		st, err := store.Open(dir, nil, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := New(Config{Device: device, Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Retry: time.Second})
		if err := r.Boot(); err != nil {
			t.Fatal(err)
		}
		s, err := session.New(session.Config{Broker: brokerURL, Device: device, MaxReconnect: time.Second,
			FetchTimeout: time.Second, MinGeneration: r.Generation()}, st.Outbox(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.cfg.Fetcher, r.cfg.Reporter = s, s
		s.Start(ctx)
		done := make(chan struct{})
		go func() { r.Run(ctx, s.Desired()); close(done) }()
		// Stop waits for Run: a reconcile still writing to the store
		// would race the removal of the test's folder.
		return st, func() { cancel(); <-done; s.Close() }
	}

	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{
		"2.0.0": fmt.Errorf("probe GET / answered 500: %w", ErrRolledBack)}}
	st, stop := start(broker, d)
	v1 := signed(t, key, device, "1.0.0")
	publishDesired(1, v1)
	for _, s := range []string{wire.StateFetching, wire.StateVerifying, wire.StateCompiling} {
		if ev := waitEvent("1.0.0", s); ev.Deployment != "dep-1.0.0" {
			t.Errorf("event deployment = %q", ev.Deployment)
		}
	}
	waitEvent("1.0.0", wire.StateRunning)
	if ms := st.Module("orders"); ms.Current != "1.0.0" {
		t.Errorf("current = %q, want 1.0.0", ms.Current)
	}

	// The same version pushed again (a new deployment of it) is running at
	// once, reported under the new deployment's id, and not deployed again.
	again := v1
	again.dm.Deployment = "dep-again"
	publishDesired(2, again)
	if ev := waitEvent("1.0.0", wire.StateRunning); ev.Deployment != "dep-again" || ev.Reason != "already running" {
		t.Errorf("re-push of 1.0.0: running event %+v, want deployment dep-again, reason \"already running\"", ev)
	}

	// Replays and forgeries are rejected; v1 keeps serving.
	publishDesired(3, signed(t, key, device, "0.9.0"))
	waitEvent("0.9.0", wire.StateRejected)
	publishDesired(4, signed(t, otherKey, device, "5.0.0"))
	waitEvent("5.0.0", wire.StateRejected)
	// A version whose probe fails is rolled back and not retried.
	v2 := signed(t, key, device, "2.0.0")
	publishDesired(5, v2)
	waitEvent("2.0.0", wire.StateRolledBack)
	publishDesired(5, v2) // duplicate delivery
	publishDesired(6, v2) // same module, newer generation
	time.Sleep(500 * time.Millisecond)
	if got := d.Running()["orders"]; got != "1.0.0" {
		t.Errorf("running %q, want 1.0.0", got)
	}
	if n := d.count(); n != 2 {
		t.Errorf("Deploy called %d times, want 2 (v1, v2 once)", n)
	}
	stop()

	// Reboot with no broker at all: the committed version comes back.
	d2 := &fakeDeployer{running: map[string]string{}}
	_, stop2 := start("tcp://127.0.0.1:1", d2)
	defer stop2()
	deadline := time.Now().Add(5 * time.Second)
	for d2.Running()["orders"] != "1.0.0" {
		if time.Now().After(deadline) {
			t.Fatalf("after an offline boot running %v, want orders 1.0.0", d2.Running())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctl.Publish(wire.DeviceTopic(device, wire.KindDesired), 1, true, []byte{}).Wait()
	ctl.Publish(wire.DeviceTopic(device, wire.KindStatus), 1, true, []byte{}).Wait()
}
