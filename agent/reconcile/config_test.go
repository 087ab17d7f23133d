package reconcile

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// storedDesired signs a manifest of fixed bytes (edit may change its
// settings) and stores the bytes, so a reconcile needs no transfer.
func storedDesired(t *testing.T, st *store.Store, key ed25519.PrivateKey, version string, edit func(*wire.Manifest)) wire.DesiredModule {
	t.Helper()
	raw := []byte("the same module bytes")
	sum := sha256.Sum256(raw)
	m := &wire.Manifest{Schema: 1, Name: "orders", Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw)),
		Created: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour), Targets: wire.Targets{Nodes: []string{"dev-1"}}, Port: 8080}
	if edit != nil {
		edit(m)
	}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlob(m.SHA256, m.Size, raw); err != nil {
		t.Fatal(err)
	}
	return wire.DesiredModule{Deployment: fmt.Sprintf("dep-%s-%s", version, m.Bindings.DB), Envelope: *env,
		Blob: wire.BlobRef{SHA256: m.SHA256, Size: m.Size, Encoding: wire.EncodingGzip, Stored: 1, Chunks: []string{strings.Repeat("0", 64)}}}
}

// TestConfigFaultsNotQuarantined: a module that cannot start because of
// the device's configuration (a database binding the agent lacks, a port
// in use) is failed with the reason and tried again, never quarantined;
// a fault of the module is quarantined for that manifest only, so the same
// bytes with other settings run.
func TestConfigFaultsNotQuarantined(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{}}
	rep := &recordReporter{}
	r := New(Config{Device: "dev-1", Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Reporter: rep})
	ctx := context.Background()
	gen := int64(0)
	apply := func(mods ...wire.DesiredModule) bool {
		gen++
		return r.Reconcile(ctx, &wire.DesiredState{Device: "dev-1", Generation: gen, Modules: mods})
	}

	// A binding the device does not define: failed, retried, not quarantined.
	d.fail["1.0.0"] = fmt.Errorf(`database binding "shop" is not defined on this device: %w`, ErrConfig)
	shop := storedDesired(t, st, key, "1.0.0", func(m *wire.Manifest) { m.Bindings.DB = "shop" })
	if retry := apply(shop); !retry {
		t.Error("a configuration fault is not retried")
	}
	if ev, ok := rep.find("1.0.0", wire.StateFailed); !ok || !strings.Contains(ev.Reason, "not defined on this device") {
		t.Errorf("failed event: %+v %v", ev, ok)
	}
	if q := st.Quarantines("orders"); len(q) != 0 {
		t.Errorf("a configuration fault was quarantined: %v", q)
	}
	// The device is fixed: the same manifest now runs.
	delete(d.fail, "1.0.0")
	if apply(shop); d.Running()["orders"] != "1.0.0" {
		t.Fatalf("after the fix running %v, want orders 1.0.0", d.Running())
	}

	// A fault of the module (crash during the grace period): quarantined,
	// for that manifest only.
	d.fail["1.1.0"] = fmt.Errorf("worker crashed during the grace period: %w", ErrRolledBack)
	bad := storedDesired(t, st, key, "1.1.0", func(m *wire.Manifest) { m.Config = map[string]string{"mode": "broken"} })
	apply(bad)
	if _, ok := st.QuarantineReason(mustManifest(t, bad)); !ok {
		t.Fatal("a module fault was not quarantined")
	}
	n := d.count()
	apply(bad)
	if d.count() != n {
		t.Error("the quarantined manifest was deployed again")
	}
	// The operator clears the quarantine: the broken manifest is tried
	// again (and fails again, here).
	n = d.count()
	gen++
	r.Reconcile(ctx, &wire.DesiredState{Device: "dev-1", Generation: gen, Modules: []wire.DesiredModule{bad},
		QuarantineClear: map[string]uint64{"orders": 1}})
	if d.count() != n+1 {
		t.Errorf("after the clear, deploys %d, want %d: the manifest was not tried again", d.count(), n+1)
	}

	delete(d.fail, "1.1.0")
	fixed := storedDesired(t, st, key, "1.1.0", func(m *wire.Manifest) { m.Config = map[string]string{"mode": "ok"} })
	if apply(fixed); d.Running()["orders"] != "1.1.0" {
		t.Errorf("the same bytes with another config: running %v, want 1.1.0", d.Running())
	}
	if q := st.QuarantineList(); len(q) != 1 || q[0].Version != "1.1.0" {
		t.Errorf("status quarantine list = %+v, want the broken 1.1.0", q)
	}
}

// TestCommittedConfigFaultKeepsVersion: after a reboot the committed
// version cannot take its port (another program holds it): it stays
// committed and is retried; it used to be quarantined and replaced by
// last-known-good, for good.
func TestCommittedConfigFaultKeepsVersion(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitRaw(t, st, key, "1.0.0")
	commitRaw(t, st, key, "2.0.0")
	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{
		"2.0.0": fmt.Errorf("listen on port 8080: address already in use: %w", ErrConfig)}}
	r := New(Config{Device: "dev-1", Store: st, Deployer: d, Reporter: &recordReporter{}})
	if retry := r.ensureCurrent(context.Background(), "orders"); !retry {
		t.Error("not retried")
	}
	if ms := st.Module("orders"); ms.Current != "2.0.0" || ms.LastGood != "1.0.0" || len(ms.Quarantine) != 0 {
		t.Errorf("store after a port clash: current %q, last-good %q, quarantine %v; want 2.0.0, 1.0.0, none",
			ms.Current, ms.LastGood, ms.Quarantine)
	}
}

func mustManifest(t *testing.T, dm wire.DesiredModule) *wire.Manifest {
	t.Helper()
	m, err := wire.ParseManifest(dm.Envelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCentralLabelsTarget: a manifest that targets a label only the
// controller set (the desired state's Labels) is accepted; where the agent
// declares the same key itself, its own value wins.
func TestCentralLabelsTarget(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  map[string]string
		want bool
	}{
		{"central label only", nil, true},
		{"the agent's own value wins", map[string]string{"ring": "stable"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, key, _ := ed25519.GenerateKey(nil)
			st, err := store.Open(t.TempDir(), nil, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{}}
			rep := &recordReporter{}
			r := New(Config{Device: "dev-1", Labels: tc.own, Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Reporter: rep})
			dm := storedDesired(t, st, key, "1.0.0", func(m *wire.Manifest) {
				m.Targets = wire.Targets{Labels: map[string]string{"ring": "canary"}}
			})
			r.Reconcile(context.Background(), &wire.DesiredState{Device: "dev-1", Generation: 1, Modules: []wire.DesiredModule{dm},
				Labels: map[string]string{"ring": "canary"}})
			if got := d.Running()["orders"] == "1.0.0"; got != tc.want {
				t.Errorf("running %v, want deployed %v", d.Running(), tc.want)
			}
			if _, rejected := rep.find("1.0.0", wire.StateRejected); rejected == tc.want {
				t.Errorf("rejected = %v, want %v", rejected, !tc.want)
			}
		})
	}
}

// statusReporter records the statuses published.
type statusReporter struct {
	recordReporter
	statuses chan wire.Status
}

func (r *statusReporter) PublishStatus(st wire.Status) error {
	r.statuses <- st
	return nil
}

// TestFreshAgentSaysItsLabels: an agent with no desired state yet
// publishes its status (labels, version) at once, so label targets can
// reach it; it used to say nothing until its first deployment, which
// label targeting could never send it.
func TestFreshAgentSaysItsLabels(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := &statusReporter{statuses: make(chan wire.Status, 4)}
	r := New(Config{Device: "dev-1", Store: st, Deployer: &fakeDeployer{running: map[string]string{}}, Reporter: rep,
		Status: wire.Status{AgentVersion: "1.2.3", Labels: map[string]string{"site": "lyon"}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx, make(chan session.Desired))
	select {
	case got := <-rep.statuses:
		if got.Labels["site"] != "lyon" || got.AgentVersion != "1.2.3" || got.Device != "dev-1" {
			t.Errorf("first status = %+v, want the device's labels and version", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no status published without a desired state")
	}
}

// TestUndesiredForgotten: a module that leaves the desired state is
// stopped and forgotten whether it ran or not: one rejected (a misnamed
// push), or whose version failed, used to stay in the status (and its
// committed version in the store) for ever, since only running modules
// were stopped.
func TestUndesiredForgotten(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDeployer{running: map[string]string{}, fail: map[string]error{}}
	r := New(Config{Device: "dev-1", Keys: wire.NewKeyring(pub), Store: st, Deployer: d, Reporter: &recordReporter{}})
	ctx := context.Background()
	gen := int64(0)
	apply := func(mods ...wire.DesiredModule) {
		gen++
		r.Reconcile(ctx, &wire.DesiredState{Device: "dev-1", Generation: gen, Modules: mods})
	}
	names := func() []string {
		var out []string
		for _, ms := range r.Status().Modules {
			out = append(out, ms.Name+" "+ms.State)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		edit func(*wire.Manifest)
		fail error
	}{
		{"running", nil, nil},
		{"rejected", func(m *wire.Manifest) { m.Targets = wire.Targets{Nodes: []string{"another-device"}} }, nil},
		{"failed", nil, fmt.Errorf("no port: %w", ErrConfig)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := "1.0.0"
			d.fail[gen] = tc.fail
			apply(storedDesired(t, st, key, gen, tc.edit))
			if got := names(); len(got) != 1 {
				t.Fatalf("status modules while desired: %v, want orders", got)
			}
			apply()
			if got := names(); len(got) != 0 {
				t.Errorf("status modules once undesired: %v, want none", got)
			}
			if ms := st.Module("orders"); ms.Current != "" || ms.LastGood != "" || ms.Pending != "" {
				t.Errorf("store still holds orders: current %q, last-good %q, pending %q", ms.Current, ms.LastGood, ms.Pending)
			}
			if len(d.Running()) != 0 {
				t.Errorf("still running: %v", d.Running())
			}
			delete(d.fail, gen)
		})
	}
}
