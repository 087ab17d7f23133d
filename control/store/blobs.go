package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/wire"
)

// Blob errors.
var (
	ErrDigest    = errors.New("content does not match its sha256")
	ErrTooLarge  = errors.New("blob too large")
	ErrBadDigest = errors.New("sha256 must be 64 lowercase hex digits")
	ErrCorrupt   = errors.New("stored chunk does not match its hash")
)

// ValidDigest reports whether sha is 64 lowercase hex digits.
func ValidDigest(sha string) bool {
	if len(sha) != 64 {
		return false
	}
	b, err := hex.DecodeString(sha)
	return err == nil && hex.EncodeToString(b) == sha
}

// PutBlob stores raw module bytes under their sha256, along with their gzip
// encoding and its chunk hashes. It reports whether the blob was new. data
// must hash to sha.
func (s *Store) PutBlob(ctx context.Context, sha string, data []byte, now time.Time) (ref wire.BlobRef, created bool, err error) {
	if !ValidDigest(sha) {
		return ref, false, fmt.Errorf("put blob %q: %w", sha, ErrBadDigest)
	}
	if len(data) == 0 || len(data) > wire.MaxModuleSize {
		return ref, false, fmt.Errorf("put blob %s: %d bytes: %w (1..%d)", sha, len(data), ErrTooLarge, wire.MaxModuleSize)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		return ref, false, fmt.Errorf("put blob %s: %w (got %x)", sha, ErrDigest, sum)
	}
	if ref, err := s.Blob(ctx, sha); err == nil {
		return ref, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return ref, false, err
	}
	enc, err := gzipBytes(data)
	if err != nil {
		return ref, false, fmt.Errorf("put blob %s: %w", sha, err)
	}
	_, hashes := wire.SplitBlob(enc)
	ref = wire.BlobRef{SHA256: sha, Size: int64(len(data)), Encoding: wire.EncodingGzip, Stored: int64(len(enc)), Chunks: hashes}
	if err := ref.Validate(); err != nil {
		return ref, false, fmt.Errorf("put blob %s: %w", sha, err)
	}
	if err := atomicfile.Write(s.rawPath(sha), data, 0o600); err != nil {
		return ref, false, fmt.Errorf("put blob: %w", err)
	}
	if err := atomicfile.Write(s.encPath(sha), enc, 0o600); err != nil {
		return ref, false, fmt.Errorf("put blob: %w", err)
	}
	chunks, _ := json.Marshal(hashes)
	res, err := s.db.ExecContext(ctx, `INSERT INTO blobs(sha256, size, stored, chunks, created) VALUES(?,?,?,?,?)
		ON CONFLICT(sha256) DO NOTHING`, sha, ref.Size, ref.Stored, string(chunks), nanos(now))
	if err != nil {
		return ref, false, fmt.Errorf("put blob %s: %w", sha, err)
	}
	n, _ := res.RowsAffected()
	return ref, n == 1, nil
}

// gzipBytes compresses a module for transfer at gzip's default level:
// measured on orders.wasm (3.5 MB), level 9 took 634 ms for a 0.5% smaller
// result (997,868 vs 1,003,101 bytes) than level 6 at 274 ms, and the
// upload answers only once the blob is stored, so this is on the push path.
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func (s *Store) rawPath(sha string) string { return filepath.Join(s.blobDir, sha) }
func (s *Store) encPath(sha string) string { return filepath.Join(s.blobDir, sha+".gz") }

// Blob returns the BlobRef of a stored blob, or ErrNotFound.
func (s *Store) Blob(ctx context.Context, sha string) (wire.BlobRef, error) {
	ref := wire.BlobRef{SHA256: sha, Encoding: wire.EncodingGzip}
	var chunks string
	err := s.db.QueryRowContext(ctx, `SELECT size, stored, chunks FROM blobs WHERE sha256 = ?`, sha).
		Scan(&ref.Size, &ref.Stored, &chunks)
	if errors.Is(err, sql.ErrNoRows) {
		return ref, fmt.Errorf("blob %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return ref, fmt.Errorf("blob %s: %w", sha, err)
	}
	if err := json.Unmarshal([]byte(chunks), &ref.Chunks); err != nil {
		return ref, fmt.Errorf("blob %s: chunk list: %w", sha, err)
	}
	return ref, nil
}

// ReadChunk returns encoded chunk i of the blob ref describes, checked
// against its hash. i must be in range.
func (s *Store) ReadChunk(ref wire.BlobRef, i int) ([]byte, error) {
	if i < 0 || i >= len(ref.Chunks) {
		return nil, fmt.Errorf("read chunk %d of blob %s: %w", i, ref.SHA256, ErrNotFound)
	}
	f, err := os.Open(s.encPath(ref.SHA256))
	if err != nil {
		return nil, fmt.Errorf("read chunk %d of blob %s: %w", i, ref.SHA256, err)
	}
	defer f.Close()
	off := int64(i) * wire.ChunkSize
	n := min(int64(wire.ChunkSize), ref.Stored-off)
	buf := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, off, n), buf); err != nil {
		return nil, fmt.Errorf("read chunk %d of blob %s: %w", i, ref.SHA256, err)
	}
	if sum := sha256.Sum256(buf); hex.EncodeToString(sum[:]) != ref.Chunks[i] {
		return nil, fmt.Errorf("read chunk %d of blob %s: %w", i, ref.SHA256, ErrCorrupt)
	}
	return buf, nil
}
