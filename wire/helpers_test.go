package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// testNow is the verification time of the tests: inside validManifest's
// validity window.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return pub, priv
}

func validManifest() *Manifest {
	return &Manifest{
		Schema:  ManifestSchema,
		Name:    "orders",
		Version: "1.4.0",
		SHA256:  strings.Repeat("ab", 32),
		Size:    1234,
		Created: testNow.Add(-time.Hour),
		Expires: testNow.Add(30 * 24 * time.Hour),
		Targets: Targets{Nodes: []string{"pi-1"}},
		Port:    8080,
	}
}

// signRaw signs payload as it is, without validating it, so tests can
// produce envelopes that carry invalid manifests with good signatures.
func signRaw(payloadType string, payload []byte, key ed25519.PrivateKey) *Envelope {
	id := KeyID(key.Public().(ed25519.PublicKey))
	return &Envelope{
		PayloadType: payloadType,
		Payload:     payload,
		Signatures:  []Signature{{KeyID: id, Sig: ed25519.Sign(key, PAE(payloadType, payload))}},
	}
}

// signManifest encodes m as it is (no Validate) and signs it.
func signManifest(t testing.TB, m *Manifest, key ed25519.PrivateKey) *Envelope {
	t.Helper()
	m.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal manifest: %v", err)
	}
	return signRaw(PayloadType, payload, key)
}
