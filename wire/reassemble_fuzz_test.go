package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// FuzzReassemble feeds a stream of chunk frames, as they arrive on a
// device's chunk topic (any order, duplicates, forgeries, frames of other
// blobs), through what the agent does with each (DecodeChunk, then
// BlobRef.CheckChunk; session.Fetch keeps what passes) and reassembles:
// a frame that passes carries exactly the bytes of its index, and once
// every index has passed, the concatenation is the blob, whatever else
// the stream held. The input is frames each preceded by a 2-byte length.
func FuzzReassemble(f *testing.F) {
	// Three small chunks (the check is per chunk hash, whatever the
	// size; real ones are ChunkSize) keep each run fast.
	encoded := make([]byte, 250)
	for i := range encoded {
		encoded[i] = byte(i * 7)
	}
	chunks := [][]byte{encoded[:100], encoded[100:200], encoded[200:]}
	ref, _ := blobRef(encoded, encoded)
	ref.Chunks = nil
	for _, c := range chunks {
		sum := sha256.Sum256(c)
		ref.Chunks = append(ref.Chunks, hex.EncodeToString(sum[:]))
	}
	var blob [32]byte
	sum, _ := hex.DecodeString(ref.SHA256)
	copy(blob[:], sum)
	frame := func(i int, data []byte) []byte {
		b := AppendChunk(nil, &Chunk{Blob: blob, Index: uint32(i), Total: uint32(len(chunks)), Data: data})
		return append(binary.BigEndian.AppendUint16(nil, uint16(min(len(b), 0xffff))), b...)
	}
	f.Add(frame(0, []byte("forged")))
	f.Add(append(frame(1, chunks[1]), frame(1, chunks[0])...))
	f.Add(append(frame(2, chunks[2][:10]), frame(1, []byte{1})...))
	f.Add([]byte{0, 3, 'E', 'D', 'G'})
	f.Fuzz(func(t *testing.T, stream []byte) {
		got := map[uint32][]byte{}
		accept := func(b []byte) {
			c, err := DecodeChunk(b)
			if err != nil {
				return
			}
			if ref.CheckChunk(&c) != nil {
				return
			}
			if !bytes.Equal(c.Data, chunks[c.Index]) {
				t.Fatalf("chunk %d passed its check with bytes that are not the blob's", c.Index)
			}
			got[c.Index] = bytes.Clone(c.Data)
		}
		for len(stream) >= 2 {
			n := int(binary.BigEndian.Uint16(stream))
			stream = stream[2:]
			if n > len(stream) {
				n = len(stream)
			}
			accept(stream[:n])
			stream = stream[n:]
		}
		// The genuine frames arrive too, last: the blob reassembles.
		for i := len(chunks) - 1; i >= 0; i-- {
			accept(frame(i, chunks[i])[2:])
		}
		var out []byte
		for i := range chunks {
			out = append(out, got[uint32(i)]...)
		}
		if !bytes.Equal(out, encoded) {
			t.Fatalf("reassembled %d bytes that are not the blob (%d bytes)", len(out), len(encoded))
		}
	})
}
