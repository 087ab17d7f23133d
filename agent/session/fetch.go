package session

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// ChunkStore is where Fetch keeps chunks: store.Partial.
type ChunkStore interface {
	Missing() []int
	Put(i int, data []byte) error
	Assemble() ([]byte, error)
}

func (s *Session) onChunk(b []byte) {
	if len(b) > wire.MaxChunkFrameSize {
		s.noteDropped("chunk frame of %d bytes exceeds %d", len(b), wire.MaxChunkFrameSize)
		return
	}
	c, err := wire.DecodeChunk(b)
	if err != nil {
		s.noteDropped("%v", err)
		return
	}
	s.mu.Lock()
	ch := s.fetches[hex.EncodeToString(c.Blob[:])]
	s.mu.Unlock()
	if ch == nil {
		return // a late answer for a finished transfer
	}
	c.Data = bytes.Clone(c.Data)
	select {
	case ch <- c:
	default: // the fetch loop is behind; the chunk will be asked again
	}
}

func (s *Session) noteDropped(format string, args ...any) {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
	s.log.Warn("dropping chunk frame", "err", fmt.Sprintf(format, args...))
}

// Fetch transfers the blob ref describes into parts and returns its
// encoded bytes (for verify.Decode) once every chunk is there. Chunks
// already in parts (an earlier, interrupted transfer) are not asked again.
// It waits for the broker while disconnected, re-requests chunks not
// received within FetchTimeout and again after every reconnect, and gives up
// with ErrStalled after FetchStall without progress, with ErrFetchTimeout
// after FetchMax in all, or when ctx ends. Giving up frees the chunks held
// in memory (at most 2×FetchWindow); those on disk stay for the next try.
func (s *Session) Fetch(ctx context.Context, ref *wire.BlobRef, parts ChunkStore) ([]byte, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	ch := make(chan wire.Chunk, 2*s.cfg.FetchWindow)
	s.mu.Lock()
	if s.fetches[ref.SHA256] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("fetch %.12s: %w", ref.SHA256, ErrBusy)
	}
	s.fetches[ref.SHA256] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.fetches, ref.SHA256)
		s.mu.Unlock()
	}()

	missing := parts.Missing()
	inflight := map[int]time.Time{}
	lastEpoch := -1
	progress := time.Now()
	end := progress.Add(s.cfg.FetchMax)
	tick := time.NewTicker(max(s.cfg.FetchTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for len(missing) > 0 {
		if time.Since(progress) > s.cfg.FetchStall {
			return nil, fmt.Errorf("fetch %.12s: %d of %d chunks missing, none received for %s: %w", ref.SHA256, len(missing), len(ref.Chunks), s.cfg.FetchStall, ErrStalled)
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("fetch %.12s: %d of %d chunks missing after %s: %w", ref.SHA256, len(missing), len(ref.Chunks), s.cfg.FetchMax, ErrFetchTimeout)
		}
		connected, epoch, changed := s.connState()
		if connected {
			if epoch != lastEpoch { // (re)connected: nothing asked before counts
				clear(inflight)
				lastEpoch = epoch
			}
			s.request(ref, missing, inflight)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch %.12s: %w", ref.SHA256, ctx.Err())
		case <-changed:
		case <-tick.C:
		case c := <-ch:
			i := int(c.Index)
			if !slices.Contains(missing, i) {
				continue
			}
			if err := ref.CheckChunk(&c); err != nil {
				s.log.Warn("chunk failed its check", "blob", ref.SHA256[:12], "index", i, "err", err)
				continue
			}
			if err := parts.Put(i, c.Data); err != nil {
				return nil, fmt.Errorf("fetch %.12s: %w", ref.SHA256, err)
			}
			missing = slices.DeleteFunc(missing, func(j int) bool { return j == i })
			delete(inflight, i)
			progress = time.Now()
		}
	}
	return parts.Assemble()
}

// request asks for the next window of missing chunks not in flight, and
// again for those in flight longer than FetchTimeout.
func (s *Session) request(ref *wire.BlobRef, missing []int, inflight map[int]time.Time) {
	now := time.Now()
	for i, t := range inflight {
		if now.Sub(t) > s.cfg.FetchTimeout {
			delete(inflight, i)
		}
	}
	var want []int
	for _, i := range missing {
		if len(inflight)+len(want) >= s.cfg.FetchWindow {
			break
		}
		if _, ok := inflight[i]; !ok {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		return
	}
	if err := s.publishJSON(wire.KindFetch, 1, false, wire.FetchChunks{SHA256: ref.SHA256, Indices: want}); err != nil {
		s.log.Warn("fetch request", "blob", ref.SHA256[:12], "err", err)
		return
	}
	for _, i := range want {
		inflight[i] = now
	}
}
