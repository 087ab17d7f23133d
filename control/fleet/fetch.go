package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// MaxFetchIndices bounds the chunk indices of one FetchChunks request: a
// whole module of wire.MaxModuleSize may be asked for at once.
const MaxFetchIndices = wire.MaxChunks

// fetchQueueMax bounds the fetch requests waiting to be served, one per
// device and blob; beyond it new requests are dropped (the agent asks again
// for what is still missing). A request of a device already waiting for
// the same blob joins the waiting one.
const fetchQueueMax = 2048

// fetchInFlight bounds the chunk publishes of one request awaiting the
// broker's acknowledgement at once. With fetchWorkers, the controller's
// unacknowledged QoS 1 publishes stay well under the embedded broker's
// receive maximum (1,024, beyond which it drops the client).
const fetchInFlight = 16

type fetchReq struct {
	device string
	req    wire.FetchChunks
}

type fetchKey struct{ device, sha string }

// fetchQueue is the fetch requests waiting for a worker, in their order of
// arrival.
type fetchQueue struct {
	mu      sync.Mutex
	pending map[fetchKey][]int
	order   chan fetchKey // never more than len(pending)
}

func newFetchQueue() *fetchQueue {
	return &fetchQueue{pending: map[fetchKey][]int{}, order: make(chan fetchKey, fetchQueueMax)}
}

// add queues r, or merges its indices into the device's waiting request
// for the same blob; it reports false when the queue is full.
func (q *fetchQueue) add(device string, r wire.FetchChunks) bool {
	k := fetchKey{device, r.SHA256}
	q.mu.Lock()
	defer q.mu.Unlock()
	if idx, ok := q.pending[k]; ok {
		idx = append(idx, r.Indices...)
		slices.Sort(idx)
		idx = slices.Compact(idx)
		q.pending[k] = idx[:min(len(idx), MaxFetchIndices)]
		return true
	}
	if len(q.pending) >= fetchQueueMax {
		return false
	}
	q.pending[k] = slices.Clone(r.Indices)
	q.order <- k // room: len(order) <= len(pending) < fetchQueueMax
	return true
}

// take returns the request k names (after a receive from order).
func (q *fetchQueue) take(k fetchKey) fetchReq {
	q.mu.Lock()
	idx := q.pending[k]
	delete(q.pending, k)
	q.mu.Unlock()
	return fetchReq{device: k.device, req: wire.FetchChunks{SHA256: k.sha, Indices: idx}}
}

func (f *Fleet) queueFetch(log logger, id string, payload []byte) {
	var r wire.FetchChunks
	if err := wire.Decode(payload, &r); err != nil {
		log.Warn("fetch dropped", "err", err)
		return
	}
	if !store.ValidDigest(r.SHA256) {
		log.Warn("fetch dropped: bad sha256", "sha256", r.SHA256)
		return
	}
	if len(r.Indices) == 0 || len(r.Indices) > MaxFetchIndices {
		log.Warn("fetch dropped: index count out of range", "sha256", r.SHA256, "count", len(r.Indices), "max", MaxFetchIndices)
		return
	}
	if !f.fetches.add(id, r) {
		log.Warn("fetch dropped: too many pending requests", "sha256", r.SHA256)
	}
}

// runFetches serves queued fetch requests until ctx is done.
func (f *Fleet) runFetches(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-f.fetches.order:
			f.serveFetch(ctx, f.fetches.take(k))
		}
	}
}

// serveFetch publishes the requested chunks of a blob in the device's
// desired state, up to fetchInFlight at once. A request for any other
// blob, or with an index out of range, is refused as a whole.
func (f *Fleet) serveFetch(ctx context.Context, r fetchReq) {
	log := f.log.With("device", r.device, "sha256", r.req.SHA256)
	ref, deployment, err := f.allowedBlob(ctx, r.device, r.req.SHA256)
	if errors.Is(err, store.ErrNotFound) && deployment != "" {
		f.undeliverable(ctx, log, r.device, deployment, fmt.Errorf("the controller no longer has module blob %.12s: %w", r.req.SHA256, err))
		return
	}
	if err != nil {
		log.Warn("fetch refused", "err", err)
		return
	}
	idx := slices.Clone(r.req.Indices)
	slices.Sort(idx)
	idx = slices.Compact(idx)
	if idx[0] < 0 || idx[len(idx)-1] >= len(ref.Chunks) {
		log.Warn("fetch refused: index out of range", "min", idx[0], "max", idx[len(idx)-1], "chunks", len(ref.Chunks))
		return
	}
	topic := wire.DeviceTopic(r.device, wire.KindChunks)
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, fetchInFlight)
		failed atomic.Bool
	)
	defer wg.Wait()
	for _, i := range idx {
		frame, err := f.chunks.frame(ref, i, f.store.ReadChunk)
		if damaged(err) {
			wg.Wait()
			f.undeliverable(ctx, log, r.device, deployment, fmt.Errorf("the controller's copy of module blob %.12s is damaged: %w", ref.SHA256, err))
			return
		}
		if err != nil {
			log.Error("fetch: read chunk (agent will ask again)", "index", i, "err", err)
			return
		}
		sem <- struct{}{}
		if failed.Load() {
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f.publish(ctx, topic, 1, false, frame); err != nil && !failed.Swap(true) {
				log.Warn("fetch: publish chunk (agent will ask again)", "index", i, "err", err)
			}
		})
	}
	wg.Wait()
	if !failed.Load() {
		log.Info("chunks sent", "count", len(idx), "of", len(ref.Chunks))
	}
}

// undeliverable fails the device's part in deployment: the controller
// cannot serve the module's bytes (a chunk fails its hash, the file or the
// blob is gone), and the agent would otherwise ask again for ever and the
// deployment stay fetching. Asking again changes nothing until the module
// is uploaded again (edgectl push).
func (f *Fleet) undeliverable(ctx context.Context, log logger, device, deployment string, err error) {
	log.Error("fetch: module blob cannot be served; failing the deployment for the device", "deployment", deployment, "err", err)
	f.setState(ctx, log, deployment, device, wire.StateFailed, err.Error()+"; the device cannot fetch the module")
}

// damaged tells a stored blob that will not read correctly however often
// it is asked for (a chunk that fails its hash, a missing or truncated
// file) from a passing I/O error.
func damaged(err error) bool {
	return errors.Is(err, store.ErrCorrupt) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

var errNotDesired = errors.New("blob is not in the device's desired state")

// allowedBlob returns the blob, and the deployment that put it in the
// device's desired state, if it is part of that state: a device may fetch
// only what it was told to run.
func (f *Fleet) allowedBlob(ctx context.Context, device, sha string) (wire.BlobRef, string, error) {
	ds, err := f.store.Desired(ctx, device)
	if err != nil {
		return wire.BlobRef{}, "", err
	}
	for _, m := range ds.Modules {
		if m.Blob.SHA256 == sha {
			ref, err := f.store.Blob(ctx, sha)
			return ref, m.Deployment, err
		}
	}
	return wire.BlobRef{}, "", errNotDesired
}
