package fleet

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// reportsEvery is how often the statuses and events received are stored:
// in one transaction, with the deployment progress they report.
//
// A fleet's devices each publish a status every interval (10,000 devices
// at 10 s: 1,000 a second), and a push makes each targeted device send six
// events; the controller's one MQTT connection delivers every message in
// order on one goroutine. Stored there, one commit (one fsync on SQLite)
// each, they held up the fetch requests and acknowledgements queued behind
// them, until the broker dropped what the controller did not read in time.
// HandleMessage now only decodes a status or an event and queues it.
const reportsEvery = 100 * time.Millisecond

// reportsMax bounds the reports waiting to be stored (statuses count once
// per device: a newer one replaces the one waiting); beyond it events are
// dropped (the statuses still say where each deployment stands).
const reportsMax = 50000

// reportQueue holds the statuses and events received and not stored yet,
// in their order of arrival.
type reportQueue struct {
	mu     sync.Mutex
	items  []queuedReport
	status map[string]int // device → index in items of its waiting status
}

// queuedReport is a status or an event, with when it arrived.
type queuedReport struct {
	status   *wire.Status
	will     bool // status is a Last Will not merged with the device's last status yet
	event    *wire.Event
	prune    bool // prune the device's stored events after this one
	received time.Time
}

func newReportQueue() *reportQueue {
	return &reportQueue{status: map[string]int{}}
}

// queueStatus keeps st to be stored at the next storeReports, in place of
// the device's status waiting, if any, and folds it into the inventory. A
// Last Will (offline, no modules) keeps what the device reported last: the
// status waiting here, or the stored one (then merged when stored, and
// folded into the inventory then).
func (f *Fleet) queueStatus(st wire.Status) {
	q := f.reports
	q.mu.Lock()
	defer q.mu.Unlock()
	will := !st.Online && len(st.Modules) == 0
	if i, ok := q.status[st.Device]; ok {
		prev := q.items[i]
		if will && !prev.will {
			st, will = mergeWill(*prev.status, st), false
		}
		q.items[i].status = nil // replaced by the newer one, stored in its place in the order
	}
	q.status[st.Device] = len(q.items)
	q.items = append(q.items, queuedReport{status: &st, will: will, received: f.now()})
	if !will {
		// In memory at once, before the reports that follow it (a
		// metrics report's labels follow the modules its status names).
		f.inv.setStatus(&st)
	}
}

// queueEvent keeps ev to be stored at the next storeReports. Arrival times
// are made strictly increasing: they key the stored events.
func (f *Fleet) queueEvent(log logger, ev *wire.Event) {
	at := f.now()
	f.evMu.Lock()
	if !at.After(f.lastEvent) {
		at = f.lastEvent.Add(time.Nanosecond)
	}
	f.lastEvent = at
	f.evCount++
	prune := f.evCount%50 == 0
	f.evMu.Unlock()
	q := f.reports
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= reportsMax {
		log.Warn("event dropped: too many reports waiting to be stored", "deployment", ev.Deployment, "state", ev.State)
		return
	}
	q.items = append(q.items, queuedReport{event: ev, prune: prune, received: at})
}

// mergeWill is a Last Will over the device's last status: the agent
// registers the will when it connects, with what it says of itself
// (labels, board, version) but not its modules, which it cannot know then.
// The modules and generation are the ones last reported (and the labels
// if the will has none), marked offline.
func mergeWill(prev, will wire.Status) wire.Status {
	st := prev
	st.Online, st.Time = false, will.Time
	if will.Labels != nil {
		st.Labels = will.Labels
	}
	st.AgentVersion = cmp.Or(will.AgentVersion, st.AgentVersion)
	st.Arch, st.Board, st.Engine = cmp.Or(will.Arch, st.Arch), cmp.Or(will.Board, st.Board), cmp.Or(will.Engine, st.Engine)
	return st
}

// runReports stores the reports received every reportsEvery until ctx is
// done, and what is left then.
func (f *Fleet) runReports(ctx context.Context) {
	t := time.NewTicker(reportsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			f.storeReports(stop)
			cancel()
			return
		case <-t.C:
			f.storeReports(ctx)
		}
	}
}

// storeReports stores the reports waiting, in their order, with the
// deployment progress they report, in one transaction; then it folds the
// events (and the wills merged here) into the inventory: what a view
// shows of them, the device detail lists.
func (f *Fleet) storeReports(ctx context.Context) {
	q := f.reports
	q.mu.Lock()
	items := q.items
	q.items, q.status = nil, map[string]int{}
	q.mu.Unlock()
	if len(items) == 0 {
		return
	}
	batch := make([]store.Report, 0, len(items))
	kept := items[:0]
	for _, it := range items {
		if it.status == nil && it.event == nil {
			continue // a status replaced by a newer one
		}
		var dev string
		if it.status != nil {
			dev = it.status.Device
		} else {
			dev = it.event.Device
		}
		if f.removed.has(dev) {
			continue
		}
		if it.will {
			if prev, err := f.store.Device(ctx, dev); err == nil && prev.Status != nil {
				merged := mergeWill(*prev.Status, *it.status)
				it.status = &merged
			}
		}
		batch = append(batch, f.report(it))
		kept = append(kept, it)
	}
	if err := f.store.PutReports(ctx, batch); err != nil {
		if ctx.Err() == nil {
			f.log.Error("store statuses and events (a device's next status says where it stands again)", "reports", len(batch), "err", err)
		}
		return
	}
	for _, it := range kept {
		if it.will {
			f.inv.setStatus(it.status)
		}
		if it.status != nil {
			continue
		}
		f.inv.addEvent(it.event)
		if it.prune {
			if err := f.store.PruneEvents(ctx, it.event.Device, it.received.Add(-store.KeepQuarter)); err != nil {
				f.log.Error("prune events", "device", it.event.Device, "err", err)
			}
		}
	}
	f.log.Debug("statuses and events stored", "reports", len(batch))
}

// report is what the store records of it: the status or event, and the
// deployment progress it reports (level-triggered for a status: it says
// where each deployment stands even if an event was lost).
func (f *Fleet) report(it queuedReport) store.Report {
	r := store.Report{Status: it.status, Event: it.event, Received: it.received}
	change := func(deployment, device, state, reason string) {
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		r.Progress = append(r.Progress, store.StateChange{Deployment: deployment, Device: device, State: state, Reason: sanitize(reason)})
	}
	if ev := it.event; ev != nil {
		if ev.Deployment != "" {
			change(ev.Deployment, ev.Device, ev.State, ev.Reason)
		}
		return r
	}
	for _, m := range it.status.Modules {
		if m.Deployment != "" && slices.Contains(knownStates, m.State) {
			change(m.Deployment, it.status.Device, m.State, m.Error)
		}
		// The latest attempt, when it is not what serves (rejected,
		// failed, rolled back, in progress), is only in Attempt.
		if a := m.Attempt; a != nil && a.Deployment != "" && slices.Contains(knownStates, a.State) {
			change(a.Deployment, it.status.Device, a.State, a.Reason)
		}
	}
	return r
}
