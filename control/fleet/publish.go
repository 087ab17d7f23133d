package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/edgeplane/edge/wire"
)

// # Publishing desired states
//
// A change that touches many devices (a deployment, its cancellation, a
// rollout wave, a republish) stores their desired states and hands them
// to the publisher, which the change wakes: the API request returns once
// the states are stored, not after a thousand QoS 1 round trips.
//
//	Deploy ──store──▶ queue (newest generation per device) ──wake──▶ runPublisher
//	                                                                   │ publishStates
//	                                                                   ▼
//	                               up to publishInFlight publishes awaiting their PUBACK
//
// A change of one device (labels, a quarantine clear) publishes before it
// returns, through the same publishStates. publishStates runs under
// desiredMu, one batch at a time; within a batch each device appears once,
// and a device's generation is published only if it is newer than the one
// this leader published before (or, for a republish, not older), so the
// retained message of a device is always the newest generation whatever the
// order in which batches and single publishes come. Each publish checks the
// lease right before it is handed to the MQTT client (fencing, leader.go),
// and skips removed devices (remove.go).

// publishInFlight bounds the desired-state publishes of one batch awaiting
// the broker's acknowledgement at once.
const publishInFlight = 64

// publishQueue holds the desired states waiting for the publisher: the
// newest generation of each device.
type publishQueue struct {
	mu     sync.Mutex
	states map[string]queued
	wake   chan struct{} // capacity 1
}

// queued is a desired state waiting to be published; again: also if that
// generation was published before (Republish).
type queued struct {
	ds    wire.DesiredState
	again bool
}

func newPublishQueue() *publishQueue {
	return &publishQueue{states: map[string]queued{}, wake: make(chan struct{}, 1)}
}

func queuedStates(states []wire.DesiredState, again bool) []queued {
	out := make([]queued, len(states))
	for i := range states {
		out[i] = queued{ds: states[i], again: again}
	}
	return out
}

// publishLater records states in the inventory at once and queues them for
// the publisher, which it wakes. Callers hold deployMu (the inventory then
// sees the states in the order they were stored).
func (f *Fleet) publishLater(states []wire.DesiredState, again bool) {
	for i := range states {
		f.noteDesired(&states[i])
	}
	q := f.queue
	q.mu.Lock()
	for _, ds := range states {
		old, ok := q.states[ds.Device]
		switch {
		case !ok || ds.Generation > old.ds.Generation:
			q.states[ds.Device] = queued{ds: ds, again: again}
		case ds.Generation == old.ds.Generation && again:
			old.again = true
			q.states[ds.Device] = old
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// publishQueued publishes what publishLater queued, if this controller
// leads; otherwise the leader publishes those states (it reads them as
// unpublished, or republishes everything when it takes the lease).
func (f *Fleet) publishQueued(ctx context.Context) {
	q := f.queue
	q.mu.Lock()
	states := q.states
	q.states = map[string]queued{}
	q.mu.Unlock()
	if len(states) == 0 {
		return
	}
	if !f.Leading() {
		f.log.Debug("desired states stored; the leader publishes them", "devices", len(states))
		return
	}
	batch := make([]queued, 0, len(states))
	for _, s := range states {
		batch = append(batch, s)
	}
	slices.SortFunc(batch, func(a, b queued) int { return cmp.Compare(a.ds.Device, b.ds.Device) })
	f.publishStates(ctx, batch)
}

// publishDesired publishes one device's desired state, retained, QoS 1,
// before it returns, if this controller leads; otherwise the leader
// publishes it.
func (f *Fleet) publishDesired(ctx context.Context, ds *wire.DesiredState) {
	f.noteDesired(ds)
	f.publishStates(ctx, []queued{{ds: *ds}})
}

// publishStates publishes states, at most one per device, pipelined: up to
// publishInFlight at once. See the section comment for the order.
func (f *Fleet) publishStates(ctx context.Context, states []queued) {
	f.desiredMu.Lock()
	defer f.desiredMu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done = map[string]int64{}
		sem  = make(chan struct{}, publishInFlight)
	)
	for _, s := range states {
		ds := &s.ds
		last := f.lastPublished[ds.Device]
		if ds.Generation < last || (ds.Generation == last && !s.again) {
			continue // never an older one after a newer one
		}
		payload, err := json.Marshal(ds)
		if err != nil {
			f.log.Error("encode desired state", "device", ds.Device, "err", err)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if f.publishOne(ctx, ds, payload) {
				mu.Lock()
				done[ds.Device] = ds.Generation
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for dev, gen := range done {
		f.lastPublished[dev] = gen
		f.unmarked[dev] = gen
	}
}

// publishOne publishes ds (payload) unless its device was removed or this
// controller no longer leads, and reports whether it did. The caller holds
// desiredMu.
func (f *Fleet) publishOne(ctx context.Context, ds *wire.DesiredState, payload []byte) bool {
	if f.removed.has(ds.Device) {
		return false // read before the device was removed: its topic stays empty
	}
	if !f.Leading() { // checked last, right before the publish
		f.log.Debug("desired state stored; the leader publishes it", "device", ds.Device, "generation", ds.Generation)
		return false
	}
	err := f.publish(ctx, wire.DeviceTopic(ds.Device, wire.KindDesired), 1, true, payload)
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		// Deploy refuses what would grow a desired state this far; a
		// state stored by an older controller stays unpublished, and
		// the session and the other devices are unaffected.
		f.log.Error("desired state too large to publish; deploy a smaller set of modules to this device", "device", ds.Device, "generation", ds.Generation, "err", err)
		return false
	case err != nil:
		f.log.Warn("publish desired state (will retry on reconnect)", "device", ds.Device, "generation", ds.Generation, "err", err)
		return false
	}
	f.log.Debug("desired state published", "device", ds.Device, "generation", ds.Generation)
	return true
}

// Republish queues every stored desired state to be published again. The
// controller calls it on every MQTT (re)connection.
func (f *Fleet) Republish(ctx context.Context) error {
	if !f.Leading() {
		return nil // the leader does
	}
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	all, bad, err := f.store.AllDesired(ctx)
	if err != nil {
		return fmt.Errorf("republish: %w", err)
	}
	if bad != nil {
		f.log.Error("desired states that cannot be read are not republished; deploy to those devices again", "err", bad)
	}
	f.publishLater(all, true)
	f.log.Info("desired states queued for republishing", "devices", len(all))
	return nil
}
