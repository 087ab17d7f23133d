package fleet

import (
	"fmt"
	"sync"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// Two agents with one device id take each other's MQTT session over, each
// reconnect closing the other's. The agents notice the pattern and say so
// (an id_conflict event, agent/session/takeover.go); the embedded broker
// sees every takeover itself (NoteTakeover), which covers agents too old
// to say anything. Either way the device is flagged (wire.Device.IDConflict)
// in the inventory, the dashboard and edgectl, and the controller logs an
// error, until the agent reports the conflict over (an id_conflict_over
// event: its connection stayed up its takeover window, 10 s by default),
// or, from agents too old to say so, until neither has said anything for
// conflictHold.
//
// The flag is held in memory only, on purpose: a conflict that goes on
// is said again (the agent's event at each doubling of its back-off, at
// most TakeoverMaxDelay apart, and the broker's takeovers), so a
// restarted controller flags it again within minutes, while a persisted
// flag could outlive a conflict whose end the controller missed. The
// events themselves stay in the device's history.
const (
	// takeoverStreak takeovers of one device's session within
	// takeoverWindow make a conflict.
	takeoverStreak = 3
	takeoverWindow = time.Minute
	// conflictHold is how long a conflict stays flagged after its last
	// report: an agent backing off reports at most every 10 minutes.
	conflictHold = 30 * time.Minute
)

// conflicts are the device id conflicts, in memory: a restarted
// controller learns of a conflict that goes on from the next report.
type conflicts struct {
	mu        sync.Mutex
	byID      map[string]*wire.IDConflict
	takeovers map[string][]time.Time // recent takeovers per device, at most takeoverStreak
}

// NoteTakeover records that the embedded broker closed device id's session
// because another connection of the same client id took it over.
func (f *Fleet) NoteTakeover(id string) {
	now := f.now()
	c := &f.conflicts
	c.mu.Lock()
	if c.takeovers == nil {
		c.takeovers = map[string][]time.Time{}
	}
	ts := append(c.takeovers[id], now)
	if len(ts) > takeoverStreak {
		ts = ts[len(ts)-takeoverStreak:]
	}
	c.takeovers[id] = ts
	n := len(ts)
	first := ts[0]
	c.mu.Unlock()
	if n < takeoverStreak || now.Sub(first) > takeoverWindow {
		return
	}
	f.noteConflict(id, "broker", fmt.Sprintf("the embedded broker handed device %s's session to a new connection %s within %s "+
		"(MQTT client-id takeover): two agents use this device id", id, plural.Count(n, "time"), now.Sub(first).Round(time.Second)), now)
}

// noteConflict flags device id and logs the conflict (an error the first
// time, and whenever it was quiet for conflictHold).
func (f *Fleet) noteConflict(id, source, reason string, at time.Time) {
	c := &f.conflicts
	c.mu.Lock()
	if c.byID == nil {
		c.byID = map[string]*wire.IDConflict{}
	}
	k := c.byID[id]
	fresh := k == nil || at.Sub(k.Last) > conflictHold
	if fresh {
		k = &wire.IDConflict{Since: at.UTC()}
		c.byID[id] = k
	}
	k.Last, k.Source, k.Reason = at.UTC(), source, reason
	k.Count++
	c.mu.Unlock()
	if fresh {
		f.log.Error("device id used by two agents: give each board its own id (edgectl device add) and stop the other agent",
			"device", id, "source", source, "reason", reason)
	} else {
		f.log.Warn("device id conflict goes on", "device", id, "source", source, "count", k.Count)
	}
}

// conflict returns device id's conflict while it is flagged.
func (f *Fleet) conflict(id string) *wire.IDConflict {
	c := &f.conflicts
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.byID[id]
	if k == nil {
		return nil
	}
	if f.now().Sub(k.Last) > conflictHold {
		delete(c.byID, id)
		return nil
	}
	cp := *k
	return &cp
}

// endConflict clears device id's flag: its agent reports the conflict
// over. The broker's count of takeovers starts again too.
func (f *Fleet) endConflict(id, reason string) {
	c := &f.conflicts
	c.mu.Lock()
	k := c.byID[id]
	delete(c.byID, id)
	delete(c.takeovers, id)
	c.mu.Unlock()
	if k != nil {
		f.log.Info("device id conflict over", "device", id, "reason", reason, "since", k.Since, "count", k.Count)
	}
}

// forget drops what is known of id's conflicts (device removed).
func (c *conflicts) forget(id string) {
	c.mu.Lock()
	delete(c.byID, id)
	delete(c.takeovers, id)
	c.mu.Unlock()
}
