package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Chunk is one piece of an encoded blob, sent as a binary MQTT payload:
//
//	"EDGC" | u8 version (1) | [32]byte blob sha256 | u32 index | u32 total | data
//
// Integers are big-endian. The receiver checks data against the chunk hash
// listed in the BlobRef it asked for; the frame carries no hash of its own.
type Chunk struct {
	Blob  [32]byte
	Index uint32
	Total uint32
	Data  []byte
}

var chunkMagic = []byte("EDGC")

const chunkHeader = 4 + 1 + 32 + 4 + 4

// ErrChunk is wrapped by every chunk decoding or checking error.
var ErrChunk = errors.New("invalid chunk")

// AppendChunk appends the frame of c to b.
func AppendChunk(b []byte, c *Chunk) []byte {
	b = append(b, chunkMagic...)
	b = append(b, 1)
	b = append(b, c.Blob[:]...)
	b = binary.BigEndian.AppendUint32(b, c.Index)
	b = binary.BigEndian.AppendUint32(b, c.Total)
	return append(b, c.Data...)
}

// DecodeChunk decodes a chunk frame. Data aliases b.
func DecodeChunk(b []byte) (Chunk, error) {
	var c Chunk
	if len(b) < chunkHeader {
		return c, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrChunk, len(b), chunkHeader)
	}
	if !bytes.Equal(b[:4], chunkMagic) || b[4] != 1 {
		return c, fmt.Errorf("%w: bad magic or version", ErrChunk)
	}
	copy(c.Blob[:], b[5:37])
	c.Index = binary.BigEndian.Uint32(b[37:41])
	c.Total = binary.BigEndian.Uint32(b[41:45])
	c.Data = b[chunkHeader:]
	if c.Total == 0 || c.Total > MaxChunks || c.Index >= c.Total {
		return c, fmt.Errorf("%w: index %d of %d", ErrChunk, c.Index, c.Total)
	}
	if len(c.Data) == 0 || len(c.Data) > ChunkSize {
		return c, fmt.Errorf("%w: %d data bytes, want 1..%d", ErrChunk, len(c.Data), ChunkSize)
	}
	return c, nil
}

// Validate checks that the BlobRef is well formed and within limits, before
// any chunk is fetched: a declared size over MaxModuleSize is refused here.
func (r *BlobRef) Validate() error {
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: blob sha256 %q is not 64 hex digits", ErrChunk, r.SHA256)
	}
	if r.Size <= 0 || r.Size > MaxModuleSize {
		return fmt.Errorf("%w: declared size %d outside 1..%d", ErrChunk, r.Size, MaxModuleSize)
	}
	if r.Encoding != EncodingGzip {
		return fmt.Errorf("%w: unknown encoding %q", ErrChunk, r.Encoding)
	}
	n := len(r.Chunks)
	if n == 0 || n > MaxChunks || r.Stored <= int64(n-1)*ChunkSize || r.Stored > int64(n)*ChunkSize {
		return fmt.Errorf("%w: %d chunks cannot hold %d stored bytes", ErrChunk, n, r.Stored)
	}
	for i, h := range r.Chunks {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: chunk %d hash %q is not 64 hex digits", ErrChunk, i, h)
		}
	}
	return nil
}

// CheckChunk verifies that c belongs to r: same blob, same count, and data
// whose SHA-256 is the one r lists for its index.
func (r *BlobRef) CheckChunk(c *Chunk) error {
	if !strings.EqualFold(hex.EncodeToString(c.Blob[:]), r.SHA256) {
		return fmt.Errorf("%w: for blob %x, want %.8s", ErrChunk, c.Blob[:4], r.SHA256)
	}
	if int(c.Total) != len(r.Chunks) || c.Index >= c.Total {
		return fmt.Errorf("%w: index %d of %d, want %d chunks", ErrChunk, c.Index, c.Total, len(r.Chunks))
	}
	sum := sha256.Sum256(c.Data)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), r.Chunks[c.Index]) {
		return fmt.Errorf("%w: chunk %d hash mismatch", ErrChunk, c.Index)
	}
	return nil
}

// SplitBlob cuts encoded bytes into chunks and returns their hashes.
func SplitBlob(encoded []byte) (chunks [][]byte, hashes []string) {
	for off := 0; off < len(encoded); off += ChunkSize {
		end := min(off+ChunkSize, len(encoded))
		c := encoded[off:end]
		sum := sha256.Sum256(c)
		chunks = append(chunks, c)
		hashes = append(hashes, hex.EncodeToString(sum[:]))
	}
	return chunks, hashes
}
