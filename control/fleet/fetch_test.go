package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func testRef(sha byte, chunks int) wire.BlobRef {
	ref := wire.BlobRef{SHA256: strings.Repeat(fmt.Sprintf("%02x", sha), 32), Chunks: make([]string, chunks)}
	return ref
}

// TestChunkCache: each chunk is read once however many requests ask for
// it; a failed read is not kept (the next request reads again, and sees
// the damage); beyond the limit the least recently used blob goes.
func TestChunkCache(t *testing.T) {
	reads := map[string]int{}
	fail := false
	read := func(ref wire.BlobRef, i int) ([]byte, error) {
		reads[fmt.Sprintf("%.2s/%d", ref.SHA256, i)]++
		if fail {
			return nil, errors.New("damaged")
		}
		return make([]byte, 1000), nil
	}
	c := newChunkCache(3500) // three frames of 1,045 bytes
	a, b := testRef(0xaa, 2), testRef(0xbb, 2)
	for range 3 {
		for i := range 2 {
			fr, err := c.frame(a, i, read)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := wire.DecodeChunk(fr)
			if err != nil || ch.Index != uint32(i) || ch.Total != 2 || len(ch.Data) != 1000 {
				t.Fatalf("frame %d: %+v, %v", i, ch, err)
			}
		}
	}
	if reads["aa/0"] != 1 || reads["aa/1"] != 1 {
		t.Errorf("reads %v, want each chunk of aa once", reads)
	}
	fail = true
	for range 2 {
		if _, err := c.frame(b, 0, read); err == nil {
			t.Fatal("a failed read answered a frame")
		}
	}
	if reads["bb/0"] != 2 {
		t.Errorf("failed chunk read %d times, want again at each request", reads["bb/0"])
	}
	fail = false
	c.frame(b, 0, read)
	c.frame(b, 1, read) // over the limit: aa, the least recently used, goes
	c.frame(a, 0, read)
	if reads["aa/0"] != 2 {
		t.Errorf("aa/0 read %d times, want twice (evicted for bb)", reads["aa/0"])
	}
	if c.size > c.limit {
		t.Errorf("cache holds %d bytes, limit %d", c.size, c.limit)
	}
}

// TestFetchQueue: a device's second request for a blob joins its waiting
// one; requests beyond fetchQueueMax are refused.
func TestFetchQueue(t *testing.T) {
	q := newFetchQueue()
	sha := strings.Repeat("ab", 32)
	q.add("dev-1", wire.FetchChunks{SHA256: sha, Indices: []int{3, 1}})
	q.add("dev-2", wire.FetchChunks{SHA256: sha, Indices: []int{0}})
	q.add("dev-1", wire.FetchChunks{SHA256: sha, Indices: []int{1, 2}})
	if len(q.order) != 2 {
		t.Fatalf("%d requests queued, want 2 (dev-1's merged)", len(q.order))
	}
	r := q.take(<-q.order)
	if r.device != "dev-1" || !slices.Equal(r.req.Indices, []int{1, 2, 3}) {
		t.Errorf("first request %+v, want dev-1's chunks 1, 2, 3", r)
	}
	for i := len(q.pending); i < fetchQueueMax; i++ {
		if !q.add(fmt.Sprintf("d-%d", i), wire.FetchChunks{SHA256: sha, Indices: []int{0}}) {
			t.Fatalf("request %d refused below the limit", i)
		}
	}
	if q.add("one-more", wire.FetchChunks{SHA256: sha, Indices: []int{0}}) {
		t.Error("a request beyond fetchQueueMax was queued")
	}
}
