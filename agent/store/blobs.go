package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// BlobPath is where the module with the given sha256 is (or would be) kept.
func (s *Store) BlobPath(sha string) string {
	return s.path("blobs", sha+".wasm")
}

// HasBlob reports whether a blob file exists (Verify checks content).
func (s *Store) HasBlob(sha string) bool {
	_, err := os.Stat(s.BlobPath(sha))
	return err == nil
}

// PutBlob stores module bytes after checking they have the given sha256
// and size; on a mismatch it writes nothing and returns ErrDigest.
func (s *Store) PutBlob(sha string, size int64, data []byte) error {
	if err := checkDigest(sha, size, data); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := atomicfile.Write(s.BlobPath(sha), data, 0o600); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	return nil
}

// ReadBlob returns a stored blob after re-checking its digest.
func (s *Store) ReadBlob(sha string, size int64) ([]byte, error) {
	b, err := os.ReadFile(s.BlobPath(sha))
	if err != nil {
		return nil, fmt.Errorf("read blob %.12s: %w", sha, err)
	}
	if err := checkDigest(sha, size, b); err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	return b, nil
}

func checkDigest(sha string, size int64, data []byte) error {
	if int64(len(data)) != size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrDigest, len(data), size)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != sha {
		return fmt.Errorf("%w: sha256 %.12s, want %.12s", ErrDigest, got, sha)
	}
	return nil
}
