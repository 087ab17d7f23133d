package reconcile

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/edgeplane/edge/agent/verify"
	"github.com/edgeplane/edge/wire"
)

// module reconciles one desired module; it returns the module name ("" if
// not even a claimed name could be read) and whether to retry later.
func (r *Reconciler) module(ctx context.Context, dm *wire.DesiredModule) (string, bool) {
	m, decision, err := r.verify.Check(dm)
	if err != nil {
		name, version := claimed(dm, m)
		r.log.Warn("module rejected", "module", name, "version", version, "deployment", dm.Deployment, "err", err)
		r.event(dm, name, version, wire.StateRejected, err.Error())
		r.setState(dm, name, version, "", wire.StateRejected, err.Error())
		return name, r.ensureCurrent(ctx, name)
	}
	if err := r.cfg.Store.ObserveTime(m.Created); err != nil {
		r.log.Error("save time floor", "err", err)
	}
	// After a restart nothing runs yet: serve the committed version before
	// fetching and compiling a new one, so the board is never dark for the
	// length of a transfer and a cold compile.
	r.ensureCurrent(ctx, m.Name)
	if decision == verify.Installed && r.cfg.Deployer.Running()[m.Name] == m.Version {
		// A new deployment of the version already serving (pushed again,
		// or after a controller restart) is done at once; it must be
		// reported under its own id or it stays pending for ever.
		if !r.inState(m.Name, dm.Deployment, wire.StateRunning) {
			why := "already running" // pushed again
			if rec := r.cfg.Store.Module(m.Name).Versions[m.Version]; rec != nil && rec.Deployment == dm.Deployment {
				why = "" // the deployment that installed it, after a restart
			}
			r.event(dm, m.Name, m.Version, wire.StateRunning, why)
		}
		r.setState(dm, m.Name, m.Version, m.SHA256, wire.StateRunning, "")
		return m.Name, false
	}
	key := dm.Deployment + "/" + m.SHA256
	r.mu.Lock()
	reason, gaveUp := r.gaveUp[key]
	r.mu.Unlock()
	if gaveUp {
		r.log.Debug("not retrying bad bytes from the same desired state", "module", m.Name, "reason", reason)
		return m.Name, r.ensureCurrent(ctx, m.Name)
	}
	if !r.cfg.Store.HasBlob(m.SHA256) {
		if retry, ok := r.fetch(ctx, dm, m, key); !ok {
			return m.Name, r.ensureCurrent(ctx, m.Name) || retry
		}
	}
	if decision == verify.Install {
		if err := r.cfg.Store.Stage(m, &dm.Envelope, dm.Deployment); err != nil {
			r.log.Error("stage", "module", m.Name, "err", err)
			return m.Name, true
		}
	}
	return m.Name, r.deploy(ctx, dm, m, decision)
}

// fetch transfers, decodes, checks and stores the module bytes. ok is
// false when the blob is not stored; retry tells whether trying again
// later may help.
func (r *Reconciler) fetch(ctx context.Context, dm *wire.DesiredModule, m *wire.Manifest, key string) (retry, ok bool) {
	start := time.Now()
	r.event(dm, m.Name, m.Version, wire.StateFetching, "")
	r.setState(dm, m.Name, m.Version, m.SHA256, wire.StateFetching, "")
	parts := r.cfg.Store.Partial(&dm.Blob)
	enc, err := r.cfg.Fetcher.Fetch(ctx, &dm.Blob, parts)
	if err != nil {
		r.log.Warn("fetch", "module", m.Name, "version", m.Version, "err", err)
		r.setState(dm, m.Name, m.Version, m.SHA256, wire.StateFetching, err.Error())
		return true, false
	}
	r.event(dm, m.Name, m.Version, wire.StateVerifying, "", time.Since(start))
	raw, err := verify.Decode(m, &dm.Blob, enc)
	if err == nil {
		err = r.cfg.Store.PutBlob(m.SHA256, m.Size, raw)
	}
	parts.Remove() // bad chunks must not be reused; good ones are in the blob
	// The module's bytes, compressed and raw (MiBs), are garbage now: give
	// them back to the OS rather than keep the supervisor at that peak
	// until the scavenger gets to it (a board's supervisor otherwise sits
	// at ~21 MiB RSS after a push; the worker compiles in its own process).
	debug.FreeOSMemory()
	if err != nil {
		if !errors.Is(err, verify.ErrRejected) {
			r.log.Error("store blob", "module", m.Name, "err", err)
			return true, false
		}
		r.log.Warn("module bytes rejected", "module", m.Name, "version", m.Version, "err", err)
		r.event(dm, m.Name, m.Version, wire.StateRejected, err.Error())
		r.setState(dm, m.Name, m.Version, m.SHA256, wire.StateRejected, err.Error())
		r.mu.Lock()
		r.gaveUp[key] = err.Error()
		r.mu.Unlock()
		return false, false
	}
	return false, true
}

// deploy hands a stored, verified module to the Deployer and records the
// outcome; it returns whether to retry later.
func (r *Reconciler) deploy(ctx context.Context, dm *wire.DesiredModule, m *wire.Manifest, decision verify.Decision) bool {
	start := time.Now()
	progress := func(state, reason string) {
		r.event(dm, m.Name, m.Version, state, reason)
		r.setState(dm, m.Name, m.Version, m.SHA256, state, reason)
	}
	err := r.cfg.Deployer.Deploy(ctx, m, r.cfg.Store.BlobPath(m.SHA256), progress)
	if err == nil {
		if err := r.cfg.Store.Commit(m.Name, m.Version); err != nil {
			// Running but not recorded: the next reconcile sees it
			// running and the boot after that redeploys from last-good.
			r.log.Error("commit", "module", m.Name, "err", err)
		}
		r.event(dm, m.Name, m.Version, wire.StateRunning, "", time.Since(start))
		r.setState(dm, m.Name, m.Version, m.SHA256, wire.StateRunning, "")
		return false
	}
	if ctx.Err() != nil { // superseded or shutting down: not the module's fault
		return true
	}
	state := wire.StateFailed
	if errors.Is(err, ErrRolledBack) {
		state = wire.StateRolledBack
	}
	r.log.Warn("deploy failed", "module", m.Name, "version", m.Version, "state", state, "err", err)
	r.event(dm, m.Name, m.Version, state, err.Error())
	r.setState(dm, m.Name, m.Version, m.SHA256, state, err.Error())
	if errors.Is(err, ErrConfig) {
		// The device's fault: nothing is quarantined or rolled back, and
		// the same manifest is tried again later.
		return r.ensureCurrent(ctx, m.Name) || true
	}
	if decision == verify.Installed {
		// The committed version itself no longer starts: back to last-good.
		if back, rerr := r.cfg.Store.Rollback(m.Name, err.Error()); rerr == nil {
			r.log.Warn("committed version failed; restoring last-known-good", "module", m.Name, "version", back)
		}
	} else if qerr := r.cfg.Store.Quarantine(m, err.Error()); qerr != nil {
		r.log.Error("quarantine", "module", m.Name, "err", qerr)
	}
	return r.ensureCurrent(ctx, m.Name)
}

// ensureCurrent makes sure the committed version of name is serving (after
// a boot, a rejection or a failed deploy). The stored envelope was verified
// when stored and the blob is re-hashed at boot, so it is not re-verified
// here: a manifest that expired since must not stop a working module.
func (r *Reconciler) ensureCurrent(ctx context.Context, name string) (retry bool) {
	for range 2 { // current, then last-good if current fails
		ms := r.cfg.Store.Module(name)
		if ms.Current == "" || r.cfg.Deployer.Running()[name] == ms.Current {
			return false
		}
		rec := ms.Versions[ms.Current]
		if rec == nil || !r.cfg.Store.HasBlob(rec.SHA256) {
			r.log.Error("committed version not on disk", "module", name, "version", ms.Current)
			return true
		}
		m, err := wire.ParseManifest(rec.Envelope.Payload)
		if err != nil {
			r.log.Error("stored manifest", "module", name, "err", err)
			return false
		}
		dm := &wire.DesiredModule{Deployment: rec.Deployment}
		progress := func(state, reason string) { r.event(dm, m.Name, m.Version, state, reason) }
		err = r.cfg.Deployer.Deploy(ctx, m, r.cfg.Store.BlobPath(rec.SHA256), progress)
		if err == nil {
			r.event(dm, m.Name, m.Version, wire.StateRunning, "restored committed version")
			return false
		}
		if ctx.Err() != nil {
			return true
		}
		r.event(dm, m.Name, m.Version, wire.StateFailed, err.Error())
		if errors.Is(err, ErrConfig) {
			return true // the device's fault: keep the committed version, try again later
		}
		if _, err := r.cfg.Store.Rollback(name, err.Error()); err != nil {
			return false
		}
	}
	return false
}

// claimed reads the name and version a rejected envelope claims, for the
// report only: unverified, never used for anything else.
func claimed(dm *wire.DesiredModule, m *wire.Manifest) (string, string) {
	if m != nil {
		return m.Name, m.Version
	}
	var c wire.Manifest
	if wire.Decode(dm.Envelope.Payload, &c) == nil && wire.ValidateModuleName(c.Name) == nil && len(c.Version) < 64 {
		return c.Name, c.Version
	}
	return "", ""
}

// event reports one step once per process (duplicate desired deliveries
// do not repeat it).
func (r *Reconciler) event(dm *wire.DesiredModule, name, version, state, reason string, took ...time.Duration) {
	r.report(wire.Event{Deployment: dm.Deployment, Module: name, Version: version, State: state, Reason: reason,
		Millis: millis(took)})
}

func millis(d []time.Duration) int64 {
	if len(d) == 0 {
		return 0
	}
	return d[0].Milliseconds()
}

func (r *Reconciler) report(ev wire.Event) {
	key := fmt.Sprintf("%s|%s|%s|%s|%s", ev.Deployment, ev.Module, ev.Version, ev.State, ev.Reason)
	r.mu.Lock()
	seen := r.reported[key]
	r.reported[key] = true
	if len(r.reported) > 10000 {
		clear(r.reported)
	}
	if !seen && ev.State == wire.StateRejected && ev.Module != "" {
		r.rejected[ev.Module]++
	}
	r.mu.Unlock()
	if seen && ev.State != wire.StateFetching && ev.State != wire.StateVerifying {
		return
	}
	ev.Device = r.cfg.Device
	ev.Time = r.cfg.Store.Now().UTC()
	if err := r.cfg.Reporter.Report(ev); err != nil {
		r.log.Error("report event", "err", err, "state", ev.State, "module", ev.Module)
	}
}

// inState reports whether module name was last recorded in state for
// deployment.
func (r *Reconciler) inState(name, deployment, state string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms, ok := r.states[name]
	return ok && ms.Deployment == deployment && ms.State == state
}

func (r *Reconciler) setState(dm *wire.DesiredModule, name, version, sha, state, reason string) {
	if name == "" {
		return
	}
	r.mu.Lock()
	ms := r.states[name]
	if ms.State == state && ms.Version == version && ms.Error == reason && ms.Deployment == dm.Deployment {
		r.mu.Unlock()
		return
	}
	r.states[name] = wire.ModuleStatus{Name: name, Version: version, SHA256: sha, State: state,
		Since: time.Now().UTC(), Deployment: dm.Deployment, Error: reason}
	gen := r.gen
	r.mu.Unlock()
	// Every step is in the status at once (the Reporter publishes the
	// latest in the background), not only when the reconcile ends.
	r.publishStatus(gen)
}
