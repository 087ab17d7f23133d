// Package agreement feeds the same bytes to the controller's and the
// agent's entry points and requires that they agree (issue 7, case 9: the
// controller accepted a manifest with trailing data that its own helpers
// and the agents read differently). Both sides now parse with
// wire.ParseManifest; these fuzz targets keep it that way.
package agreement

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	agentstore "github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/agent/verify"
	"github.com/edgeplane/edge/control/fleet"
	ctlstore "github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

var (
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	key    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	pub    = key.Public().(ed25519.PublicKey)
	module = bytes.Repeat([]byte("wasm module bytes "), 100)
)

type sides struct {
	ctl, ctlTrust *fleet.Fleet
	agent         *verify.Verifier
	ref           wire.BlobRef
}

func newSides(t testing.TB) *sides {
	ctx := context.Background()
	cs, err := ctlstore.Open(ctx, t.TempDir(), ctlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	ref, _, err := cs.PutBlob(ctx, digest(module), module, now)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return now }
	as, err := agentstore.Open(t.TempDir(), log, agentstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &sides{
		ctl:      fleet.New(fleet.Config{Store: cs, Logger: log, Now: clock}),
		ctlTrust: fleet.New(fleet.Config{Store: cs, Trust: wire.NewKeyring(pub), Logger: log, Now: clock}),
		agent:    &verify.Verifier{Keys: wire.NewKeyring(pub), Device: "dev1", Store: as},
		ref:      ref,
	}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func goodManifest() []byte {
	b, _ := json.Marshal(wire.Manifest{
		Schema: wire.ManifestSchema, Name: "orders", Version: "1.0.0", SHA256: digest(module), Size: int64(len(module)),
		Created: now.Add(-time.Hour), Expires: now.Add(time.Hour), KeyID: wire.KeyID(pub),
		Targets: wire.Targets{Nodes: []string{"dev1"}}, Config: map[string]string{"k": "v"},
	})
	return b
}

func sign(payload []byte) wire.Envelope {
	return wire.Envelope{PayloadType: wire.PayloadType, Payload: payload,
		Signatures: []wire.Signature{{KeyID: wire.KeyID(pub), Sig: ed25519.Sign(key, wire.PAE(wire.PayloadType, payload))}}}
}

// check deploys payload through the controller (with and without --trust)
// and verifies it as agent dev1 would, and fails if they disagree on
// whether the manifest is acceptable or on what it says.
func (s *sides) check(t *testing.T, payload []byte) {
	env := sign(payload)
	// Controller: errors that are not about the manifest itself (blob not
	// uploaded, size differs from it, no target) still mean "parsed and
	// valid".
	ctlVerdict := func(f *fleet.Fleet) (wire.Deployment, bool) {
		d, err := f.Deploy(context.Background(), wire.DeployRequest{Envelope: env, AllowUnregistered: true})
		return d, err == nil || errors.Is(err, fleet.ErrUnknownBlob) || errors.Is(err, fleet.ErrBlobMismatch) || errors.Is(err, fleet.ErrNoTargets)
	}
	d, ctlOK := ctlVerdict(s.ctl)
	_, trustOK := ctlVerdict(s.ctlTrust)

	dm := &wire.DesiredModule{Deployment: "d", Envelope: env, Blob: s.ref}
	m, _, err := s.agent.Check(dm)
	agentOK := err == nil || errors.Is(err, verify.ErrNotTargeted) || errors.Is(err, verify.ErrBlobRef)
	if ctlOK != agentOK || trustOK != agentOK {
		t.Fatalf("controller accepts=%v (with --trust %v), agent accepts=%v (%v) for payload %q", ctlOK, trustOK, agentOK, err, payload)
	}
	if err == nil && d.ID != "" && (d.Module != m.Name || d.Version != m.Version || d.SHA256 != m.SHA256) {
		t.Fatalf("controller deployed %s %s %.12s, agent read %s %s %.12s", d.Module, d.Version, d.SHA256, m.Name, m.Version, m.SHA256)
	}
}

// TestAgreementCases are the shapes of case 9, run on every `make test`.
func TestAgreementCases(t *testing.T) {
	s := newSides(t)
	good := goodManifest()
	for _, p := range [][]byte{
		good,
		append(bytes.Clone(good), " {}"...),
		append(bytes.Clone(good), good...),
		bytes.Replace(good, []byte(`"name":"orders"`), []byte(`"name":"orders","name":"evil"`), 1),
		bytes.Replace(good, []byte(`"name":"orders"`), []byte(`"name":"orders","Name":"evil"`), 1),
		bytes.Replace(good, []byte(`"name":"orders"`), []byte(`"NAME":"orders"`), 1),
		bytes.Replace(good, []byte(`{`), []byte(`{"admin":true,`), 1),
		bytes.Replace(good, []byte(`"k":"v"`), []byte(`"k":"v","k":"w"`), 1),
		[]byte(`{}`), []byte(`null`), nil,
	} {
		s.check(t, p)
	}
}

// FuzzManifestAgreement mutates a valid manifest's bytes, signs them with
// the trusted key and requires controller and agent to agree.
func FuzzManifestAgreement(f *testing.F) {
	good := goodManifest()
	f.Add(good)
	f.Add(append(bytes.Clone(good), " {}"...))
	f.Add(bytes.Replace(good, []byte(`"name":"orders"`), []byte(`"name":"orders","Name":"x"`), 1))
	s := newSides(f)
	f.Fuzz(func(t *testing.T, payload []byte) { s.check(t, payload) })
}
