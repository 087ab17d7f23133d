package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/edgeplane/edge/wire"
)

// Removal is what RemoveDevice did.
type Removal struct {
	// SessionClosed: the broker had a session of the device and closed it
	// (embedded broker only; false with an external broker, which the
	// controller cannot ask).
	SessionClosed bool
	// Cleared are the retained topics emptied on the broker.
	Cleared []string
	// Deployments are those in which the device had not finished: its
	// part there ended removed (wire.StateRemoved), so none waits for it.
	Deployments []string
	// Rollouts are the live rollouts whose waves named the device: their
	// waves and rollbacks go on without it.
	Rollouts []string
}

// retainedKinds are the device topics holding retained messages: the
// desired state (controller's) and the status (the agent's, and its Last
// Will).
var retainedKinds = []string{wire.KindDesired, wire.KindStatus}

// RemoveDevice removes device id from the fleet, in this order:
//
//  1. its credentials, desired state, inventory entry, events and history
//     are deleted from the store and it is marked removed, so that the
//     broker refuses it from now on (password or certificate) and ingest
//     drops whatever it still sends; its unfinished part in every
//     deployment ends removed (a wave or a rollback waiting for it goes
//     on at once), and later deployments (a rollout's next wave) record
//     it removed without sending it anything (deploy);
//  2. closeSession (nil with an external broker) ends its live session
//     without its Last Will;
//  3. its retained topics are emptied on the broker, so nothing it
//     subscribes to again (under a new registration) replays old state.
//
// With several replicas, the others learn of the removal when they start
// (Load): until then their ingest still takes the device's reports, which
// only an external broker (the replicas' case) would still pass on.
//
// store.ErrNotFound when the controller knows nothing of id. A failure to
// clear the retained topics is returned after the removal itself took
// effect (the caller may retry: removing again answers ErrNotFound, and
// the topics are cleared again by a later registration's first deploy).
func (f *Fleet) RemoveDevice(ctx context.Context, id string, closeSession func(string) bool) (Removal, error) {
	var r Removal
	// As a deployment does: no desired state of id is stored and published
	// between the removal and the clearing of its retained topic.
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	// No batch of reports decoded before the removal is stored after it:
	// it would bring the device's row back (storeReports checks removed
	// when it decodes).
	f.reports.storing.Lock()
	rm, err := f.store.RemoveDevice(ctx, id, f.now())
	if err == nil {
		f.removed.add(id)
	}
	f.reports.storing.Unlock()
	if err != nil {
		return r, err
	}
	r.Deployments = rm.Ended
	r.Rollouts = f.rolloutsOf(ctx, id)
	if len(r.Deployments) > 0 || len(r.Rollouts) > 0 {
		f.kickRollouts()
	}
	f.inv.remove(id)
	f.metrics.forget(id)
	f.conflicts.forget(id)
	if closeSession != nil {
		r.SessionClosed = closeSession(id)
	}
	// After any publish of its desired state already under way here
	// (publishDesiredNow, which skips removed devices from now on).
	f.desiredMu.Lock()
	defer f.desiredMu.Unlock()
	var errs []error
	for _, k := range retainedKinds {
		topic := wire.DeviceTopic(id, k)
		if err := f.publish(ctx, topic, 1, true, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Cleared = append(r.Cleared, topic)
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("device %s removed, but its retained messages were not all cleared: %w", id, err)
	}
	f.log.Info("device removed", "device", id, "session_closed", r.SessionClosed, "cleared", len(r.Cleared),
		"deployments_ended", r.Deployments, "rollouts", r.Rollouts)
	return r, nil
}

// rolloutsOf names the live rollouts whose waves include device (best
// effort: the removal is done whatever this finds).
func (f *Fleet) rolloutsOf(ctx context.Context, device string) []string {
	rs, err := f.store.LiveRollouts(ctx)
	if err != nil {
		f.log.Warn("device removed: live rollouts unknown", "device", device, "err", err)
		return nil
	}
	var ids []string
	for _, r := range rs {
		for _, w := range r.Waves {
			if slices.Contains(w.Devices, device) {
				ids = append(ids, r.ID)
				break
			}
		}
	}
	return ids
}

// removedSet holds the ids of removed devices whose messages ingest
// drops until they are registered again.
type removedSet struct {
	mu  sync.RWMutex
	ids map[string]bool
}

func (s *removedSet) add(id string) {
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
	s.mu.Unlock()
}

func (s *removedSet) del(id string) {
	s.mu.Lock()
	delete(s.ids, id)
	s.mu.Unlock()
}

// split parts ids into those not removed and those removed.
func (s *removedSet) split(ids []string) (kept, removed []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range ids {
		if s.ids[id] {
			removed = append(removed, id)
		} else {
			kept = append(kept, id)
		}
	}
	return kept, removed
}

func (s *removedSet) has(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ids[id]
}

// noteDesired records a desired state in the inventory, unless its
// device was removed: a desired state stored for it by an operation that
// chose it before the removal would bring it back into the views,
// /metrics (edge_device_up 0) and the module counts (FINDINGS-1 F14).
func (f *Fleet) noteDesired(ds *wire.DesiredState) {
	if f.removed.has(ds.Device) {
		return
	}
	f.inv.setDesired(ds)
}

// remove forgets everything the inventory holds of id.
func (inv *inventory) remove(id string) {
	inv.mu.Lock()
	delete(inv.status, id)
	delete(inv.desired, id)
	delete(inv.events, id)
	delete(inv.devices, id)
	inv.mu.Unlock()
}

// forget drops the metrics ingest holds for id, so that no later flush
// writes them back (a flush already under way may still: its window is
// that one write).
func (m *metricsState) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.devices, id)
	for k := range m.points {
		if k.device == id {
			delete(m.points, k)
		}
	}
}

// MarkOffline records that device id's session was closed by the
// controller (its password rotated): its last status, marked offline, is
// published retained on its status topic as its Last Will would have been
// (the broker was told not to send that will), so that every replica and
// a restarted controller see it offline until it reconnects with the new
// password. The store is written directly too, in case the publish fails.
func (f *Fleet) MarkOffline(ctx context.Context, id string) error {
	d, err := f.store.Device(ctx, id)
	if err != nil {
		return err
	}
	st := wire.Status{Device: id}
	if d.Status != nil {
		st = *d.Status
	}
	st.Online, st.Time = false, f.now().UTC()
	if err := f.store.PutStatus(ctx, &st, f.now()); err != nil {
		return err
	}
	f.inv.setStatus(&st)
	b, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	return f.publish(ctx, wire.DeviceTopic(id, wire.KindStatus), 1, true, b)
}
