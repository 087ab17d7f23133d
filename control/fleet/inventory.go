package fleet

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// inventory is the controller's in-memory view of every device: its
// latest status, the module names and ports of its desired state, and what
// its events say about each module. Ingest and /metrics read it without
// touching the database; the API's lists still come from the store, with
// this view laid over them (view.go).
type inventory struct {
	mu       sync.RWMutex
	status   map[string]*wire.Status
	desired  map[string]map[string]desiredModule // device → module name →
	events   map[string]map[string]*eventModule  // device → module name →
	devices  map[string]bool                     // registered or seen
	notFound map[string]time.Time                // ids looked up and not found, bounded
}

type desiredModule struct {
	version, deployment string
	port                int
}

// eventModule is what a device's events say about one module.
type eventModule struct {
	serving  *wire.ModuleAttempt // latest version that reached running (State running)
	lastGood string              // version that served before serving
	attempt  *wire.ModuleAttempt // latest event of another version, or a failure
	time     time.Time           // of the latest event (agent clock)
}

func newInventory() *inventory {
	return &inventory{
		status: map[string]*wire.Status{}, desired: map[string]map[string]desiredModule{},
		events: map[string]map[string]*eventModule{}, devices: map[string]bool{}, notFound: map[string]time.Time{},
	}
}

func (inv *inventory) setStatus(st *wire.Status) {
	cp := *st
	inv.mu.Lock()
	if old := inv.status[st.Device]; old != nil && st.Online && old.Online && st.Time.Before(old.Time) {
		inv.mu.Unlock()
		return // an older online status than the one held: the store keeps the newer too
	}
	inv.status[st.Device] = &cp
	inv.devices[st.Device] = true
	inv.mu.Unlock()
}

func (inv *inventory) addDevice(id string) {
	inv.mu.Lock()
	inv.devices[id] = true
	delete(inv.notFound, id)
	inv.mu.Unlock()
}

// maxNotFound bounds the negative cache of known.
const maxNotFound = 4096

// known reports whether id is registered or was seen; an id not in memory
// is looked up in the store (a device registered through the API), and a
// miss is remembered for a minute so junk ids cost no query each.
func (inv *inventory) known(ctx context.Context, st *store.Store, id string) bool {
	inv.mu.RLock()
	ok := inv.devices[id]
	missed, wasMissed := inv.notFound[id]
	inv.mu.RUnlock()
	if ok {
		return true
	}
	if wasMissed && time.Since(missed) < time.Minute {
		return false
	}
	_, err := st.Device(ctx, id)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if err == nil {
		inv.devices[id] = true
		delete(inv.notFound, id)
		return true
	}
	if len(inv.notFound) >= maxNotFound {
		clear(inv.notFound)
	}
	inv.notFound[id] = time.Now()
	return false
}

func (inv *inventory) setDesired(ds *wire.DesiredState) {
	mods := map[string]desiredModule{}
	for _, dm := range ds.Modules {
		m, err := wire.ParseManifest(dm.Envelope.Payload)
		if err != nil {
			continue
		}
		mods[m.Name] = desiredModule{version: m.Version, deployment: dm.Deployment, port: m.Port}
	}
	inv.mu.Lock()
	inv.desired[ds.Device] = mods
	inv.devices[ds.Device] = true
	inv.mu.Unlock()
}

// moduleNames returns the module names of a device's desired state and the
// version serving each, as the label bounds of its metrics prefer them.
func (inv *inventory) moduleNames(device string) (desired map[string]bool, serving map[string]string) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	desired = map[string]bool{}
	for n := range inv.desired[device] {
		desired[n] = true
	}
	serving = map[string]string{}
	if st := inv.status[device]; st != nil {
		for _, m := range inv.viewLocked(st) {
			if m.Version != "" {
				serving[m.Name] = m.Version
			}
		}
	}
	return desired, serving
}

// addEvent folds one event into the device's view.
func (inv *inventory) addEvent(ev *wire.Event) {
	if ev.Module == "" {
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	mods := inv.events[ev.Device]
	if mods == nil {
		mods = map[string]*eventModule{}
		inv.events[ev.Device] = mods
	}
	e := mods[ev.Module]
	if e == nil {
		if len(mods) >= 2*wire.MaxModules {
			return // a device inventing module names gains nothing
		}
		e = &eventModule{}
		mods[ev.Module] = e
	}
	if ev.Time.IsZero() || ev.Time.Before(e.time) {
		return // a late or undated report of an earlier step changes nothing
	}
	e.time = ev.Time
	att := &wire.ModuleAttempt{Version: ev.Version, Deployment: ev.Deployment, State: ev.State, Reason: ev.Reason, Time: ev.Time}
	switch ev.State {
	case wire.StateRunning:
		if e.serving != nil && e.serving.Version != ev.Version {
			e.lastGood = e.serving.Version
		}
		e.serving = att
		if e.attempt != nil && e.attempt.Version == ev.Version {
			e.attempt = nil
		}
	case wire.StateStopped:
		e.serving, e.attempt, e.lastGood = nil, nil, ""
	case wire.StateRolledBack:
		if e.serving != nil && e.serving.Version == ev.Version {
			// The committed version was rolled back: the restored one
			// reports running next.
			e.serving, e.lastGood = nil, ""
		}
		e.attempt = att
	default:
		e.attempt = att
	}
}

// view returns the device's modules as its status and later events tell:
// see viewLocked.
func (inv *inventory) view(st *wire.Status) []wire.ModuleStatus {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.viewLocked(st)
}

// viewLocked makes a status tell the truth the wire contract asks for:
// each ModuleStatus names the version serving (Version, Port, State
// running) and the latest attempt when it differs (Attempt).
//
// Agents before the contract named the last attempted version in Version
// with its state ("1.7.0 rejected" while 1.5.0 served); such an entry (no
// Attempt, a Version that is not running) becomes the Attempt, and the
// serving version comes from the device's events. Events newer than the
// status (a status is published once per reconcile; events at every step)
// override it: a version that reached running since serves, the one before
// it becomes last-good, and a newer attempt shows. The port of a serving
// version comes from its manifest in the desired state when the status
// has none. At most wire.MaxModules modules are shown.
func (inv *inventory) viewLocked(st *wire.Status) []wire.ModuleStatus {
	evs := inv.events[st.Device]
	des := inv.desired[st.Device]
	out := make([]wire.ModuleStatus, 0, len(st.Modules))
	for _, ms := range st.Modules {
		if len(out) == wire.MaxModules {
			break
		}
		if wire.ValidateModuleName(ms.Name) != nil || slices.ContainsFunc(out, func(m wire.ModuleStatus) bool { return m.Name == ms.Name }) {
			continue // a name no deployment can have, or a duplicate
		}
		v := ms
		if v.Attempt != nil {
			a := *v.Attempt
			v.Attempt = &a
		}
		if v.Attempt == nil && v.Version != "" && v.State != wire.StateRunning {
			v.Attempt = &wire.ModuleAttempt{Version: v.Version, SHA256: v.SHA256, Deployment: v.Deployment,
				State: v.State, Reason: v.Error, Time: v.Since}
			v.Version, v.SHA256, v.Deployment, v.Port, v.Error = "", "", "", 0, ""
			if e := evs[v.Name]; e != nil && e.serving != nil && e.serving.Version != v.Attempt.Version {
				v.Version, v.Deployment, v.Since, v.State = e.serving.Version, e.serving.Deployment, e.serving.Time, wire.StateRunning
			}
		}
		if e := evs[v.Name]; e != nil && e.time.After(st.Time) {
			if s := e.serving; s != nil && s.Time.After(st.Time) && s.Version != v.Version {
				if v.Version != "" {
					v.LastGood = v.Version
				} else if e.lastGood != "" {
					v.LastGood = e.lastGood
				}
				v.Version, v.SHA256, v.Deployment, v.Since, v.State, v.Port, v.Error = s.Version, "", s.Deployment, s.Time, wire.StateRunning, 0, ""
				v.Attempt = nil // the status's attempt came before this version served
			}
			if a := e.attempt; a != nil && a.Time.After(st.Time) && a.Version != v.Version {
				cp := *a
				v.Attempt = &cp
			}
		}
		if v.Attempt != nil && v.Attempt.Version == v.Version && v.State == wire.StateRunning {
			v.Attempt = nil
		}
		if v.Version == "" && v.Attempt != nil {
			v.State = v.Attempt.State
		}
		if d, ok := des[v.Name]; ok && v.Port == 0 && v.Version != "" && (d.deployment == v.Deployment || d.version == v.Version) {
			v.Port = d.port
		}
		out = append(out, v)
	}
	// Modules the events know of and the status does not list yet.
	for name, e := range evs {
		if len(out) == wire.MaxModules {
			break
		}
		if !e.time.After(st.Time) || slices.ContainsFunc(out, func(m wire.ModuleStatus) bool { return m.Name == name }) {
			continue
		}
		v := wire.ModuleStatus{Name: name, LastGood: e.lastGood}
		if s := e.serving; s != nil {
			v.Version, v.Deployment, v.Since, v.State = s.Version, s.Deployment, s.Time, wire.StateRunning
			if d, ok := des[name]; ok && (d.deployment == s.Deployment || d.version == s.Version) {
				v.Port = d.port
			}
		}
		if a := e.attempt; a != nil && (e.serving == nil || a.Version != e.serving.Version) {
			cp := *a
			v.Attempt = &cp
			if v.Version == "" {
				v.State = a.State
			}
		}
		if v.Version == "" && v.Attempt == nil {
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b wire.ModuleStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
