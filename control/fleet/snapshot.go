package fleet

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Snapshot is the fleet as /metrics shows it, taken from memory at once.
// Devices are those registered or seen; each carries at most wire.MaxModules
// modules and versionsPerModule versions of each (the ingest bounds).
type Snapshot struct {
	Devices []DeviceSnapshot
}

// DeviceSnapshot is one device.
type DeviceSnapshot struct {
	ID     string
	Online bool
	// Status is the latest status with its modules made truthful (the
	// serving version of each); nil if the device never sent one.
	Status *wire.Status
	// Agent is the latest report's agent section and Totals its counters
	// accumulated by the controller; Reported is when that report
	// arrived (zero: no report yet).
	Agent    wire.AgentMetrics
	Totals   AgentTotals
	Reported time.Time
	Series   []SeriesSnapshot
}

// SeriesSnapshot is one module version of a device.
type SeriesSnapshot struct {
	Module, Version string
	Last            wire.ModuleMetrics // gauges of the latest report
	Totals          Totals             // counters accumulated by the controller
}

// Snapshot returns the fleet for /metrics.
func (f *Fleet) Snapshot() Snapshot {
	f.inv.mu.RLock()
	byID := map[string]*DeviceSnapshot{}
	for id := range f.inv.devices {
		d := &DeviceSnapshot{ID: id}
		if st := f.inv.status[id]; st != nil {
			cp := *st
			cp.Modules = f.inv.viewLocked(st)
			d.Status, d.Online = &cp, st.Online
		}
		byID[id] = d
	}
	f.inv.mu.RUnlock()

	m := f.metrics
	m.mu.RLock()
	for id, dm := range m.devices {
		d := byID[id]
		if d == nil || dm.last == nil {
			continue
		}
		d.Agent, d.Totals, d.Reported = dm.last.Agent, dm.agent, dm.received
		for k, s := range dm.series {
			t := s.Totals
			t.Latency.Counts = slices.Clone(t.Latency.Counts)
			d.Series = append(d.Series, SeriesSnapshot{Module: k.module, Version: k.version, Last: s.Last, Totals: t})
		}
	}
	m.mu.RUnlock()

	out := Snapshot{Devices: make([]DeviceSnapshot, 0, len(byID))}
	for _, d := range byID {
		slices.SortFunc(d.Series, func(a, b SeriesSnapshot) int {
			return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Version, b.Version))
		})
		out.Devices = append(out.Devices, *d)
	}
	slices.SortFunc(out.Devices, func(a, b DeviceSnapshot) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// DeviceCounts returns how many devices are known (registered or seen)
// and how many of them are online: the fleet in two numbers, cheap
// whatever its size.
func (f *Fleet) DeviceCounts() (known, online int) {
	f.inv.mu.RLock()
	defer f.inv.mu.RUnlock()
	for id := range f.inv.devices {
		known++
		if st := f.inv.status[id]; st != nil && st.Online {
			online++
		}
	}
	return known, online
}
