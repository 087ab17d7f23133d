package wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	m := validManifest()
	env, err := Sign(m, priv)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	// The envelope travels as JSON: verify what comes out of a round trip.
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var got Envelope
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	vm, err := NewKeyring(pub).Verify(&got, testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if vm.Name != m.Name || vm.Version != m.Version || vm.SHA256 != m.SHA256 || vm.KeyID != KeyID(pub) {
		t.Errorf("verified manifest = %+v, want %+v", vm, m)
	}
	if !vm.Created.Equal(m.Created) || !vm.Expires.Equal(m.Expires) {
		t.Errorf("times = %v..%v, want %v..%v", vm.Created, vm.Expires, m.Created, m.Expires)
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, priv := newKey(t)
	_, other := newKey(t)
	ring := NewKeyring(pub)

	good := func() *Envelope {
		env, err := Sign(validManifest(), priv)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return env
	}
	mutated := func(f func(m *Manifest)) func() *Envelope {
		return func() *Envelope {
			m := validManifest()
			f(m)
			return signManifest(t, m, priv)
		}
	}
	validPayload, err := json.Marshal(validManifest())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		env  func() *Envelope
		now  time.Time
		want error
	}{
		{"unsigned", func() *Envelope { e := good(); e.Signatures = nil; return e }, testNow, ErrUnsigned},
		{"empty signature list", func() *Envelope { e := good(); e.Signatures = []Signature{}; return e }, testNow, ErrUnsigned},
		{"payload bit flipped", func() *Envelope { e := good(); e.Payload[len(e.Payload)/2] ^= 0x01; return e }, testNow, ErrBadSig},
		{"signature bit flipped", func() *Envelope { e := good(); e.Signatures[0].Sig[10] ^= 0x80; return e }, testNow, ErrBadSig},
		{"signature truncated", func() *Envelope { e := good(); e.Signatures[0].Sig = e.Signatures[0].Sig[:10]; return e }, testNow, ErrBadSig},
		{"signature empty", func() *Envelope { e := good(); e.Signatures[0].Sig = nil; return e }, testNow, ErrBadSig},
		{"unknown key", func() *Envelope { e, _ := Sign(validManifest(), other); return e }, testNow, ErrUnknownKey},
		{"trusted key id, other key's signature", func() *Envelope {
			e, _ := Sign(validManifest(), other)
			e.Signatures[0].KeyID = KeyID(pub)
			return e
		}, testNow, ErrBadSig},
		{"wrong payload type", func() *Envelope { e := good(); e.PayloadType = "application/json"; return e }, testNow, ErrPayloadType},
		{"signed under another payload type", func() *Envelope {
			e := signRaw("application/json", validPayload, priv)
			e.PayloadType = PayloadType
			return e
		}, testNow, ErrBadSig},
		{"expired", good, validManifest().Expires.Add(time.Second), ErrExpired},
		{"unknown field", func() *Envelope {
			p := bytes.Replace(validPayload, []byte(`{`), []byte(`{"evil":true,`), 1)
			return signRaw(PayloadType, p, priv)
		}, testNow, ErrManifest},
		{"trailing data", func() *Envelope {
			return signRaw(PayloadType, append(bytes.Clone(validPayload), []byte(` {}`)...), priv)
		}, testNow, ErrManifest},
		{"not json", func() *Envelope { return signRaw(PayloadType, []byte("hello"), priv) }, testNow, ErrManifest},
		{"oversize payload", func() *Envelope {
			m := validManifest()
			m.Config = map[string]string{"pad": strings.Repeat("x", MaxManifestSize)}
			return signManifest(t, m, priv)
		}, testNow, ErrManifest},
		{"invalid manifest: schema", mutated(func(m *Manifest) { m.Schema = 4 }), testNow, ErrManifest},
		{"invalid manifest: epoch in schema 1", mutated(func(m *Manifest) { m.Epoch = 1 }), testNow, ErrManifest},
		{"invalid manifest: name", mutated(func(m *Manifest) { m.Name = "../etc" }), testNow, ErrManifest},
		{"invalid manifest: version", mutated(func(m *Manifest) { m.Version = "v1" }), testNow, ErrManifest},
		{"invalid manifest: sha256", mutated(func(m *Manifest) { m.SHA256 = "abc" }), testNow, ErrManifest},
		{"invalid manifest: size", mutated(func(m *Manifest) { m.Size = MaxModuleSize + 1 }), testNow, ErrManifest},
		{"invalid manifest: expires before created", mutated(func(m *Manifest) { m.Expires = m.Created }), testNow, ErrManifest},
		{"invalid manifest: port", mutated(func(m *Manifest) { m.Port = 70000 }), testNow, ErrManifest},
		{"invalid manifest: db", mutated(func(m *Manifest) { m.Bindings.DB = "a/b" }), testNow, ErrManifest},
		{"invalid manifest: limits", mutated(func(m *Manifest) { m.Limits.Pool = -1 }), testNow, ErrManifest},
		{"invalid manifest: probe", mutated(func(m *Manifest) { m.Probe.Path = "health" }), testNow, ErrManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ring.Verify(tt.env(), tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("Verify returned a manifest with error %v", err)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	oldPub, oldPriv := newKey(t)
	newPub, newPriv := newKey(t)
	_, strangerPriv := newKey(t)
	ring := NewKeyring(oldPub, newPub)

	for name, key := range map[string][]byte{"old": oldPriv, "new": newPriv} {
		env, err := Sign(validManifest(), key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Verify(env, testNow); err != nil {
			t.Errorf("%s key: Verify = %v, want nil", name, err)
		}
	}

	// An envelope signed by an untrusted key and a trusted one verifies:
	// unknown signatures are skipped, a known bad one is not.
	env, _ := Sign(validManifest(), newPriv)
	stranger := signRaw(PayloadType, env.Payload, strangerPriv)
	env.Signatures = append(stranger.Signatures, env.Signatures...)
	if _, err := ring.Verify(env, testNow); err != nil {
		t.Errorf("stranger+new: Verify = %v, want nil", err)
	}
	env.Signatures[1].Sig[0] ^= 1
	if _, err := ring.Verify(env, testNow); !errors.Is(err, ErrBadSig) {
		t.Errorf("stranger+corrupt new: Verify = %v, want ErrBadSig", err)
	}
}

func TestSignRejectsInvalidManifest(t *testing.T) {
	_, priv := newKey(t)
	m := validManifest()
	m.Version = "latest"
	if env, err := Sign(m, priv); !errors.Is(err, ErrManifest) || env != nil {
		t.Errorf("Sign = %v, %v; want nil, ErrManifest", env, err)
	}
}

func TestPAE(t *testing.T) {
	// Example from the DSSE specification's protocol document.
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	privPEM, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	gotPriv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	if !gotPriv.Equal(priv) {
		t.Error("private key changed in round trip")
	}
	gotPub, err := ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if !gotPub.Equal(pub) {
		t.Error("public key changed in round trip")
	}
	if KeyID(gotPub) != KeyID(pub) || len(KeyID(pub)) != 16 {
		t.Errorf("KeyID = %q, want 16 hex digits equal to %q", KeyID(gotPub), KeyID(pub))
	}
}

func TestKeyPEMErrors(t *testing.T) {
	pub, priv := newKey(t)
	privPEM, _ := MarshalPrivateKey(priv)
	pubPEM, _ := MarshalPublicKey(pub)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPrivDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPriv := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPrivDER})
	ecPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})
	garbageBlock := func(typ string) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte("garbage")}) }

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a pem file")},
		{"raw key bytes", priv},
		{"certificate block", garbageBlock("CERTIFICATE")},
		{"openssh block", garbageBlock("OPENSSH PRIVATE KEY")},
		{"ecdsa key", nil}, // filled per parser below
	}
	for _, tt := range tests {
		t.Run("private/"+tt.name, func(t *testing.T) {
			data := tt.data
			if tt.name == "ecdsa key" {
				data = ecPriv
			}
			if k, err := ParsePrivateKey(data); err == nil {
				t.Errorf("ParsePrivateKey = %x, want error", k)
			}
		})
		t.Run("public/"+tt.name, func(t *testing.T) {
			data := tt.data
			if tt.name == "ecdsa key" {
				data = ecPub
			}
			if k, err := ParsePublicKey(data); err == nil {
				t.Errorf("ParsePublicKey = %x, want error", k)
			}
		})
	}
	// Each parser refuses the other's file.
	if _, err := ParsePrivateKey(pubPEM); err == nil {
		t.Error("ParsePrivateKey(public key PEM) = nil error")
	}
	if _, err := ParsePublicKey(privPEM); err == nil {
		t.Error("ParsePublicKey(private key PEM) = nil error")
	}
	// A right block type with a broken body.
	if _, err := ParsePrivateKey(garbageBlock("PRIVATE KEY")); err == nil {
		t.Error("ParsePrivateKey(garbage PRIVATE KEY) = nil error")
	}
	if _, err := ParsePublicKey(garbageBlock("PUBLIC KEY")); err == nil {
		t.Error("ParsePublicKey(garbage PUBLIC KEY) = nil error")
	}
}

// TestVerifyKeyIDMismatch: a manifest that names another key than the one
// whose signature verified is refused, so a manifest cannot claim to come
// from a key that did not sign it.
func TestVerifyKeyIDMismatch(t *testing.T) {
	pubA, privA := newKey(t)
	pubB, _ := newKey(t)
	m := validManifest()
	m.KeyID = KeyID(pubB)
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	env := signRaw(PayloadType, payload, privA)
	_, err = NewKeyring(pubA, pubB).Verify(env, testNow)
	if !errors.Is(err, ErrManifest) {
		t.Fatalf("Verify = %v, want ErrManifest", err)
	}
}
