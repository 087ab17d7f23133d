package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// module returns n bytes, half random and half compressible.
func module(n int) []byte {
	b := make([]byte, n)
	rand.Read(b[:n/2])
	for i := n / 2; i < n; i++ {
		b[i] = byte(i % 13)
	}
	return b
}

// TestPutBlobStreams checks that the streamed encoding is a valid gzip of
// the module and that its chunk hashes are wire.SplitBlob's.
func TestPutBlobStreams(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		for _, n := range []int{1, wire.ChunkSize, 3*wire.ChunkSize + 17, 2 << 20} {
			data := module(n)
			// A reader that hands out a few bytes at a time, as a network does.
			ref, created, err := s.PutBlobFrom(context.Background(), digestOf(data), iotestHalf{bytes.NewReader(data)}, t0)
			if err != nil || !created {
				t.Fatalf("%d bytes: PutBlobFrom = %v, created %v", n, err, created)
			}
			enc, err := os.ReadFile(s.encPath(ref.SHA256))
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(enc))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(raw, data) {
				t.Fatalf("%d bytes: encoding does not decode to the module (%v)", n, err)
			}
			_, hashes := wire.SplitBlob(enc)
			if ref.Size != int64(n) || ref.Stored != int64(len(enc)) || !slices.Equal(ref.Chunks, hashes) || ref.Validate() != nil {
				t.Fatalf("%d bytes: ref %+v does not describe the encoding (%d bytes, %d chunks)", n, ref, len(enc), len(hashes))
			}
			if got, err := os.ReadFile(s.rawPath(ref.SHA256)); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: raw file differs (%v)", n, err)
			}
			for i := range ref.Chunks {
				if _, err := s.ReadChunk(ref, i); err != nil {
					t.Fatalf("ReadChunk(%d): %v", i, err)
				}
			}
		}
	})
}

// iotestHalf reads at most 1000 bytes at a time.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 1000)]) }

// TestPutBlobRefusals: every refused upload leaves nothing on disk and
// holds no quota.
func TestPutBlobRefusals(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		dir := e.dir
		s := e.open(t, Options{BlobQuota: 1 << 20})
		big := module(700 << 10) // raw + gzip > 1 MiB
		small := module(100 << 10)
		broken := errors.New("connection reset")
		for _, tc := range []struct {
			name string
			sha  string
			r    io.Reader
			want error
		}{
			{"over the quota", digestOf(big), bytes.NewReader(big), ErrQuota},
			{"digest mismatch", digestOf([]byte("other")), bytes.NewReader(small), ErrDigest},
			{"empty", digestOf(nil), bytes.NewReader(nil), ErrEmpty},
			{"bad digest", "ABC", bytes.NewReader(small), ErrBadDigest},
			{"reader fails mid-way", digestOf(small), io.MultiReader(bytes.NewReader(small[:50<<10]), errReader{broken}), broken},
		} {
			_, _, err := s.PutBlobFrom(context.Background(), tc.sha, tc.r, t0)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: PutBlobFrom = %v, want %v", tc.name, err, tc.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, "blobs")); len(ents) != 0 {
				t.Errorf("%s: %d files left in blobs/", tc.name, len(ents))
			}
			if u := s.BlobUsage(); u.Stored != 0 || u.Uploading != 0 {
				t.Errorf("%s: usage %+v, want nothing stored or held", tc.name, u)
			}
		}
		if _, _, err := s.PutBlobFrom(context.Background(), digestOf(small), bytes.NewReader(small), t0); err != nil {
			t.Fatalf("a blob within the quota: %v", err)
		}
		// Without a quota, the module limit still holds.
		free := newEnv(t, e.engine).open(t, Options{})
		if _, _, err := free.PutBlobFrom(context.Background(), digestOf(small), io.MultiReader(bytes.NewReader(small), zeros(wire.MaxModuleSize)), t0); !errors.Is(err, wire.ErrTooLarge) {
			t.Errorf("over the module limit: PutBlobFrom = %v, want wire.ErrTooLarge", err)
		}
		if u := free.BlobUsage(); u.Stored != 0 || u.Uploading != 0 {
			t.Errorf("over the module limit: usage %+v, want nothing", u)
		}
		if u := s.BlobUsage(); u.Stored <= int64(len(small)) || u.Uploading != 0 || u.Quota != 1<<20 {
			t.Errorf("usage after one blob = %+v", u)
		}
		// The usage survives a restart.
		s.Close()
		s2 := e.open(t, Options{BlobQuota: 1 << 20})
		if u := s2.BlobUsage(); u.Stored <= int64(len(small)) {
			t.Errorf("usage after reopening = %+v", u)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func openStoreOpts(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCollectBlobs: blobs no deployment references are removed once older
// than the cutoff; referenced, recent and re-uploaded ones stay.
func TestCollectBlobs(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		put := func(data []byte, at time.Time) wire.BlobRef {
			ref, _, err := s.PutBlob(ctx, digestOf(data), data, at)
			if err != nil {
				t.Fatal(err)
			}
			return ref
		}
		old, deployed, recent, again := module(10<<10), module(11<<10), module(12<<10), module(13<<10)
		put(old, t0)
		dref := put(deployed, t0)
		put(recent, t0.Add(50*time.Minute))
		put(again, t0)
		put(again, t0.Add(55*time.Minute)) // uploaded again: a push is about to deploy it
		m := &wire.Manifest{Name: "orders", Version: "1.0.0", SHA256: dref.SHA256}
		if _, err := s.CreateDeployment(ctx, NewDeployment{ID: "d-1", Manifest: m, Blob: dref, Devices: []string{"pi-1"}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		// A blob file without a row: a crash between the files and the row.
		orphan := module(9 << 10)
		os.WriteFile(s.rawPath(digestOf(orphan)), orphan, 0o600)
		os.Chtimes(s.rawPath(digestOf(orphan)), t0, t0)
		before := s.BlobUsage().Stored

		removed, freed, err := s.CollectBlobs(ctx, t0.Add(time.Hour).Add(-30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(removed, []string{digestOf(old)}) || freed <= int64(len(old)) {
			t.Fatalf("removed %v (%d bytes), want only the old undeployed blob", removed, freed)
		}
		if got := s.BlobUsage().Stored; got != before-freed {
			t.Errorf("usage %d after freeing %d of %d", got, freed, before)
		}
		for _, data := range [][]byte{deployed, recent, again} {
			if _, err := s.Blob(ctx, digestOf(data)); err != nil {
				t.Errorf("blob %.12s removed: %v", digestOf(data), err)
			}
			if _, err := os.Stat(s.encPath(digestOf(data))); err != nil {
				t.Errorf("file of blob %.12s removed: %v", digestOf(data), err)
			}
		}
		for _, p := range []string{s.rawPath(digestOf(old)), s.encPath(digestOf(old)), s.rawPath(digestOf(orphan))} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s still on disk (%v)", filepath.Base(p), err)
			}
		}
		if _, err := s.Blob(ctx, digestOf(old)); !errors.Is(err, ErrNotFound) {
			t.Errorf("collected blob still recorded: %v", err)
		}
	})
}

// TestPutBlobRepairsDamagedCopy: a stored blob whose raw or encoded file
// was damaged (bytes overwritten, cut short) is replaced by the next upload
// of the same module, so pushing again repairs it; the quota counts the
// files once. Before, the upload answered "already stored" and the damage
// stayed (found by a new user's trial: devices failed "stored chunk does
// not match its hash" after every push).
func TestPutBlobRepairsDamagedCopy(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		ctx := context.Background()
		data := module(3*wire.ChunkSize + 17)
		sha := digestOf(data)
		ref, _, err := s.PutBlob(ctx, sha, data, t0)
		if err != nil {
			t.Fatal(err)
		}
		used := s.BlobUsage()
		for _, damage := range []struct {
			name string
			do   func() error
		}{
			{"raw bytes overwritten", func() error {
				f, err := os.OpenFile(s.rawPath(sha), os.O_WRONLY, 0)
				if err == nil {
					_, err = f.WriteAt([]byte("junk"), 10)
					f.Close()
				}
				return err
			}},
			{"encoded chunk overwritten", func() error {
				f, err := os.OpenFile(s.encPath(sha), os.O_WRONLY, 0)
				if err == nil {
					_, err = f.WriteAt([]byte("junk"), wire.ChunkSize+5)
					f.Close()
				}
				return err
			}},
			{"encoded file cut short", func() error { return os.Truncate(s.encPath(sha), ref.Stored/2) }},
		} {
			if err := damage.do(); err != nil {
				t.Fatal(err)
			}
			if s.intact(ref) {
				t.Fatalf("%s: judged intact", damage.name)
			}
			if _, created, err := s.PutBlob(ctx, sha, data, t0.Add(time.Minute)); err != nil || created {
				t.Fatalf("%s: upload again = created %v, %v; want repaired, not created", damage.name, created, err)
			}
			got, err := s.Blob(ctx, sha)
			if err != nil || !s.intact(got) {
				t.Fatalf("%s: not repaired by the upload (%v)", damage.name, err)
			}
			for i := range got.Chunks {
				if _, err := s.ReadChunk(got, i); err != nil {
					t.Fatalf("%s: chunk %d after the repair: %v", damage.name, i, err)
				}
			}
			if u := s.BlobUsage(); u != used {
				t.Errorf("%s: usage %+v after the repair, want %+v", damage.name, u, used)
			}
		}
	})
}
