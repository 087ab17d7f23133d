package reconcile

import (
	"context"
	"fmt"

	"github.com/edgeplane/edge/wire"
)

// sickNotice is a running version the Deployer saw crash-looping.
type sickNotice struct{ version, reason string }

// Unhealthy tells the reconciler that the worker of module name at
// version keeps crashing (supervisor.Config.OnUnhealthy). It does not
// block: Run handles the notice between reconciles. If version is the
// committed one and a last-known-good version is stored, that version is
// started beside it (blue/green, as a deploy), then the crashing digest is
// quarantined and last-good made current again (store.Rollback), and a
// rolled_back event is reported. Without a last-known-good version a
// failed event is reported and the Deployer keeps restarting the worker
// with back-off.
func (r *Reconciler) Unhealthy(name, version, reason string) {
	r.mu.Lock()
	r.sick[name] = sickNotice{version, reason}
	r.mu.Unlock()
	select {
	case r.sickCh <- struct{}{}:
	default: // already signalled
	}
}

// healSick handles every queued Unhealthy notice.
func (r *Reconciler) healSick(ctx context.Context) {
	r.mu.Lock()
	notes := r.sick
	r.sick = map[string]sickNotice{}
	r.mu.Unlock()
	changed := false
	for name, n := range notes {
		if ctx.Err() != nil {
			return
		}
		changed = r.crashLoop(ctx, name, n.version, n.reason) || changed
	}
	if changed {
		r.publishStatus(r.Generation())
	}
}

// crashLoop acts on one crash-looping version; it reports whether the
// module's state changed.
func (r *Reconciler) crashLoop(ctx context.Context, name, version, reason string) bool {
	ms := r.cfg.Store.Module(name)
	if ms.Current != version || r.cfg.Deployer.Running()[name] != version {
		// Not the committed version (a deploy's grace period handles its
		// own crashes), or already replaced.
		r.log.Debug("crash loop of a version that is no longer current", "module", name, "version", version)
		return false
	}
	cur := ms.Versions[version]
	if cur == nil {
		return false
	}
	dm := &wire.DesiredModule{Deployment: cur.Deployment}
	failed := func(why string) bool {
		r.log.Error("module crash-looping", "module", name, "version", version, "reason", why)
		r.event(dm, name, version, wire.StateFailed, why)
		r.setState(dm, name, version, cur.SHA256, wire.StateFailed, why)
		return true
	}
	lg := ms.LastGood
	good := ms.Versions[lg]
	if lg == "" || good == nil || !r.cfg.Store.HasBlob(good.SHA256) {
		return failed(reason + "; no last-known-good version to restore: restarting with back-off")
	}
	m, err := wire.ParseManifest(good.Envelope.Payload)
	if err != nil {
		return failed(fmt.Sprintf("%s; last-known-good %s unreadable (%v): restarting with back-off", reason, lg, err))
	}
	r.log.Warn("module crash-looping; restoring last-known-good", "module", name, "version", version,
		"last_good", lg, "reason", reason)
	gdm := &wire.DesiredModule{Deployment: good.Deployment}
	progress := func(state, why string) { r.event(gdm, name, lg, state, why) }
	// Start last-good beside the crashing version first: if it does not
	// come up, the store is left as it was (the crashing version stays
	// committed and restarting) rather than naming nothing runnable.
	if err := r.cfg.Deployer.Deploy(ctx, m, r.cfg.Store.BlobPath(good.SHA256), progress); err != nil {
		if ctx.Err() != nil {
			r.Unhealthy(name, version, reason) // try again on the next run
			return false
		}
		return failed(fmt.Sprintf("%s; restoring last-known-good %s failed: %v; restarting with back-off", reason, lg, err))
	}
	why := fmt.Sprintf("%s; quarantined, last-known-good %s restored; data kept as it is, not restored "+
		"(a rollback of code never undoes a confirmed write)", reason, lg)
	if back, err := r.cfg.Store.Rollback(name, reason); err != nil || back != lg {
		// Serving last-good but not recorded: a reboot starts the
		// crashing version again, which loops back here.
		r.log.Error("record rollback", "module", name, "err", err, "current", back)
	}
	r.log.Warn("module rolled back after a crash loop", "module", name, "from", version, "to", lg)
	r.event(dm, name, version, wire.StateRolledBack, why)
	r.event(gdm, name, lg, wire.StateRunning, "restored last-known-good after a crash loop of "+version)
	r.setState(dm, name, version, cur.SHA256, wire.StateRolledBack, why)
	return true
}
