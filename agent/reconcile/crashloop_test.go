package reconcile

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

type recordReporter struct {
	mu     sync.Mutex
	events []wire.Event
}

func (r *recordReporter) Report(ev wire.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}
func (r *recordReporter) PublishStatus(wire.Status) error { return nil }

func (r *recordReporter) find(version, state string) (wire.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Version == version && ev.State == state {
			return ev, true
		}
	}
	return wire.Event{}, false
}

func commitRaw(t *testing.T, st *store.Store, key ed25519.PrivateKey, version string) *wire.Manifest {
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
	if err := st.Stage(m, env, "dep-"+version); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(m.Name, version); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCrashLoopDecisions covers what the reconciler does with a crash loop
// notice (the real processes are in the supervisor's tests).
func TestCrashLoopDecisions(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	setup := func(versions ...string) (*store.Store, *fakeDeployer, *recordReporter, *Reconciler, []*wire.Manifest) {
		st, err := store.Open(t.TempDir(), nil, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ms []*wire.Manifest
		for _, v := range versions {
			ms = append(ms, commitRaw(t, st, key, v))
		}
		d := &fakeDeployer{running: map[string]string{"orders": versions[len(versions)-1]}, fail: map[string]error{}}
		rep := &recordReporter{}
		return st, d, rep, New(Config{Device: "dev-1", Store: st, Deployer: d, Reporter: rep}), ms
	}
	const why = "crash loop: 5 crashes in 1m (last: worker exited: signal: killed)"

	t.Run("last-good restored", func(t *testing.T) {
		st, d, rep, r, ms := setup("1.0.0", "2.0.0")
		r.Unhealthy("orders", "2.0.0", why)
		r.healSick(context.Background())
		if ev, ok := rep.find("2.0.0", wire.StateRolledBack); !ok || !strings.HasPrefix(ev.Reason, why) {
			t.Errorf("rolled_back event: %+v %v", ev, ok)
		}
		if d.Running()["orders"] != "1.0.0" || st.Module("orders").Current != "1.0.0" {
			t.Errorf("running %v, current %q", d.Running(), st.Module("orders").Current)
		}
		if _, ok := st.Quarantined("orders", ms[1].SHA256); !ok {
			t.Error("not quarantined")
		}
	})
	t.Run("last-good fails to start: store unchanged", func(t *testing.T) {
		st, d, rep, r, ms := setup("1.0.0", "2.0.0")
		d.fail["1.0.0"] = errors.New("probe GET /: status 500")
		r.Unhealthy("orders", "2.0.0", why)
		r.healSick(context.Background())
		if ev, ok := rep.find("2.0.0", wire.StateFailed); !ok || !strings.Contains(ev.Reason, "restoring last-known-good 1.0.0 failed") {
			t.Errorf("failed event: %+v %v", ev, ok)
		}
		if ms := st.Module("orders"); ms.Current != "2.0.0" || ms.LastGood != "1.0.0" {
			t.Errorf("store changed: current %q, last-good %q", ms.Current, ms.LastGood)
		}
		if _, ok := st.Quarantined("orders", ms[1].SHA256); ok {
			t.Error("quarantined although nothing replaced it")
		}
	})
	t.Run("no last-good", func(t *testing.T) {
		st, d, rep, r, _ := setup("1.0.0")
		r.Unhealthy("orders", "1.0.0", why)
		r.healSick(context.Background())
		if ev, ok := rep.find("1.0.0", wire.StateFailed); !ok || !strings.Contains(ev.Reason, "no last-known-good") {
			t.Errorf("failed event: %+v %v", ev, ok)
		}
		if d.count() != 0 || st.Module("orders").Current != "1.0.0" {
			t.Errorf("deploys %d, current %q", d.count(), st.Module("orders").Current)
		}
	})
	t.Run("not the committed version", func(t *testing.T) {
		st, d, rep, r, _ := setup("1.0.0", "2.0.0")
		r.Unhealthy("orders", "3.0.0", why) // e.g. a version in its grace period
		r.healSick(context.Background())
		if d.count() != 0 || len(rep.events) != 0 || st.Module("orders").Current != "2.0.0" {
			t.Errorf("acted on a stale notice: deploys %d, events %v", d.count(), rep.events)
		}
	})
}
