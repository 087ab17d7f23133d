package edgectl

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestResign: a rollback statement copies the earlier manifest's module,
// bytes and settings, with new times, targets and a higher epoch, and is
// made only from an envelope the operator's own key signed: what the
// controller hands edgectl is not trusted.
func TestResign(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	sum := sha256.Sum256([]byte("module 1.0.0"))
	old := &wire.Manifest{Schema: 1, Name: "orders", Version: "1.0.0", SHA256: hex.EncodeToString(sum[:]), Size: 12,
		Created: time.Now().Add(-60 * 24 * time.Hour).UTC().Truncate(time.Second), Targets: wire.Targets{Nodes: []string{"a"}},
		Port: 8080, Bindings: wire.Bindings{DB: "sqlite"}, Config: map[string]string{"k": "v"}}
	old.Expires = old.Created.Add(30 * 24 * time.Hour) // expired long ago: still re-signable
	src := func(k ed25519.PrivateKey, m *wire.Manifest) wire.PlanSource {
		env, err := wire.Sign(m, k)
		if err != nil {
			t.Fatal(err)
		}
		return wire.PlanSource{PlanVersion: wire.PlanVersion{Deployment: "d-1", Version: m.Version, SHA256: m.SHA256}, Envelope: *env}
	}
	now := time.Now()
	env, err := resign(src(key, old), key, 3, wire.Targets{Nodes: []string{"a", "b"}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.NewKeyring(key.Public().(ed25519.PublicKey)).Verify(env, now)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Epoch != 3 || m.Schema != wire.ManifestSchemaEpoch:
		t.Errorf("epoch %d schema %d, want 3 and 2", m.Epoch, m.Schema)
	case m.Version != "1.0.0" || m.SHA256 != old.SHA256 || m.Port != 8080 || m.Bindings.DB != "sqlite" || m.Config["k"] != "v":
		t.Errorf("re-signed manifest %+v does not name the same module, bytes and settings", m)
	case strings.Join(m.Targets.Nodes, ",") != "a,b" || !m.Expires.After(now):
		t.Errorf("targets %v, expires %v: want the new ones", m.Targets, m.Expires)
	}

	if _, err := resign(src(other, old), key, 3, old.Targets, now, time.Hour); err == nil || !strings.Contains(err.Error(), "not signed by your key") {
		t.Errorf("re-signing another key's envelope: %v, want a refusal", err)
	}
	lying := src(key, old)
	lying.Version = "0.9.0" // the controller describes another version
	if _, err := resign(lying, key, 3, old.Targets, now, time.Hour); err == nil || !strings.Contains(err.Error(), "describes") {
		t.Errorf("a source the controller misdescribes: %v, want a refusal", err)
	}
	tampered := src(key, old)
	tampered.Envelope.Payload = []byte(strings.Replace(string(tampered.Envelope.Payload), `"port":8080`, `"port":8081`, 1))
	if _, err := resign(tampered, key, 3, old.Targets, now, time.Hour); err == nil {
		t.Error("a tampered envelope was re-signed")
	}
}
