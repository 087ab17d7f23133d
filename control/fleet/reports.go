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
// HandleMessage now only queues a status or an event; the goroutine that
// stores them decodes them.
const reportsEvery = 100 * time.Millisecond

// reportsMax bounds the reports waiting to be stored; beyond it they are
// dropped (a device's next status says where it stands again).
const reportsMax = 50000

// reportQueue holds the statuses and events received and not stored yet,
// as they arrived: decoding them is left to storeReports too.
type reportQueue struct {
	mu    sync.Mutex
	items []receivedReport
	// storing is held while a batch is decoded and stored: batches are
	// stored in the order they were taken, whoever takes them (the
	// ticker, or a caller that must read what was received: view).
	storing sync.Mutex
}

func newReportQueue() *reportQueue { return &reportQueue{} }

// receivedReport is a status or an event (kind) as it arrived.
type receivedReport struct {
	device, kind string
	payload      []byte
	received     time.Time
}

// queuedReport is a decoded status or event, with when it arrived.
type queuedReport struct {
	status   *wire.Status
	will     bool // status is a Last Will not merged with the device's last status yet
	event    *wire.Event
	prune    bool // prune the device's stored events after this one
	received time.Time
}

// queueReport keeps a status or an event (kind) of device id to be stored
// at the next storeReports. Events are dropped beyond reportsMax.
func (f *Fleet) queueReport(log logger, id, kind string, payload []byte) {
	q := f.reports
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= reportsMax {
		log.Warn("report dropped: too many waiting to be stored")
		return
	}
	q.items = append(q.items, receivedReport{device: id, kind: kind, payload: payload, received: f.now()})
}

// decodeReports decodes the reports received, in their order: a device's
// status replaces its earlier one in the batch (a Last Will, offline and
// without modules, keeps what that one said), and events get strictly
// increasing arrival times, which key the stored events.
func (f *Fleet) decodeReports(items []receivedReport) []queuedReport {
	out := make([]queuedReport, 0, len(items))
	last := map[string]int{} // device → index in out of its status
	for _, r := range items {
		if f.removed.has(r.device) {
			continue
		}
		log := f.log.With("device", r.device, "kind", r.kind)
		if r.kind == wire.KindEvents {
			ev, ok := decodeEvent(log, r.device, r.payload)
			if !ok {
				continue
			}
			switch ev.State {
			case wire.StateIDConflict:
				f.noteConflict(r.device, "agent", ev.Reason, r.received)
			case wire.StateIDConflictOver:
				f.endConflict(r.device, ev.Reason)
			}
			at, prune := f.eventTime(r.received)
			out = append(out, queuedReport{event: ev, prune: prune, received: at})
			continue
		}
		var st wire.Status
		if !decode(log, r.device, r.payload, &st, &st.Device) {
			continue
		}
		f.checkStatusLabels(log, &st)
		f.observePresence(r.device, st.Online, r.received) // the gates of staged rollouts (rollout.go)
		will := !st.Online && len(st.Modules) == 0
		if i, ok := last[r.device]; ok {
			if prev := out[i]; will && !prev.will {
				st, will = mergeWill(*prev.status, st), false
			}
			out[i].status = nil // replaced by the newer one, stored in its place in the order
		}
		last[r.device] = len(out)
		out = append(out, queuedReport{status: &st, will: will, received: r.received})
	}
	return out
}

// eventTime is the arrival time of an event received at: strictly later
// than the one before; prune: the device's stored events are pruned after
// it (one event in 50).
func (f *Fleet) eventTime(at time.Time) (time.Time, bool) {
	f.evMu.Lock()
	defer f.evMu.Unlock()
	if !at.After(f.lastEvent) {
		at = f.lastEvent.Add(time.Nanosecond)
	}
	f.lastEvent = at
	f.evCount++
	return at, f.evCount%50 == 0
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
	q.storing.Lock()
	defer q.storing.Unlock()
	q.mu.Lock()
	raw := q.items
	q.items = nil
	q.mu.Unlock()
	if len(raw) == 0 {
		return
	}
	items := f.decodeReports(raw)
	batch := make([]store.Report, 0, len(items))
	kept := items[:0]
	for _, it := range items {
		if it.status == nil && it.event == nil {
			continue // a status replaced by a newer one
		}
		if it.will {
			if prev, err := f.store.Device(ctx, it.status.Device); err == nil && prev.Status != nil {
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
		if it.status != nil {
			f.inv.setStatus(it.status)
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
