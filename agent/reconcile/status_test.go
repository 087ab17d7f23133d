package reconcile

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// stored signs version of module orders for dev-1 (port 8080) and puts its
// bytes in the store, so a reconcile deploys it without a transfer.
func stored(t *testing.T, st *store.Store, key ed25519.PrivateKey, version string) wire.DesiredModule {
	t.Helper()
	raw := []byte("module bytes of " + version)
	sum := sha256.Sum256(raw)
	m := &wire.Manifest{Schema: 1, Name: "orders", Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw)),
		Created: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour), Targets: wire.Targets{Nodes: []string{"dev-1"}}, Port: 8080}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlob(m.SHA256, m.Size, raw); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	_, hashes := wire.SplitBlob(buf.Bytes())
	return wire.DesiredModule{Deployment: "dep-" + version, Envelope: *env,
		Blob: wire.BlobRef{SHA256: m.SHA256, Size: m.Size, Encoding: wire.EncodingGzip, Stored: int64(buf.Len()), Chunks: hashes}}
}

// TestStatusTellsWhatServes: a module's status names the version serving
// (its port and deployment) and, apart, the latest attempt when it is not
// that version. Before, the status carried the last attempted version
// ("1.7.0 rejected") while 1.5.0 served.
func TestStatusTellsWhatServes(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{}}
	f := &stalledFetcher{d: d}
	r := New(Config{Device: "dev-1", Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Fetcher: f, Reporter: &recordReporter{}})
	ctx := context.Background()
	gen := int64(0)
	apply := func(dm wire.DesiredModule) wire.ModuleStatus {
		t.Helper()
		gen++
		r.Reconcile(ctx, &wire.DesiredState{Device: "dev-1", Generation: gen, Modules: []wire.DesiredModule{dm}})
		mods := r.Status().Modules
		if len(mods) != 1 {
			t.Fatalf("status modules %+v, want orders only", mods)
		}
		return mods[0]
	}
	type want struct {
		version, state, deployment, lastGood string
		port                                 int
		attempt, attemptState                string
	}
	check := func(step string, got wire.ModuleStatus, w want) {
		t.Helper()
		g := want{got.Version, got.State, got.Deployment, got.LastGood, got.Port, "", ""}
		if got.Attempt != nil {
			g.attempt, g.attemptState = got.Attempt.Version, got.Attempt.State
			if got.Attempt.State != wire.StateFetching && got.Attempt.Reason == "" {
				t.Errorf("%s: attempt %+v without a reason", step, got.Attempt)
			}
		}
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", step, g, w)
		}
	}

	// Nothing serves yet; the first version is being fetched.
	m0, _ := signedPair(t, key, "0.9.0")
	check("first fetch", apply(m0), want{state: wire.StateFetching, attempt: "0.9.0", attemptState: wire.StateFetching})

	check("1.5.0 deployed", apply(stored(t, st, key, "1.5.0")),
		want{version: "1.5.0", state: wire.StateRunning, deployment: "dep-1.5.0", port: 8080})
	check("1.6.0 deployed", apply(stored(t, st, key, "1.6.0")),
		want{version: "1.6.0", state: wire.StateRunning, deployment: "dep-1.6.0", lastGood: "1.5.0", port: 8080})

	bad := stored(t, st, stranger, "1.7.0") // signed by an unknown key
	check("1.7.0 rejected", apply(bad),
		want{version: "1.6.0", state: wire.StateRunning, deployment: "dep-1.6.0", lastGood: "1.5.0", port: 8080,
			attempt: "1.7.0", attemptState: wire.StateRejected})
	apply(bad) // delivered again: one rejection
	if got := r.Rejections()["orders"]; got != 1 {
		t.Errorf("rejections = %d after one refused deployment delivered twice, want 1", got)
	}

	broken := stored(t, st, key, "1.8.0")
	d.fail["1.8.0"] = errors.New("probe GET /: status 500")
	got := apply(broken)
	check("1.8.0 failed", got,
		want{version: "1.6.0", state: wire.StateRunning, deployment: "dep-1.6.0", lastGood: "1.5.0", port: 8080,
			attempt: "1.8.0", attemptState: wire.StateFailed})
	if got.Attempt != nil && (got.Attempt.Deployment != "dep-1.8.0" || !strings.Contains(got.Attempt.Reason, "status 500")) {
		t.Errorf("attempt %+v: want deployment dep-1.8.0 and the probe's reason", got.Attempt)
	}
}

// signedPair is a module whose bytes are not in the store (so it must be
// fetched).
func signedPair(t *testing.T, key ed25519.PrivateKey, version string) (wire.DesiredModule, string) {
	m := signed(t, key, "dev-1", version)
	return m.dm, m.dm.Blob.SHA256
}
