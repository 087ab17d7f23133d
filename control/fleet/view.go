package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/edgeplane/edge/internal/semver"
	"github.com/edgeplane/edge/wire"
)

// Detail bounds (wire.DeviceDetail).
const (
	detailEvents = 50
	detailErrors = 10
)

// Devices returns the inventory as the API shows it: the stored devices
// with each status made truthful (inventory.viewLocked) and the latest
// metrics report, which ingest keeps in memory between flushes.
func (f *Fleet) Devices(ctx context.Context) ([]wire.Device, error) {
	ds, err := f.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		f.overlay(&ds[i])
	}
	return ds, nil
}

// Device returns one device as Devices does, or store.ErrNotFound.
func (f *Fleet) Device(ctx context.Context, id string) (wire.Device, error) {
	d, err := f.store.Device(ctx, id)
	if err != nil {
		return d, err
	}
	f.overlay(&d)
	return d, nil
}

func (f *Fleet) overlay(d *wire.Device) {
	d.IDConflict = f.conflict(d.ID)
	if d.Status != nil {
		d.Status.Modules = f.inv.view(d.Status)
	}
	f.metrics.mu.RLock()
	if dm := f.metrics.devices[d.ID]; dm != nil && dm.last != nil {
		cp := *dm.last
		d.Metrics = &cp
		if dm.received.After(d.LastSeen) {
			d.LastSeen = dm.received
		}
	}
	f.metrics.mu.RUnlock()
}

// DeviceDetail returns a device with its labels, recent events and the
// latest of them that failed.
func (f *Fleet) DeviceDetail(ctx context.Context, id string) (wire.DeviceDetail, error) {
	d, err := f.Device(ctx, id)
	if err != nil {
		return wire.DeviceDetail{}, err
	}
	out := wire.DeviceDetail{Device: d, Events: []wire.Event{}, Errors: []wire.Event{}}
	if d.Status != nil {
		out.Labels = d.Status.Labels
	}
	evs, err := f.store.Events(ctx, id, detailEvents, false)
	if err != nil {
		return out, err
	}
	for _, e := range evs {
		out.Events = append(out.Events, e.Event)
	}
	errs, err := f.store.Events(ctx, id, detailErrors, true)
	if err != nil {
		return out, err
	}
	for _, e := range errs {
		out.Errors = append(out.Errors, e.Event)
	}
	return out, nil
}

// Modules summarises every module across the fleet: the versions serving
// (newest first) and on which devices, the devices targeted, and the
// devices whose latest attempt is not serving.
func (f *Fleet) Modules(ctx context.Context) ([]wire.ModuleSummary, error) {
	devs, err := f.Devices(ctx)
	if err != nil {
		return nil, err
	}
	all, _, err := f.store.AllDesired(ctx) // unreadable states: targeting logs them (targeting.go)
	if err != nil {
		return nil, err
	}
	sums := map[string]*wire.ModuleSummary{}
	get := func(name string) *wire.ModuleSummary {
		s := sums[name]
		if s == nil {
			s = &wire.ModuleSummary{Name: name, Versions: []wire.VersionCount{}}
			sums[name] = s
		}
		return s
	}
	for _, ds := range all {
		for _, dm := range ds.Modules {
			if m, err := wire.ParseManifest(dm.Envelope.Payload); err == nil {
				get(m.Name).Targeted++
			}
		}
	}
	for _, d := range devs {
		if d.Status == nil {
			continue
		}
		for _, m := range d.Status.Modules {
			s := get(m.Name)
			if m.Version != "" {
				s.Serving++
				i := slices.IndexFunc(s.Versions, func(v wire.VersionCount) bool { return v.Version == m.Version })
				if i < 0 {
					s.Versions = append(s.Versions, wire.VersionCount{Version: m.Version})
					i = len(s.Versions) - 1
				}
				s.Versions[i].Devices = append(s.Versions[i].Devices, d.ID)
			}
			if m.Attempt != nil {
				s.Attempts = append(s.Attempts, wire.DeviceAttempt{Device: d.ID, Attempt: *m.Attempt})
			}
		}
	}
	out := make([]wire.ModuleSummary, 0, len(sums))
	for _, s := range sums {
		slices.SortFunc(s.Versions, func(a, b wire.VersionCount) int { return compareVersions(b.Version, a.Version) })
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b wire.ModuleSummary) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// compareVersions orders semantic versions by precedence; anything else
// sorts below them, by text.
func compareVersions(a, b string) int {
	c, err := semver.Compare(a, b)
	if err == nil {
		return c
	}
	va, vb := semver.Valid(a), semver.Valid(b)
	switch {
	case va && !vb:
		return 1
	case vb && !va:
		return -1
	}
	return cmp.Compare(a, b)
}

// DeviceRegistered tells the fleet of a device registered through the
// API, so its metrics are accepted and /metrics lists it at once.
func (f *Fleet) DeviceRegistered(id string) {
	f.removed.del(id)
	f.inv.addDevice(id)
}

// Load fills the fleet's memory from the store at start: statuses,
// desired states, the events of each device in order, and the latest
// metrics report of each (the next report's increases are computed
// against it). Only the device list is required; a part that cannot be
// read is logged and left empty (the views then lean on the statuses).
func (f *Fleet) Load(ctx context.Context) error {
	// The first try for the leader lease: a controller alone on its
	// database leads from its start.
	f.tryLead(ctx)
	devs, err := f.store.Devices(ctx)
	if err != nil {
		return fmt.Errorf("load fleet: %w", err)
	}
	removed, err := f.store.RemovedDevices(ctx)
	if err != nil {
		return fmt.Errorf("load fleet: %w", err)
	}
	for _, id := range removed {
		f.removed.add(id)
	}
	if all, bad, err := f.store.AllDesired(ctx); err != nil {
		f.log.Error("load desired states (metrics labels and ports wait for the next deployment)", "err", err)
	} else {
		if bad != nil {
			f.log.Warn("desired states that cannot be read are left out", "err", bad)
		}
		for i := range all {
			f.inv.setDesired(&all[i])
		}
	}
	if evs, err := f.store.AllEvents(ctx); err != nil {
		f.log.Error("load device events", "err", err)
	} else {
		for _, e := range evs {
			f.inv.addEvent(&e.Event)
			if e.Received.After(f.lastEvent) {
				f.lastEvent = e.Received
			}
		}
	}
	for _, d := range devs {
		f.inv.addDevice(d.ID)
		if d.Status != nil {
			f.inv.setStatus(d.Status)
		}
		if d.Metrics != nil && d.Metrics.Device == d.ID && d.Metrics.Validate() == nil {
			f.metrics.seed(d.Metrics, d.LastSeen)
		}
	}
	return nil
}
