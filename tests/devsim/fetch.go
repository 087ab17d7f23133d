package devsim

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Module bytes over MQTT, as the agent fetches them (agent/session's
// Fetch): FetchChunks requests for a window of missing chunks on the
// device's fetch topic, chunk frames on its chunks topic, each checked
// against the desired state's BlobRef, requests repeated for chunks not
// received within fetchTimeout. With Config.FetchBlobs a deployment only
// proceeds once every chunk has arrived and checked; the devices keep
// nothing but the count of bytes (the gunzip and SHA-256 of the raw module
// an agent then does cost the board's CPU, not the controller's, and are
// left out so the simulator's own CPU stays small).

const (
	fetchWindow  = 16 // chunks in flight, as agent/session's default
	fetchTimeout = 5 * time.Second
)

// onChunk hands a chunk frame to the device's fetch of that blob, if any.
func (d *Device) onChunk(payload []byte) {
	if len(payload) > wire.MaxChunkFrameSize {
		return
	}
	c, err := wire.DecodeChunk(payload)
	if err != nil {
		return
	}
	d.mu.Lock()
	ch := d.fetches[hex.EncodeToString(c.Blob[:])]
	d.mu.Unlock()
	if ch == nil {
		return
	}
	c.Data = bytes.Clone(c.Data)
	select {
	case ch <- c:
	default: // behind: asked again after fetchTimeout
	}
}

// fetch transfers the blob ref names and returns the bytes received.
func (d *Device) fetch(ctx context.Context, ref *wire.BlobRef) (int64, error) {
	if err := ref.Validate(); err != nil {
		return 0, err
	}
	ch := make(chan wire.Chunk, 2*fetchWindow)
	d.mu.Lock()
	if d.fetches == nil {
		d.fetches = map[string]chan wire.Chunk{}
	}
	d.fetches[ref.SHA256] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.fetches, ref.SHA256)
		d.mu.Unlock()
	}()
	missing := make([]int, len(ref.Chunks))
	for i := range missing {
		missing[i] = i
	}
	inflight := map[int]time.Time{}
	var got int64
	tick := time.NewTicker(fetchTimeout / 4)
	defer tick.Stop()
	for len(missing) > 0 {
		if err := d.request(ctx, ref, missing, inflight); err != nil {
			return got, err
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("fetch %.12s: %d of %d chunks missing: %w", ref.SHA256, len(missing), len(ref.Chunks), ctx.Err())
		case <-tick.C:
		case c := <-ch:
			i := int(c.Index)
			if !slices.Contains(missing, i) || ref.CheckChunk(&c) != nil {
				continue
			}
			got += int64(len(c.Data))
			missing = slices.DeleteFunc(missing, func(j int) bool { return j == i })
			delete(inflight, i)
		}
	}
	if got != ref.Stored {
		return got, fmt.Errorf("fetch %.12s: %d bytes received, the ref says %d", ref.SHA256, got, ref.Stored)
	}
	return got, nil
}

// request asks for the next window of missing chunks not in flight.
func (d *Device) request(ctx context.Context, ref *wire.BlobRef, missing []int, inflight map[int]time.Time) error {
	now := time.Now()
	for i, t := range inflight {
		if now.Sub(t) > fetchTimeout {
			delete(inflight, i)
		}
	}
	var want []int
	for _, i := range missing {
		if len(inflight)+len(want) >= fetchWindow {
			break
		}
		if _, ok := inflight[i]; !ok {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if err := d.publish(ctx, wire.KindFetch, 1, false, wire.FetchChunks{SHA256: ref.SHA256, Indices: want}); err != nil {
		return fmt.Errorf("fetch request: %w", err)
	}
	for _, i := range want {
		inflight[i] = now
	}
	return nil
}
