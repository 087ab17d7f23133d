package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// PayloadType is the DSSE payload type of a signed Manifest. It is part of
// what is signed, so a signature over some other document can never be
// passed off as a manifest signature.
const PayloadType = "application/vnd.edgeplane.manifest.v1+json"

// Envelope is a DSSE envelope (github.com/secure-systems-lab/dsse): the
// manifest's exact bytes and signatures over PAE(payloadType, payload).
// Payload is base64 in JSON (encoding/json's []byte encoding).
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature of an Envelope.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// Errors a verifier returns; each is wrapped with detail.
var (
	ErrUnsigned    = errors.New("envelope has no signature")
	ErrUnknownKey  = errors.New("signed by an untrusted key")
	ErrBadSig      = errors.New("bad signature")
	ErrPayloadType = errors.New("wrong payload type")
	ErrExpired     = errors.New("manifest expired")
)

// PAE is DSSE's pre-authentication encoding of the signed bytes:
// "DSSEv1" SP len(type) SP type SP len(body) SP body.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// KeyID identifies a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign encodes m, sets its KeyID and signs it with key.
func Sign(m *Manifest, key ed25519.PrivateKey) (*Envelope, error) {
	m.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	if err := m.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if len(payload) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %w (config values count toward it)", ErrManifest,
			&SizeError{What: "manifest " + m.Name + " " + m.Version, Size: int64(len(payload)), Limit: MaxManifestSize})
	}
	return &Envelope{
		PayloadType: PayloadType,
		Payload:     payload,
		Signatures:  []Signature{{KeyID: m.KeyID, Sig: ed25519.Sign(key, PAE(PayloadType, payload))}},
	}, nil
}

// Keyring is a set of trusted public keys by KeyID.
type Keyring map[string]ed25519.PublicKey

// NewKeyring builds a Keyring from public keys.
func NewKeyring(keys ...ed25519.PublicKey) Keyring {
	k := Keyring{}
	for _, pub := range keys {
		k[KeyID(pub)] = pub
	}
	return k
}

// Verify checks that e carries a valid signature by a key in k over a
// manifest payload, decodes and validates the manifest, and checks it is
// valid at time now (an agent without a real-time clock passes the later of
// its clock and the latest time it has verified, never its raw clock). It returns the manifest only when every check passed.
func (k Keyring) Verify(e *Envelope, now time.Time) (*Manifest, error) {
	if e.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: %q", ErrPayloadType, e.PayloadType)
	}
	if len(e.Payload) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %w", ErrManifest, &SizeError{What: "manifest", Size: int64(len(e.Payload)), Limit: MaxManifestSize})
	}
	if len(e.Signatures) == 0 {
		return nil, ErrUnsigned
	}
	if len(e.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("%w: %d signatures, at most %d", ErrManifest, len(e.Signatures), MaxSignatures)
	}
	pae := PAE(e.PayloadType, e.Payload)
	var verifiedBy []string
	var unknown []string
	for _, s := range e.Signatures {
		pub, ok := k[s.KeyID]
		if !ok {
			unknown = append(unknown, s.KeyID)
			continue
		}
		if !ed25519.Verify(pub, pae, s.Sig) {
			return nil, fmt.Errorf("%w by key %s", ErrBadSig, s.KeyID)
		}
		verifiedBy = append(verifiedBy, s.KeyID)
	}
	if len(verifiedBy) == 0 {
		return nil, fmt.Errorf("%w: key ids %q", ErrUnknownKey, unknown)
	}
	m, err := ParseManifest(e.Payload)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(verifiedBy, m.KeyID) {
		return nil, fmt.Errorf("%w: manifest names key %s, signed by %q", ErrManifest, m.KeyID, verifiedBy)
	}
	if now.After(m.Expires) {
		return nil, fmt.Errorf("%w: %s expired at %s (now %s)", ErrExpired, m.Name, m.Expires.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return m, nil
}

// PEM block types of key files written by edgectl keygen.
const (
	pemPrivate = "PRIVATE KEY" // PKCS #8
	pemPublic  = "PUBLIC KEY"  // PKIX
)

// MarshalPrivateKey encodes key as a PKCS #8 PEM block.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}), nil
}

// MarshalPublicKey encodes pub as a PKIX PEM block.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM file written by MarshalPrivateKey.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemPrivate {
		return nil, errors.New("parse private key: no PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T is not an ed25519 key", k)
	}
	return ek, nil
}

// ParsePublicKey decodes a PEM file written by MarshalPublicKey.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemPublic {
		return nil, errors.New("parse public key: no PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("parse public key: %T is not an ed25519 key", k)
	}
	return ek, nil
}
