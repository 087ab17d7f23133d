package reconcile

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// stalledFetcher is a transfer that cannot complete (the broker is gone);
// it records what was serving when the transfer was asked for.
type stalledFetcher struct {
	d             *fakeDeployer
	runningAtCall map[string]string
}

func (f *stalledFetcher) Fetch(ctx context.Context, _ *wire.BlobRef, _ session.ChunkStore) ([]byte, error) {
	f.runningAtCall = f.d.Running()
	return nil, errors.New("broker unreachable")
}

// TestBootServesCommittedFirst: an agent restarted in the middle of a
// deploy (committed 1.0.0, desired 2.0.0 not yet on disk) serves 1.0.0
// before it starts fetching 2.0.0, instead of staying dark for the whole
// transfer and compile.
func TestBootServesCommittedFirst(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitRaw(t, st, key, "1.0.0")
	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{}}
	f := &stalledFetcher{d: d}
	r := New(Config{Device: "dev-1", Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Fetcher: f, Reporter: &recordReporter{}})
	v2 := signed(t, key, "dev-1", "2.0.0")
	retry := r.Reconcile(context.Background(), &wire.DesiredState{Device: "dev-1", Generation: 2, Modules: []wire.DesiredModule{v2.dm}})
	if f.runningAtCall == nil {
		t.Fatal("the new version was never fetched")
	}
	if got := f.runningAtCall["orders"]; got != "1.0.0" {
		t.Errorf("serving %q while fetching 2.0.0, want the committed 1.0.0", got)
	}
	if !retry {
		t.Error("a stalled transfer should be retried")
	}
	if !slices.Equal(d.deploys, []string{"1.0.0"}) {
		t.Errorf("deploys = %v, want [1.0.0]", d.deploys)
	}
}
