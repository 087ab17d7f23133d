package fleet

import (
	"encoding/hex"
	"sync"

	"github.com/edgeplane/edge/wire"
)

// chunkCacheBytes bounds the chunk frames kept in memory: one module of
// the largest size (gzip rarely grows one), or several usual ones.
const chunkCacheBytes = wire.MaxModuleSize

// chunkCache keeps the frames of the chunks served lately, each read from
// its file and checked against its hash once: a push to a thousand devices
// makes them fetch the same chunks, which then cost the controller one
// read and one hash each rather than a thousand. Blobs are content
// addressed, so a frame never goes stale; whether a device may fetch a
// blob, and whether the controller still has it, is decided per request
// before the cache is asked (allowedBlob). The least recently used blobs
// are dropped beyond the limit.
type chunkCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	tick  uint64
	blobs map[string]*cachedBlob
}

type cachedBlob struct {
	frames [][]byte // by chunk index; nil: not read yet
	size   int64
	used   uint64
}

func newChunkCache(limit int64) *chunkCache {
	return &chunkCache{limit: limit, blobs: map[string]*cachedBlob{}}
}

// frame returns the frame of chunk i of the blob ref describes, read with
// read (store.ReadChunk, which checks the hash) if it is not cached.
func (c *chunkCache) frame(ref wire.BlobRef, i int, read func(wire.BlobRef, int) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	b := c.blobs[ref.SHA256]
	if b == nil || len(b.frames) != len(ref.Chunks) {
		if b != nil {
			c.size -= b.size
		}
		b = &cachedBlob{frames: make([][]byte, len(ref.Chunks))}
		c.blobs[ref.SHA256] = b
	}
	c.tick++
	b.used = c.tick
	if fr := b.frames[i]; fr != nil {
		c.mu.Unlock()
		return fr, nil
	}
	c.mu.Unlock()

	data, err := read(ref, i)
	if err != nil {
		return nil, err
	}
	var sum [32]byte
	hex.Decode(sum[:], []byte(ref.SHA256))
	fr := wire.AppendChunk(nil, &wire.Chunk{Blob: sum, Index: uint32(i), Total: uint32(len(ref.Chunks)), Data: data})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobs[ref.SHA256] == b && b.frames[i] == nil {
		b.frames[i] = fr
		b.size += int64(len(fr))
		c.size += int64(len(fr))
		c.evict(ref.SHA256)
	}
	return fr, nil
}

// evict drops the least recently used blobs but keep until the cache is
// within its limit.
func (c *chunkCache) evict(keep string) {
	for c.size > c.limit {
		var oldest string
		for sha, b := range c.blobs {
			if sha != keep && (oldest == "" || b.used < c.blobs[oldest].used) {
				oldest = sha
			}
		}
		if oldest == "" {
			return
		}
		c.size -= c.blobs[oldest].size
		delete(c.blobs, oldest)
	}
}
