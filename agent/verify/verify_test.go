package verify

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	pub  ed25519.PublicKey
	key  ed25519.PrivateKey
	st   *store.Store
	v    *Verifier
	body []byte
}

func newFixture(t *testing.T) *fixture {
	pub, key, _ := ed25519.GenerateKey(nil)
	st, err := store.Open(t.TempDir(), nil, store.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 3*wire.ChunkSize/2)
	rand.Read(body)
	return &fixture{pub: pub, key: key, st: st, body: body,
		v: &Verifier{Keys: wire.NewKeyring(pub), Device: "dev1", Labels: map[string]string{"site": "a"}, Store: st}}
}

func (f *fixture) manifest(version string, body []byte) *wire.Manifest {
	sum := sha256.Sum256(body)
	return &wire.Manifest{Schema: 1, Name: "orders", Version: version, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), Created: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour),
		Targets: wire.Targets{Labels: map[string]string{"site": "a"}}}
}

// desired signs m with key and builds the DesiredModule and encoded blob.
func desired(t *testing.T, m *wire.Manifest, key ed25519.PrivateKey, body []byte) (*wire.DesiredModule, []byte) {
	t.Helper()
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	enc := gz(body)
	_, hashes := wire.SplitBlob(enc)
	return &wire.DesiredModule{Deployment: "d1", Envelope: *env, Blob: wire.BlobRef{SHA256: m.SHA256, Size: m.Size,
		Encoding: wire.EncodingGzip, Stored: int64(len(enc)), Chunks: hashes}}, enc
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// snapshot is every file under the store with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// install commits version with body, as a completed deployment would.
func (f *fixture) install(t *testing.T, version string, body []byte) *wire.Manifest {
	m := f.manifest(version, body)
	dm, enc := desired(t, m, f.key, body)
	got, d, err := f.v.Check(dm)
	if err != nil || d != Install {
		t.Fatalf("Check %s = %v, %v", version, d, err)
	}
	raw, err := Decode(got, &dm.Blob, enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutBlob(got.SHA256, got.Size, raw); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Stage(got, &dm.Envelope, dm.Deployment); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Commit(got.Name, got.Version); err != nil {
		t.Fatal(err)
	}
	return got
}

// signedPayload signs the JSON of manifest 3.0.0 of f.body after edit,
// without validation: a trusted signer's malformed manifest.
func (f *fixture) signedPayload(t *testing.T, edit func(string) string) (*wire.DesiredModule, []byte) {
	m := f.manifest("3.0.0", f.body)
	m.KeyID = wire.KeyID(f.pub)
	b, _ := json.Marshal(m)
	payload := []byte(edit(string(b)))
	dm, enc := desired(t, m, f.key, f.body)
	dm.Envelope.Payload = payload
	dm.Envelope.Signatures[0].Sig = ed25519.Sign(f.key, wire.PAE(wire.PayloadType, payload))
	return dm, enc
}

func TestRejections(t *testing.T) {
	f := newFixture(t)
	old := f.install(t, "2.0.0", []byte("version two"))
	if err := f.st.Quarantine(f.manifest("2.1.0", []byte("bad one")), "probe failed"); err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)

	tests := []struct {
		name  string
		build func() (*wire.DesiredModule, []byte) // desired module, encoded blob
		check bool                                 // fails in Check (else in Decode)
		want  []error
	}{
		{"unsigned", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Envelope.Signatures = nil
			return dm, enc
		}, true, []error{ErrSignature, wire.ErrUnsigned}},
		{"bit-flipped signature", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Envelope.Signatures[0].Sig[7] ^= 1
			return dm, enc
		}, true, []error{ErrSignature, wire.ErrBadSig}},
		{"bit-flipped manifest", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Envelope.Payload[20] ^= 1
			return dm, enc
		}, true, []error{ErrSignature, wire.ErrBadSig}},
		{"unknown key", func() (*wire.DesiredModule, []byte) {
			return desired(t, f.manifest("3.0.0", f.body), otherKey, f.body)
		}, true, []error{ErrSignature, wire.ErrUnknownKey}},
		{"expired", func() (*wire.DesiredModule, []byte) {
			m := f.manifest("3.0.0", f.body)
			m.Created, m.Expires = now.Add(-48*time.Hour), now.Add(-time.Hour)
			return desired(t, m, f.key, f.body)
		}, true, []error{ErrSignature, wire.ErrExpired}},
		{"wrong target", func() (*wire.DesiredModule, []byte) {
			m := f.manifest("3.0.0", f.body)
			m.Targets = wire.Targets{Nodes: []string{"dev2"}, Labels: map[string]string{"site": "b"}}
			return desired(t, m, f.key, f.body)
		}, true, []error{ErrNotTargeted}},
		{"replayed older version", func() (*wire.DesiredModule, []byte) {
			return desired(t, f.manifest("1.9.9", f.body), f.key, f.body)
		}, true, []error{ErrReplay}},
		{"same version, other digest", func() (*wire.DesiredModule, []byte) {
			return desired(t, f.manifest("2.0.0", f.body), f.key, f.body)
		}, true, []error{ErrReplay}},
		{"same version and digest, other port", func() (*wire.DesiredModule, []byte) {
			m := f.manifest("2.0.0", []byte("version two"))
			m.Port = 9999
			return desired(t, m, f.key, []byte("version two"))
		}, true, []error{ErrReplay}},
		{"same version and digest, other config", func() (*wire.DesiredModule, []byte) {
			m := f.manifest("2.0.0", []byte("version two"))
			m.Config = map[string]string{"greeting": "hello"}
			return desired(t, m, f.key, []byte("version two"))
		}, true, []error{ErrReplay}},
		{"quarantined manifest", func() (*wire.DesiredModule, []byte) {
			b := []byte("bad one")
			return desired(t, f.manifest("2.1.0", b), f.key, b)
		}, true, []error{ErrQuarantined}},
		{"quarantined manifest signed again (other times, targets)", func() (*wire.DesiredModule, []byte) {
			b := []byte("bad one")
			m := f.manifest("2.1.0", b)
			m.Created, m.Expires = m.Created.Add(time.Minute), m.Expires.Add(time.Hour)
			m.Targets.Nodes = []string{"dev1"}
			return desired(t, m, f.key, b)
		}, true, []error{ErrQuarantined}},
		{"oversize declared in blob ref", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Blob.Size = wire.MaxModuleSize + 1
			return dm, enc
		}, true, []error{ErrTooLarge}},
		{"oversize declared in signed manifest", func() (*wire.DesiredModule, []byte) {
			// wire.Sign refuses it, so sign the raw JSON by hand.
			m := f.manifest("3.0.0", f.body)
			m.Size, m.KeyID = wire.MaxModuleSize+1, wire.KeyID(f.pub)
			payload, _ := json.Marshal(m)
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Envelope.Payload = payload
			dm.Envelope.Signatures[0].Sig = ed25519.Sign(f.key, wire.PAE(wire.PayloadType, payload))
			dm.Blob.Size = m.Size
			return dm, enc
		}, true, []error{ErrSignature, wire.ErrManifest}},
		// Case 9 of issue 7: well-signed manifests that are malformed are
		// refused here exactly as the controller refuses them (one parser,
		// wire.ParseManifest).
		{"trailing data after the manifest", func() (*wire.DesiredModule, []byte) {
			return f.signedPayload(t, func(p string) string { return p + ` {}` })
		}, true, []error{ErrSignature, wire.ErrManifest, wire.ErrMalformed}},
		{"duplicate key in the manifest", func() (*wire.DesiredModule, []byte) {
			return f.signedPayload(t, func(p string) string {
				return strings.Replace(p, `"version":"3.0.0"`, `"version":"3.0.0","version":"9.0.0"`, 1)
			})
		}, true, []error{ErrSignature, wire.ErrManifest, wire.ErrMalformed}},
		{"case-variant key in the manifest", func() (*wire.DesiredModule, []byte) {
			return f.signedPayload(t, func(p string) string {
				return strings.Replace(p, `"version":"3.0.0"`, `"version":"3.0.0","Version":"9.0.0"`, 1)
			})
		}, true, []error{ErrSignature, wire.ErrManifest, wire.ErrMalformed}},
		{"unknown field in the manifest", func() (*wire.DesiredModule, []byte) {
			return f.signedPayload(t, func(p string) string { return strings.Replace(p, `{`, `{"admin":true,`, 1) })
		}, true, []error{ErrSignature, wire.ErrManifest, wire.ErrMalformed}},
		{"blob ref digest differs", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			dm.Blob.SHA256 = old.SHA256
			return dm, enc
		}, true, []error{ErrBlobRef}},
		{"bit-flipped module", func() (*wire.DesiredModule, []byte) {
			dm, _ := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			flipped := bytes.Clone(f.body)
			flipped[100] ^= 1
			enc := gz(flipped)
			dm.Blob.Stored = int64(len(enc))
			return dm, enc
		}, false, []error{ErrDigest}},
		{"truncated transfer", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			return dm, enc[:len(enc)-wire.ChunkSize/2]
		}, false, []error{ErrTruncated}},
		{"truncated gzip stream", func() (*wire.DesiredModule, []byte) {
			dm, enc := desired(t, f.manifest("3.0.0", f.body), f.key, f.body)
			enc = enc[:len(enc)-100]
			dm.Blob.Stored = int64(len(enc))
			return dm, enc
		}, false, []error{ErrTruncated}},
		{"zip bomb", func() (*wire.DesiredModule, []byte) {
			small := make([]byte, 1000)
			dm, _ := desired(t, f.manifest("3.0.0", small), f.key, small)
			enc := gz(make([]byte, 4<<20)) // 4 MiB of zeros in ~4 KiB
			dm.Blob.Stored = int64(len(enc))
			return dm, enc
		}, false, []error{ErrOversize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, f.st.Dir())
			dm, enc := tt.build()
			m, _, err := f.v.Check(dm)
			if !tt.check {
				if err != nil {
					t.Fatalf("Check = %v, want pass", err)
				}
				_, err = Decode(m, &dm.Blob, enc)
			}
			if !errors.Is(err, ErrRejected) {
				t.Errorf("err = %v, want ErrRejected", err)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			after := snapshot(t, f.st.Dir())
			if len(before) != len(after) {
				t.Errorf("store changed: %d files before, %d after", len(before), len(after))
			}
			for p, c := range before {
				if after[p] != c {
					t.Errorf("store file %s changed", p)
				}
			}
		})
	}
}

func TestDuplicateDeliveryIsNotARejection(t *testing.T) {
	f := newFixture(t)
	m := f.manifest("1.0.0", f.body)
	dm, enc := desired(t, m, f.key, f.body)
	f.install(t, "1.0.0", f.body)
	_, d, err := f.v.Check(dm)
	if err != nil || d != Installed {
		t.Errorf("Check duplicate = %v, %v; want Installed, nil", d, err)
	}
	_ = enc
	// Pushed again: signed anew (other times), same settings: Installed.
	again := f.manifest("1.0.0", f.body)
	again.Created, again.Expires = again.Created.Add(time.Minute), again.Expires.Add(time.Hour)
	again.Targets.Labels = map[string]string{"site": "a"}
	dmAgain, _ := desired(t, again, f.key, f.body)
	if _, d, err := f.v.Check(dmAgain); err != nil || d != Installed {
		t.Errorf("Check re-signed push of the same version = %v, %v; want Installed, nil", d, err)
	}
	// A newer one is an Install; the same bytes under a newer version too.
	dm2, _ := desired(t, f.manifest("1.0.1", f.body), f.key, f.body)
	if _, d, err := f.v.Check(dm2); err != nil || d != Install {
		t.Errorf("Check newer = %v, %v; want Install", d, err)
	}
}

func TestUppercaseDigestsNormalised(t *testing.T) {
	f := newFixture(t)
	m := f.manifest("1.0.0", f.body)
	m.SHA256 = strings.ToUpper(m.SHA256)
	dm, enc := desired(t, m, f.key, f.body)
	for i := range dm.Blob.Chunks {
		dm.Blob.Chunks[i] = strings.ToUpper(dm.Blob.Chunks[i])
	}
	got, _, err := f.v.Check(dm)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Decode(got, &dm.Blob, enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutBlob(got.SHA256, got.Size, raw); err != nil {
		t.Errorf("store refuses the normalised digest: %v", err)
	}
	if err := f.st.Partial(&dm.Blob).Put(0, enc[:wire.ChunkSize]); err != nil {
		t.Errorf("store refuses a chunk of a normalised ref: %v", err)
	}
}

func TestClockIn1970(t *testing.T) {
	f := newFixture(t)
	f.install(t, "1.0.0", f.body) // Check ran at the 2026 clock
	if err := f.st.ObserveTime(now); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(f.st.Dir(), nil, store.Options{Clock: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	f.v.Store = st
	m := f.manifest("2.0.0", f.body)
	m.Created, m.Expires = now.Add(-48*time.Hour), now.Add(-time.Minute)
	dm, _ := desired(t, m, f.key, f.body)
	if _, _, err := f.v.Check(dm); !errors.Is(err, wire.ErrExpired) {
		t.Errorf("expired manifest on a 1970 board: err = %v, want ErrExpired", err)
	}
}

// TestQuarantineIsPerManifest: what failed is a manifest (these bytes
// with these settings), not the bytes: the same binary under a new
// version, or with a corrected configuration, is a new attempt. A
// digest-wide quarantine used to refuse a corrected --db of the very
// binary that was serving, for good.
func TestQuarantineIsPerManifest(t *testing.T) {
	f := newFixture(t)
	f.install(t, "1.0.0", f.body)
	bad := f.manifest("1.1.0", f.body) // the serving bytes, with a bad setting
	bad.Bindings.DB = "nosuch"
	if err := f.st.Quarantine(bad, "crash loop: 5 crashes in 1m"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(m *wire.Manifest)
		want error
	}{
		{"the quarantined manifest", func(m *wire.Manifest) { m.Bindings.DB = "nosuch" }, ErrQuarantined},
		{"same bytes and version, corrected binding", func(m *wire.Manifest) { m.Bindings.DB = "sqlite" }, nil},
		{"same bytes and version, other config", func(m *wire.Manifest) {
			m.Bindings.DB = "nosuch"
			m.Config = map[string]string{"k": "v"}
		}, nil},
		{"same bytes and settings, new version", func(m *wire.Manifest) {
			m.Bindings.DB = "nosuch"
			m.Version = "1.1.1"
		}, nil},
	} {
		m := f.manifest("1.1.0", f.body)
		tc.edit(m)
		dm, _ := desired(t, m, f.key, f.body)
		_, d, err := f.v.Check(dm)
		if tc.want == nil && (err != nil || d != Install) {
			t.Errorf("%s: Check = %v, %v; want Install", tc.name, d, err)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Check err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The operator clears the module's quarantine: the manifest may run
	// again; the clear is applied once per count.
	if n, err := f.st.ClearQuarantine("orders", 1); err != nil || n != 1 {
		t.Fatalf("ClearQuarantine = %d, %v; want 1 entry removed", n, err)
	}
	dm, _ := desired(t, bad, f.key, f.body)
	if _, d, err := f.v.Check(dm); err != nil || d != Install {
		t.Errorf("after the clear: Check = %v, %v; want Install", d, err)
	}
	f.st.Quarantine(bad, "failed again")
	if n, _ := f.st.ClearQuarantine("orders", 1); n != 0 {
		t.Errorf("the same clear applied twice removed %d entries", n)
	}
}

// TestOperatorRollback: a downgrade is a new statement one epoch higher,
// signed by the operator; a replay of anything signed before it, the
// original manifest of the very version rolled back to included, is
// refused, and so is a plain push of an older version (with a hint).
func TestOperatorRollback(t *testing.T) {
	f := newFixture(t)
	v100 := []byte("version 1.0.0")
	f.install(t, "1.0.0", v100)
	original, _ := desired(t, f.manifest("1.0.0", v100), f.key, v100) // kept by an attacker
	v130 := []byte("version 1.3.0")
	f.install(t, "1.3.0", v130)

	// A push of 1.0.0 the normal way is refused, saying what to do.
	_, _, err := f.v.Check(original)
	if !errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), "edgectl rollback orders --to 1.0.0") {
		t.Errorf("plain push of 1.0.0 over 1.3.0: %v, want ErrReplay naming edgectl rollback", err)
	}
	// The operator's rollback: 1.0.0 again, epoch 1.
	rb := f.manifest("1.0.0", v100)
	rb.Schema, rb.Epoch = wire.ManifestSchemaEpoch, 1
	rbdm, enc := desired(t, rb, f.key, v100)
	m, d, err := f.v.Check(rbdm)
	if err != nil || d != Install {
		t.Fatalf("rollback statement: Check = %v, %v; want Install", d, err)
	}
	raw, _ := Decode(m, &rbdm.Blob, enc)
	f.st.PutBlob(m.SHA256, m.Size, raw)
	if err := f.st.Stage(m, &rbdm.Envelope, "rb"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Commit("orders", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if ms := f.st.Module("orders"); ms.Current != "1.0.0" || ms.Epoch != 1 || ms.Highest != "1.0.0" || ms.LastGood != "" {
		t.Errorf("after the rollback: current %s, floor (%d, %s), last-good %q; want 1.0.0, (1, 1.0.0), none",
			ms.Current, ms.Epoch, ms.Highest, ms.LastGood)
	}
	v140 := f.manifest("1.4.0", []byte("version 1.4.0"))
	for _, tc := range []struct {
		name string
		dm   *wire.DesiredModule
		want Decision
		text string
	}{
		{"replay of the original 1.0.0", original, 0, "signed before the operator's rollback"},
		{"replay of 1.3.0", func() *wire.DesiredModule { dm, _ := desired(t, f.manifest("1.3.0", v130), f.key, v130); return dm }(), 0, "signed before"},
		{"1.4.0 at the old epoch", func() *wire.DesiredModule { dm, _ := desired(t, v140, f.key, []byte("version 1.4.0")); return dm }(), 0, "epoch 0"},
		{"the rollback delivered again", rbdm, Installed, ""},
		{"1.4.0 at the new epoch", func() *wire.DesiredModule {
			m := *v140
			m.Schema, m.Epoch = wire.ManifestSchemaEpoch, 1
			dm, _ := desired(t, &m, f.key, []byte("version 1.4.0"))
			return dm
		}(), Install, ""},
	} {
		_, d, err := f.v.Check(tc.dm)
		switch {
		case tc.want == 0 && (!errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), tc.text)):
			t.Errorf("%s: err %v, want ErrReplay saying %q", tc.name, err, tc.text)
		case tc.want != 0 && (err != nil || d != tc.want):
			t.Errorf("%s: Check = %v, %v; want %v", tc.name, d, err, tc.want)
		}
	}
}
