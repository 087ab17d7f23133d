package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/wire"
)

// ErrIncomplete is returned by Partial.Assemble while chunks are missing.
var ErrIncomplete = errors.New("transfer incomplete")

// Partial is the on-disk area of one unfinished transfer. Chunk files are
// named by index and checked against the BlobRef's chunk hashes whenever
// they are read, so a torn or stale file is simply fetched again; a
// transfer interrupted by a restart resumes from what is on disk.
type Partial struct {
	dir string
	ref wire.BlobRef
}

// Partial returns the transfer area for ref; ref must be Validate'd.
func (s *Store) Partial(ref *wire.BlobRef) *Partial {
	return &Partial{dir: s.path("partial", ref.SHA256), ref: *ref}
}

func (p *Partial) file(i int) string { return filepath.Join(p.dir, strconv.Itoa(i)) }

// Have reports whether chunk i is on disk with the right hash. A file with
// the wrong content is removed.
func (p *Partial) Have(i int) bool {
	_, err := p.read(i)
	return err == nil
}

func (p *Partial) read(i int) ([]byte, error) {
	if i < 0 || i >= len(p.ref.Chunks) {
		return nil, fmt.Errorf("chunk %d of %d: %w", i, len(p.ref.Chunks), ErrNotFound)
	}
	b, err := os.ReadFile(p.file(i))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != p.ref.Chunks[i] {
		os.Remove(p.file(i))
		return nil, fmt.Errorf("chunk %d: %w", i, ErrDigest)
	}
	return b, nil
}

// Put stores chunk i after checking its hash.
func (p *Partial) Put(i int, data []byte) error {
	if i < 0 || i >= len(p.ref.Chunks) {
		return fmt.Errorf("put chunk %d of %d: out of range", i, len(p.ref.Chunks))
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != p.ref.Chunks[i] {
		return fmt.Errorf("put chunk %d: %w", i, ErrDigest)
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("put chunk %d: %w", i, err)
	}
	return atomicfile.Write(p.file(i), data, 0o600)
}

// Missing lists the indices not yet on disk, in order.
func (p *Partial) Missing() []int {
	var m []int
	for i := range p.ref.Chunks {
		if !p.Have(i) {
			m = append(m, i)
		}
	}
	return m
}

// Assemble concatenates all chunks: the encoded blob. It returns
// ErrIncomplete if any chunk is missing or damaged.
func (p *Partial) Assemble() ([]byte, error) {
	out := make([]byte, 0, p.ref.Stored)
	for i := range p.ref.Chunks {
		b, err := p.read(i)
		if err != nil {
			return nil, fmt.Errorf("assemble %.12s: chunk %d: %w", p.ref.SHA256, i, ErrIncomplete)
		}
		out = append(out, b...)
	}
	if int64(len(out)) != p.ref.Stored {
		return nil, fmt.Errorf("assemble %.12s: %d bytes, want %d: %w", p.ref.SHA256, len(out), p.ref.Stored, ErrDigest)
	}
	return out, nil
}

// Remove deletes the transfer area (after the blob is stored).
func (p *Partial) Remove() error {
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("remove partial %.12s: %w", p.ref.SHA256, err)
	}
	return atomicfile.SyncDir(filepath.Dir(p.dir))
}
