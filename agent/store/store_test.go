package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

func open(t *testing.T, dir string, clock func() time.Time) *Store {
	t.Helper()
	s, err := Open(dir, nil, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stageVersion signs a manifest for module bytes, stores the blob and
// stages it, like the reconciler does after a verified transfer.
func stageVersion(t *testing.T, s *Store, name, version string, body []byte) *wire.Manifest {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	sum := sha256.Sum256(body)
	m := &wire.Manifest{Schema: 1, Name: name, Version: version, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), Created: time.Now().Add(-time.Hour), Expires: time.Now().Add(time.Hour),
		Targets: wire.Targets{Nodes: []string{"dev1"}}}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob(m.SHA256, m.Size, body); err != nil {
		t.Fatal(err)
	}
	if err := s.Stage(m, env, "dep-"+version); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	open(t, dir, nil)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
	}
}

func TestPutBlob(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	body := []byte("\x00asm module")
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	if err := s.PutBlob(sha, int64(len(body)), append([]byte{}, "\x00asm MODULE"...)); !errors.Is(err, ErrDigest) {
		t.Errorf("wrong bytes: err = %v, want ErrDigest", err)
	}
	if err := s.PutBlob(sha, int64(len(body))+1, body); !errors.Is(err, ErrDigest) {
		t.Errorf("wrong size: err = %v, want ErrDigest", err)
	}
	if s.HasBlob(sha) {
		t.Fatal("a refused blob was written")
	}
	if err := s.PutBlob(sha, int64(len(body)), body); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadBlob(sha, int64(len(body)))
	if err != nil || string(got) != string(body) {
		t.Errorf("ReadBlob = %q, %v", got, err)
	}
}

func TestPartialSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	encoded := make([]byte, 2*wire.ChunkSize+100)
	rand.Read(encoded)
	chunks, hashes := wire.SplitBlob(encoded)
	ref := &wire.BlobRef{SHA256: hex.EncodeToString(make([]byte, 32)), Size: 1, Encoding: wire.EncodingGzip,
		Stored: int64(len(encoded)), Chunks: hashes}

	s := open(t, dir, nil)
	p := s.Partial(ref)
	if err := p.Put(1, chunks[0]); !errors.Is(err, ErrDigest) {
		t.Errorf("wrong chunk at index: err = %v, want ErrDigest", err)
	}
	if err := p.Put(0, chunks[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(2, chunks[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Assemble(); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Assemble with a gap: err = %v, want ErrIncomplete", err)
	}

	// "Restart": a new Store on the same folder sees the chunks.
	s2 := open(t, dir, nil)
	p2 := s2.Partial(ref)
	if got := p2.Missing(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("Missing after restart = %v, want [1]", got)
	}
	// A damaged chunk file is detected and refetched, not used.
	os.WriteFile(filepath.Join(dir, "partial", ref.SHA256, "2"), []byte("torn"), 0o600)
	if p2.Have(2) {
		t.Error("damaged chunk counted as present")
	}
	p2.Put(1, chunks[1])
	p2.Put(2, chunks[2])
	got, err := p2.Assemble()
	if err != nil || string(got) != string(encoded) {
		t.Fatalf("Assemble = %d bytes, %v", len(got), err)
	}
	if err := p2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "partial", ref.SHA256)); !os.IsNotExist(err) {
		t.Errorf("partial dir not cleaned: %v", err)
	}
}

func TestCommitRollbackPrune(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	var ms []*wire.Manifest
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
		m := stageVersion(t, s, "orders", v, []byte("module "+v))
		if v != "2.0.0" {
			if err := s.Commit("orders", v); err != nil {
				t.Fatal(err)
			}
		}
		ms = append(ms, m)
	}
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil) // everything must be on disk
	st := s.Module("orders")
	if st.Current != "1.2.0" || st.LastGood != "1.1.0" || st.Pending != "2.0.0" || st.Highest != "1.2.0" {
		t.Errorf("state = %+v", st)
	}
	if len(st.Versions) != 3 || st.Versions["1.0.0"] != nil {
		t.Errorf("versions kept = %v, want 1.1.0 1.2.0 2.0.0", keys(st.Versions))
	}
	for i, m := range ms {
		if want := i > 0; s.HasBlob(m.SHA256) != want {
			t.Errorf("blob of %s kept = %v, want %v", m.Version, !want, want)
		}
	}

	// The pending version fails its probe: quarantined, not retried.
	if err := s.Quarantine(ms[3], "probe failed"); err != nil {
		t.Fatal(err)
	}
	if r, ok := s.Quarantined("orders", ms[3].SHA256); !ok || r != "probe failed" {
		t.Errorf("Quarantined = %q, %v", r, ok)
	}
	// The current one crash-loops later: back to last-good.
	back, err := s.Rollback("orders", "crash loop")
	if err != nil || back != "1.1.0" {
		t.Fatalf("Rollback = %q, %v", back, err)
	}
	if _, ok := s.Quarantined("orders", ms[2].SHA256); !ok {
		t.Error("rolled-back version not quarantined")
	}
	st = s.Module("orders")
	if st.Highest != "1.2.0" {
		t.Errorf("Highest after rollback = %s, want 1.2.0 (replay floor never drops)", st.Highest)
	}
}

// TestRollbackWithNothingQuarantined: a crash loop is often the first
// failure a module has, so Rollback must work with an empty quarantine
// (omitted from state.json, so nil after a reload).
func TestRollbackWithNothingQuarantined(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	var ms []*wire.Manifest
	for _, v := range []string{"1.0.0", "2.0.0"} {
		ms = append(ms, stageVersion(t, s, "orders", v, []byte("module "+v)))
		if err := s.Commit("orders", v); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, dir, nil)
	back, err := s.Rollback("orders", "crash loop: 5 crashes in 1m")
	if err != nil || back != "1.0.0" {
		t.Fatalf("Rollback = %q, %v", back, err)
	}
	if r, ok := s.Quarantined("orders", ms[1].SHA256); !ok || r != "crash loop: 5 crashes in 1m" {
		t.Errorf("Quarantined = %q, %v", r, ok)
	}
	if st := open(t, dir, nil).Module("orders"); st.Current != "1.0.0" || st.LastGood != "" {
		t.Errorf("after reload: current %q, last-good %q", st.Current, st.LastGood)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func TestTrustedTimeFloor(t *testing.T) {
	dir := t.TempDir()
	real := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := real
	s := open(t, dir, func() time.Time { return clock })
	if err := s.SaveClock(); err != nil {
		t.Fatal(err)
	}
	created := real.Add(time.Hour) // a manifest verified later
	if err := s.ObserveTime(created); err != nil {
		t.Fatal(err)
	}

	// Reboot with no RTC: the clock says 1970.
	clock = time.Unix(0, 0)
	s = open(t, dir, func() time.Time { return clock })
	if got := s.Now(); !got.Equal(created) {
		t.Errorf("Now = %v, want the floor %v", got, created)
	}
	if err := s.SaveClock(); err != nil || !s.Floor().Equal(created) {
		t.Errorf("SaveClock in 1970 moved the floor to %v (%v)", s.Floor(), err)
	}

	// A manifest that expired before the floor stays expired.
	pub, key, _ := ed25519.GenerateKey(nil)
	m := &wire.Manifest{Schema: 1, Name: "orders", Version: "1.0.0", SHA256: hex.EncodeToString(make([]byte, 32)),
		Size: 1, Created: real.Add(-48 * time.Hour), Expires: real.Add(-24 * time.Hour),
		Targets: wire.Targets{Nodes: []string{"dev1"}}}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.NewKeyring(pub).Verify(env, clock); err != nil {
		t.Fatalf("sanity: the raw 1970 clock accepts it: %v", err)
	}
	if _, err := wire.NewKeyring(pub).Verify(env, s.Now()); !errors.Is(err, wire.ErrExpired) {
		t.Errorf("Verify at Now() = %v, want ErrExpired", err)
	}

	// A sane clock ahead of the floor wins.
	clock = created.Add(time.Minute)
	if got := s.Now(); !got.Equal(clock) {
		t.Errorf("Now = %v, want the clock %v", got, clock)
	}
}

func TestBootVerifyDropsCorruptBlob(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	good := stageVersion(t, s, "orders", "1.0.0", []byte("good module"))
	bad := stageVersion(t, s, "inventory", "1.0.0", []byte("soon corrupted"))
	// Flip a bit on flash.
	p := s.BlobPath(bad.SHA256)
	b, _ := os.ReadFile(p)
	b[0] ^= 1
	os.WriteFile(p, b, 0o600)

	s = open(t, dir, nil)
	probs, err := s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Module != "inventory" || !errors.Is(probs[0].Err, ErrDigest) {
		t.Fatalf("problems = %v, want inventory's digest", probs)
	}
	if s.HasBlob(bad.SHA256) || !s.HasBlob(good.SHA256) {
		t.Errorf("after Verify: bad kept=%v good kept=%v", s.HasBlob(bad.SHA256), s.HasBlob(good.SHA256))
	}
}

func TestDesired(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	if _, _, err := s.LoadDesired(); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty store: err = %v, want ErrNotFound", err)
	}
	raw := []byte(`{"device":"dev1","generation":7,"modules":[]}`)
	if err := s.SaveDesired(7, raw); err != nil {
		t.Fatal(err)
	}
	gen, got, err := open(t, dir, nil).LoadDesired()
	if err != nil || gen != 7 || string(got) != string(raw) {
		t.Errorf("LoadDesired = %d, %s, %v", gen, got, err)
	}
}

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil).Outbox()
	for _, m := range []string{"a", "b", "c"} {
		if err := o.Append([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	e, _ := o.Peek()
	if err := o.Ack(e.Seq); err != nil {
		t.Fatal(err)
	}
	// Restart: order and content survive; new entries go after.
	o = open(t, dir, nil).Outbox()
	o.Append([]byte("d"))
	var got string
	for {
		e, ok := o.Peek()
		if !ok {
			break
		}
		got += string(e.Data)
		o.Ack(e.Seq)
	}
	if got != "bcd" {
		t.Errorf("drained %q, want bcd", got)
	}
}
