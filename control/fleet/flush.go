package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// flushEvery is how often closed minutes are looked for; each minute is
// stored once, shortly after it closed.
const flushEvery = 5 * time.Second

// maxPendingMinutes bounds the minutes kept in memory while the store
// refuses them (a full disk): older ones are dropped, with a log line.
const maxPendingMinutes = 30

// runFlush stores closed minutes until ctx is done, then everything once
// more (the minute in progress too: a restart within it sums both parts).
func (f *Fleet) runFlush(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := f.flush(stop, true); err != nil {
				f.log.Error("store metrics at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := f.flush(ctx, false); err != nil {
				f.log.Error("store metrics (kept in memory, retried)", "err", err)
			}
		}
	}
}

// flush stores the history of every closed minute (all of them with
// everything), the fleet rows summed over devices, and the latest reports
// that changed.
func (f *Fleet) flush(ctx context.Context, everything bool) error {
	now := f.now()
	cur := now.Unix() - now.Unix()%store.StepMinute
	m := f.metrics
	m.mu.Lock()
	taken := map[pointKey]*store.Counts{}
	for k, c := range m.points {
		if k.minute < cur || everything {
			taken[k] = c
			delete(m.points, k)
		}
	}
	var latest []store.LatestMetrics
	var dirty []*deviceMetrics
	for _, d := range m.devices {
		if d.dirty {
			latest = append(latest, store.LatestMetrics{Metrics: d.last, Received: d.received})
			dirty = append(dirty, d)
			d.dirty = false
		}
	}
	m.mu.Unlock()
	if len(taken) == 0 && len(latest) == 0 {
		return nil
	}
	rows := historyRows(taken)
	flushedTo := time.Unix(cur, 0)
	if err := f.store.FlushMetrics(ctx, rows, latest, flushedTo); err != nil {
		f.putBack(taken, dirty)
		return err
	}
	return nil
}

// putBack returns what a failed flush took, to be tried again.
func (f *Fleet) putBack(taken map[pointKey]*store.Counts, dirty []*deviceMetrics) {
	m := f.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range taken {
		m.point(k).Add(c)
	}
	for _, d := range dirty {
		d.dirty = true
	}
	minutes := map[int64]bool{}
	for k := range m.points {
		minutes[k.minute] = true
	}
	if len(minutes) > maxPendingMinutes {
		ms := slices.Sorted(maps.Keys(minutes))
		cut := ms[len(ms)-maxPendingMinutes]
		for k := range m.points {
			if k.minute < cut {
				delete(m.points, k)
			}
		}
		f.log.Error("metrics history dropped: the store refused it for too long", "minutes", len(ms)-maxPendingMinutes)
	}
}

// historyRows turns minute points into rows, with one fleet row per
// (module, minute): counts summed over devices, the time covered being the
// longest any device covered (devices report side by side).
func historyRows(points map[pointKey]*store.Counts) []store.HistoryRow {
	fleet := map[pointKey]*store.Counts{}
	rows := make([]store.HistoryRow, 0, len(points))
	for k, c := range points {
		rows = append(rows, store.HistoryRow{Device: k.device, Module: k.module, Time: time.Unix(k.minute, 0), Counts: *c})
		if k.module == "" {
			continue
		}
		fk := pointKey{"", k.module, k.minute}
		fc := fleet[fk]
		if fc == nil {
			fc = &store.Counts{}
			fleet[fk] = fc
		}
		addFleet(fc, c)
	}
	for k, c := range fleet {
		rows = append(rows, store.HistoryRow{Device: "", Module: k.module, Time: time.Unix(k.minute, 0), Counts: *c})
	}
	return rows
}

func addFleet(fc, c *store.Counts) {
	s := max(fc.Seconds, c.Seconds)
	fc.Add(c)
	fc.Seconds = s
}

// Errors of History; the API answers 400.
var ErrHistoryQuery = errors.New("bad history query")

// History returns the trend of one series from since, step seconds apart:
// a module on a device (device and module), a device's agent (module ""),
// or a module across the fleet (device ""). The minutes not stored yet
// (the one in progress included) come from memory, so the last point is
// seconds old.
func (f *Fleet) History(ctx context.Context, device, module string, since time.Time, step int64) (wire.History, error) {
	h := wire.History{Device: device, Module: module, Step: step, Points: []wire.HistoryPoint{}}
	if device == "" && module == "" {
		return h, fmt.Errorf("%w: name a device, a module, or both", ErrHistoryQuery)
	}
	now := f.now()
	buckets, err := f.store.History(ctx, device, module, since, step, now)
	if errors.Is(err, store.ErrHistoryRange) {
		return h, fmt.Errorf("%w: %w", ErrHistoryQuery, err)
	}
	if err != nil {
		return h, err
	}
	byTime := map[int64]*store.Counts{}
	for i := range buckets {
		byTime[buckets[i].Time.Unix()] = &buckets[i].Counts
	}
	from := since.Unix() - since.Unix()%step
	f.metrics.mu.RLock()
	fleetMem := map[int64]*store.Counts{}
	for k, c := range f.metrics.points {
		if k.module != module || k.minute < from || (device != "" && k.device != device) || (device == "" && k.device == "") {
			continue
		}
		t := k.minute - k.minute%step
		if device == "" {
			fc := fleetMem[t]
			if fc == nil {
				fc = &store.Counts{}
				fleetMem[t] = fc
			}
			addFleet(fc, c)
			continue
		}
		b := byTime[t]
		if b == nil {
			b = &store.Counts{}
			byTime[t] = b
		}
		b.Add(c)
	}
	f.metrics.mu.RUnlock()
	for t, c := range fleetMem {
		b := byTime[t]
		if b == nil {
			b = &store.Counts{}
			byTime[t] = b
		}
		b.Add(c)
	}
	for _, t := range slices.Sorted(maps.Keys(byTime)) {
		h.Points = append(h.Points, byTime[t].Point(time.Unix(t, 0)))
	}
	return h, nil
}
