package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// servingEnv is a fleet with a signing key, for tests of what rollbacks
// go back to.
type servingEnv struct {
	t   *testing.T
	f   *Fleet
	st  *store.Store
	key ed25519.PrivateKey
}

func newServingEnv(t *testing.T) *servingEnv {
	f, st, _ := newTestFleet(t, t.TempDir())
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return &servingEnv{t: t, f: f, st: st, key: key}
}

// envelope signs orders VERSION (its bytes name the version) for pi-1.
func (e *servingEnv) envelope(version string, epoch uint64) wire.Envelope {
	e.t.Helper()
	module := []byte("\x00asm\x01\x00\x00\x00" + version)
	sum := sha256.Sum256(module)
	if _, _, err := e.st.PutBlob(context.Background(), hex.EncodeToString(sum[:]), module, t0); err != nil {
		e.t.Fatal(err)
	}
	pub := e.key.Public().(ed25519.PublicKey)
	m := &wire.Manifest{Schema: wire.ManifestSchema, Name: "orders", Version: version,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(module)), Created: t0.Add(-time.Minute), Expires: t0.Add(time.Hour),
		Port: 8080, Epoch: epoch, Targets: wire.Targets{Nodes: []string{"pi-1"}}, KeyID: wire.KeyID(pub)}
	m.Schema = m.LowestSchema()
	env, err := wire.Sign(m, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	return *env
}

// push deploys orders VERSION to pi-1 and sets pi-1's state in it.
func (e *servingEnv) push(version, state string) wire.Deployment {
	e.t.Helper()
	d, err := e.f.Deploy(context.Background(), wire.DeployRequest{Envelope: e.envelope(version, 0)})
	if err != nil {
		e.t.Fatalf("deploy %s: %v", version, err)
	}
	if _, err := e.st.SetDeviceState(context.Background(), d.ID, "pi-1", state, "", t0); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// serves reports pi-1's status: serving orders VERSION (deployment dep),
// or nothing of it with version "".
func (e *servingEnv) serves(version, dep string) {
	ms := []wire.ModuleStatus{}
	if version != "" {
		sum := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00" + version))
		ms = append(ms, wire.ModuleStatus{Name: "orders", Version: version, SHA256: hex.EncodeToString(sum[:]),
			State: wire.StateRunning, Deployment: dep, Since: t0})
	}
	b, _ := json.Marshal(wire.Status{Device: "pi-1", Online: true, Time: t0, Modules: ms})
	e.f.HandleMessage(wire.DeviceTopic("pi-1", wire.KindStatus), b)
}

func (e *servingEnv) plan(rollback bool) (wire.Plan, error) {
	return e.f.Plan(context.Background(), wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"pi-1"}}, Rollback: rollback})
}

func sourceVersions(p wire.Plan) []string {
	var out []string
	for _, s := range p.Sources {
		out = append(out, s.Version+" "+s.Deployment)
	}
	return out
}

// TestStagedRollbackGoesToTheVersionServing (F1): after a push that failed
// on pi-1 (its desired entry names 2.0.0, which never served), a staged
// rollout's rollback must go back to 1.5.0, which pi-1 serves. The plan
// offered 2.0.0 to re-sign, and CreateRollout demanded a statement for it
// (the gate's rollback then failed again, and the bad version kept
// serving).
func TestStagedRollbackGoesToTheVersionServing(t *testing.T) {
	e := newServingEnv(t)
	e.serves("", "")
	good := e.push("1.5.0", wire.StateRunning)
	e.serves("1.5.0", good.ID)
	e.push("2.0.0", wire.StateFailed)

	p, err := e.plan(false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sourceVersions(p), ","), "1.5.0 "+good.ID; got != want {
		t.Fatalf("push plan sources %q, want %q (what pi-1 serves)", got, want)
	}
	rb := e.envelope("1.5.0", p.Epoch+1)
	r, err := e.f.CreateRollout(context.Background(), wire.RolloutRequest{Envelope: e.envelope("2.0.2", p.Epoch),
		Rollbacks: []wire.Envelope{rb}, Waves: []string{"1"}})
	if err != nil {
		t.Fatalf("rollout with the rollback to 1.5.0: %v", err)
	}
	sr, err := e.st.GetRollout(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := sr.Previous["pi-1"]; got != good.ID {
		t.Errorf("rollout's previous deployment of pi-1 %q, want %s (1.5.0, serving)", got, good.ID)
	}
}

// TestStagedRollbackWithoutManifest (F1): a device serving a version the
// controller holds no manifest of is refused at rollout creation, by name.
func TestStagedRollbackWithoutManifest(t *testing.T) {
	e := newServingEnv(t)
	e.serves("1.4.0", "d-elsewhere")
	p, err := e.plan(false)
	if err != nil || len(p.Sources) != 0 {
		t.Fatalf("push plan: %v sources, %v; want none, no error (a plain push needs none)", sourceVersions(p), err)
	}
	_, err = e.f.CreateRollout(context.Background(), wire.RolloutRequest{Envelope: e.envelope("2.0.0", 1), Waves: []string{"1"}})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "pi-1 serves orders 1.4.0") ||
		!strings.Contains(err.Error(), "no signed manifest") {
		t.Fatalf("rollout over a version without a manifest: %v; want a refusal naming pi-1, 1.4.0 and the missing manifest", err)
	}
}

// TestRollbackGoesBeforeTheVersionServing (F2): pi-1 serves 1.1.0 (over
// 1.0.0); a push of 1.0.0 is rejected. A rollback without --to goes to
// 1.0.0, which 1.1.0 replaced; it used to re-sign 1.1.0 (the entry the
// rejected push replaced), a no-op reported as success.
func TestRollbackGoesBeforeTheVersionServing(t *testing.T) {
	e := newServingEnv(t)
	e.serves("", "")
	old := e.push("1.0.0", wire.StateRunning)
	e.serves("1.0.0", old.ID)
	e.push("1.0.5", wire.StateFailed) // never served: skipped
	cur := e.push("1.1.0", wire.StateRunning)
	e.serves("1.1.0", cur.ID)
	e.push("1.0.0", wire.StateRejected)

	p, err := e.plan(true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sourceVersions(p), ","), "1.0.0 "+old.ID; got != want {
		t.Fatalf("rollback sources %q, want %q (the version 1.1.0 replaced)", got, want)
	}
}

// TestRollbackToLeavesOutNoOps: a rollback --to a version some targets
// serve already goes on for the others, and is refused when it would
// change nothing anywhere (it re-signed the serving version and reported
// success).
func TestRollbackToLeavesOutNoOps(t *testing.T) {
	e := newServingEnv(t)
	e.serves("", "")
	first := e.push("1.0.0", wire.StateRunning)
	e.serves("1.0.0", first.ID)
	p, err := e.f.Plan(context.Background(), wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"pi-1"}},
		Rollback: true, To: "1.0.0"})
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "pi-1 already serves orders 1.0.0") {
		t.Fatalf("rollback --to the version serving: sources %v, %v; want refused, saying it serves it", sourceVersions(p), err)
	}
}

// TestRollbackRefusesANoOp (F2): pi-1 serves its first version, 1.0.0; a
// push of 1.1.0 is rejected. Nothing served before 1.0.0: the rollback is
// refused, naming what serves and what the last push did (it used to
// re-sign 1.0.0 and report success).
func TestRollbackRefusesANoOp(t *testing.T) {
	e := newServingEnv(t)
	e.serves("", "")
	first := e.push("1.0.0", wire.StateRunning)
	e.serves("1.0.0", first.ID)
	bad := e.push("1.1.0", wire.StateRejected)

	p, err := e.plan(true)
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("rollback plan: sources %v, err %v; want ErrNoSource", sourceVersions(p), err)
	}
	for _, want := range []string{"pi-1 serves orders 1.0.0", "1.1.0 (deployment " + bad.ID + "), never served"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}
