package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
)

// fuzzKey is a fixed key so that seeds can carry valid signatures.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func fuzzPub() ed25519.PublicKey { return fuzzKey.Public().(ed25519.PublicKey) }

func FuzzDecodeChunk(f *testing.F) {
	blob := sha256.Sum256([]byte("blob"))
	f.Add(AppendChunk(nil, &Chunk{Blob: blob, Index: 0, Total: 1, Data: []byte("data")}))
	f.Add(AppendChunk(nil, &Chunk{Blob: blob, Index: 1, Total: 2, Data: []byte{0}}))
	f.Add(AppendChunk(nil, &Chunk{Index: 0, Total: 0, Data: nil}))
	f.Add([]byte("EDGC"))
	f.Add([]byte{})
	raw := bytes.Repeat([]byte("m"), 100)
	ref, _ := blobRef(raw, raw)

	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChunk(b)
		if err != nil {
			return
		}
		if c.Total == 0 || c.Index >= c.Total || c.Total > MaxChunks || len(c.Data) == 0 || len(c.Data) > ChunkSize {
			t.Fatalf("DecodeChunk accepted out-of-range chunk: index %d total %d, %d bytes", c.Index, c.Total, len(c.Data))
		}
		if got := AppendChunk(nil, &c); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs from the accepted frame")
		}
		_ = ref.CheckChunk(&c) // must not panic, whatever the index
	})
}

// FuzzVerifyEnvelope decodes arbitrary bytes as an envelope and verifies it.
// Nothing may panic, and nothing may be accepted unless the envelope carries
// a genuine signature by the trusted key over exactly its payload.
func FuzzVerifyEnvelope(f *testing.F) {
	m := validManifest()
	env, err := Sign(m, fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(env)
	f.Add(good)
	env.Signatures = append(env.Signatures, Signature{KeyID: "0000000000000000", Sig: []byte("x")})
	twoSigs, _ := json.Marshal(env)
	f.Add(twoSigs)
	f.Add([]byte(`{"payloadType":"` + PayloadType + `","payload":"e30=","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"` + PayloadType + `","payload":"e30=","signatures":[{"keyid":"` + KeyID(fuzzPub()) + `","sig":"AAAA"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	ring := NewKeyring(fuzzPub())

	f.Fuzz(func(t *testing.T, b []byte) {
		var e Envelope
		if json.Unmarshal(b, &e) != nil {
			return
		}
		got, err := ring.Verify(&e, testNow)
		if err != nil {
			if got != nil {
				t.Fatalf("Verify returned a manifest with error %v", err)
			}
			return
		}
		if e.PayloadType != PayloadType {
			t.Fatalf("accepted payload type %q", e.PayloadType)
		}
		var signed bool
		for _, s := range e.Signatures {
			if s.KeyID == KeyID(fuzzPub()) && ed25519.Verify(fuzzPub(), PAE(e.PayloadType, e.Payload), s.Sig) {
				signed = true
			}
		}
		if !signed {
			t.Fatalf("accepted an envelope without a valid signature by the trusted key")
		}
		checkAccepted(t, got)
	})
}

// FuzzVerifyPayload signs arbitrary payload bytes with the trusted key, so
// the fuzzer reaches the manifest decoder behind the signature check: a
// trusted signer's mistakes must still never yield an invalid manifest.
func FuzzVerifyPayload(f *testing.F) {
	good, _ := json.Marshal(validManifest())
	f.Add(good)
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"schema":1,"Name":"x"}{}`))
	f.Add([]byte(`[]`))
	ring := NewKeyring(fuzzPub())

	f.Fuzz(func(t *testing.T, payload []byte) {
		e := signRaw(PayloadType, payload, fuzzKey)
		got, err := ring.Verify(e, testNow)
		if err != nil {
			return
		}
		checkAccepted(t, got)
		if len(payload) > MaxManifestSize {
			t.Fatalf("accepted a %d-byte payload", len(payload))
		}
	})
}

func checkAccepted(t *testing.T, m *Manifest) {
	t.Helper()
	if m == nil {
		t.Fatal("Verify returned nil manifest and nil error")
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("accepted manifest fails Validate: %v", err)
	}
	if testNow.After(m.Expires) {
		t.Fatalf("accepted expired manifest (expires %v)", m.Expires)
	}
}

func FuzzParseDeviceTopic(f *testing.F) {
	for _, s := range []string{
		"edge/v1/dev/pi-1/status", "edge/v1/dev/+/status", "edge/v1/dev/#",
		"edge/v1/dev//x", "edge/v1/dev/a/b/c", "edge/v1/dev/pi-1/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		id, kind, err := ParseDeviceTopic(topic)
		if err != nil {
			if id != "" || kind != "" {
				t.Fatalf("ParseDeviceTopic(%q) = %q, %q with error %v", topic, id, kind, err)
			}
			return
		}
		if ValidateDeviceID(id) != nil || strings.ContainsAny(id, "+#/") || len(id) > 63 {
			t.Fatalf("ParseDeviceTopic(%q) accepted id %q", topic, id)
		}
		if kind == "" || strings.Contains(kind, "/") {
			t.Fatalf("ParseDeviceTopic(%q) accepted kind %q", topic, kind)
		}
		if got := DeviceTopic(id, kind); got != topic {
			t.Fatalf("DeviceTopic(%q, %q) = %q, want %q", id, kind, got, topic)
		}
	})
}
