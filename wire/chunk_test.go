package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	tests := []Chunk{
		{Blob: sha256.Sum256([]byte("a")), Index: 0, Total: 1, Data: []byte{0}},
		{Blob: sha256.Sum256([]byte("b")), Index: 6, Total: 7, Data: bytes.Repeat([]byte{0xff}, ChunkSize)},
		{Blob: [32]byte{1, 2, 3}, Index: MaxChunks - 1, Total: MaxChunks, Data: []byte("tail")},
	}
	for _, want := range tests {
		frame := AppendChunk([]byte("prefix"), &want)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatalf("AppendChunk dropped the prefix")
		}
		got, err := DecodeChunk(frame[len("prefix"):])
		if err != nil {
			t.Fatalf("DecodeChunk(index %d): %v", want.Index, err)
		}
		if got.Blob != want.Blob || got.Index != want.Index || got.Total != want.Total || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("DecodeChunk = {%x %d %d %d bytes}, want {%x %d %d %d bytes}",
				got.Blob[:4], got.Index, got.Total, len(got.Data), want.Blob[:4], want.Index, want.Total, len(want.Data))
		}
	}
}

func TestDecodeChunkErrors(t *testing.T) {
	good := AppendChunk(nil, &Chunk{Index: 1, Total: 2, Data: []byte("x")})
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	frame := func(index, total uint32, n int) []byte {
		return AppendChunk(nil, &Chunk{Index: index, Total: total, Data: make([]byte, n)})
	}
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"header only", good[:chunkHeader]},
		{"short", good[:10]},
		{"bad magic", with(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"bad version", with(func(b []byte) []byte { b[4] = 2; return b })},
		{"total 0", frame(0, 0, 1)},
		{"index = total", frame(2, 2, 1)},
		{"total over MaxChunks", frame(0, MaxChunks+1, 1)},
		{"data over ChunkSize", frame(0, 1, ChunkSize+1)},
	}
	for _, tt := range tests {
		if _, err := DecodeChunk(tt.frame); !errors.Is(err, ErrChunk) {
			t.Errorf("%s: DecodeChunk = %v, want ErrChunk", tt.name, err)
		}
	}
}

// blobRef builds a valid BlobRef for encoded bytes, as the controller does.
func blobRef(raw, encoded []byte) (*BlobRef, [][]byte) {
	chunks, hashes := SplitBlob(encoded)
	sum := sha256.Sum256(raw)
	return &BlobRef{
		SHA256:   hex.EncodeToString(sum[:]),
		Size:     int64(len(raw)),
		Encoding: EncodingGzip,
		Stored:   int64(len(encoded)),
		Chunks:   hashes,
	}, chunks
}

func TestBlobRefValidate(t *testing.T) {
	encoded := bytes.Repeat([]byte("z"), 2*ChunkSize+5)
	tests := []struct {
		name   string
		mutate func(r *BlobRef)
		ok     bool
	}{
		{"valid", func(r *BlobRef) {}, true},
		{"uppercase hex", func(r *BlobRef) { r.SHA256 = strings.ToUpper(r.SHA256) }, true},
		{"stored exactly fills chunks", func(r *BlobRef) { r.Stored = 3 * ChunkSize }, true},
		{"declared size over MaxModuleSize", func(r *BlobRef) { r.Size = MaxModuleSize + 1 }, false},
		{"declared size 0", func(r *BlobRef) { r.Size = 0 }, false},
		{"unknown encoding", func(r *BlobRef) { r.Encoding = "zstd" }, false},
		{"no chunks", func(r *BlobRef) { r.Chunks = nil }, false},
		{"too many chunks for stored", func(r *BlobRef) { r.Chunks = append(r.Chunks, r.Chunks[0]) }, false},
		{"too few chunks for stored", func(r *BlobRef) { r.Chunks = r.Chunks[:2] }, false},
		{"stored 0", func(r *BlobRef) { r.Stored = 0 }, false},
		{"stored at previous boundary", func(r *BlobRef) { r.Stored = 2 * ChunkSize }, false},
		{"over MaxChunks", func(r *BlobRef) {
			r.Chunks = make([]string, MaxChunks+1)
			for i := range r.Chunks {
				r.Chunks[i] = r.SHA256
			}
			r.Stored = int64(len(r.Chunks)) * ChunkSize
		}, false},
		{"sha256 bad hex", func(r *BlobRef) { r.SHA256 = strings.Repeat("g", 64) }, false},
		{"sha256 short", func(r *BlobRef) { r.SHA256 = r.SHA256[:62] }, false},
		{"sha256 empty", func(r *BlobRef) { r.SHA256 = "" }, false},
		{"chunk hash bad hex", func(r *BlobRef) { r.Chunks[1] = "xyz" }, false},
		{"chunk hash long", func(r *BlobRef) { r.Chunks[1] += "00" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := blobRef([]byte("raw module"), encoded)
			tt.mutate(r)
			err := r.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrChunk) {
				t.Errorf("Validate = %v, want ErrChunk", err)
			}
		})
	}
}

func TestCheckChunk(t *testing.T) {
	encoded := bytes.Repeat([]byte("q"), ChunkSize+100)
	r, chunks := blobRef([]byte("raw"), encoded)
	var blob [32]byte
	hex.Decode(blob[:], []byte(r.SHA256))
	chunk := func(i int) *Chunk {
		return &Chunk{Blob: blob, Index: uint32(i), Total: uint32(len(chunks)), Data: chunks[i]}
	}
	for i := range chunks {
		if err := r.CheckChunk(chunk(i)); err != nil {
			t.Errorf("CheckChunk(%d) = %v, want nil", i, err)
		}
	}
	upper := *r
	upper.SHA256 = strings.ToUpper(r.SHA256)
	upper.Chunks = []string{strings.ToUpper(r.Chunks[0]), r.Chunks[1]}
	if err := upper.CheckChunk(chunk(0)); err != nil {
		t.Errorf("CheckChunk with uppercase hex in BlobRef = %v, want nil", err)
	}

	tests := []struct {
		name string
		c    *Chunk
		r    *BlobRef
	}{
		{"wrong blob", func() *Chunk { c := chunk(0); c.Blob[0] ^= 1; return c }(), r},
		{"wrong total", func() *Chunk { c := chunk(0); c.Total = 3; return c }(), r},
		{"hash mismatch", func() *Chunk { c := chunk(1); c.Data = chunks[0]; return c }(), r},
		{"data bit flipped", func() *Chunk { c := chunk(1); c.Data = bytes.Clone(c.Data); c.Data[0] ^= 1; return c }(), r},
		{"index out of range, not from DecodeChunk", func() *Chunk { c := chunk(0); c.Index = 5; return c }(), r},
		{"unvalidated short sha256", chunk(0), &BlobRef{SHA256: "ab", Chunks: r.Chunks}},
	}
	for _, tt := range tests {
		if err := tt.r.CheckChunk(tt.c); !errors.Is(err, ErrChunk) {
			t.Errorf("%s: CheckChunk = %v, want ErrChunk", tt.name, err)
		}
	}
}

func TestSplitBlob(t *testing.T) {
	tests := []struct {
		size      int
		wantSizes []int
	}{
		{0, nil},
		{1, []int{1}},
		{ChunkSize, []int{ChunkSize}},
		{ChunkSize + 1, []int{ChunkSize, 1}},
		{3 * ChunkSize, []int{ChunkSize, ChunkSize, ChunkSize}},
	}
	for _, tt := range tests {
		data := make([]byte, tt.size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		chunks, hashes := SplitBlob(data)
		if len(chunks) != len(tt.wantSizes) || len(hashes) != len(tt.wantSizes) {
			t.Errorf("SplitBlob(%d bytes): %d chunks, %d hashes, want %d", tt.size, len(chunks), len(hashes), len(tt.wantSizes))
			continue
		}
		var joined []byte
		for i, c := range chunks {
			if len(c) != tt.wantSizes[i] {
				t.Errorf("SplitBlob(%d bytes): chunk %d has %d bytes, want %d", tt.size, i, len(c), tt.wantSizes[i])
			}
			sum := sha256.Sum256(c)
			if hashes[i] != hex.EncodeToString(sum[:]) {
				t.Errorf("SplitBlob(%d bytes): hash %d = %s, want %x", tt.size, i, hashes[i], sum)
			}
			joined = append(joined, c...)
		}
		if !bytes.Equal(joined, data) {
			t.Errorf("SplitBlob(%d bytes): chunks do not join back to the input", tt.size)
		}
		if tt.size > 0 {
			r, _ := blobRef(data, data)
			if err := r.Validate(); err != nil {
				t.Errorf("SplitBlob(%d bytes): BlobRef.Validate = %v, want nil", tt.size, err)
			}
		}
	}
}
