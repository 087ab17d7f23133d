package reconcile

import (
	"cmp"
	"maps"
	"slices"

	"github.com/edgeplane/edge/wire"
)

// Status returns the agent's status as the controller should see it now:
// Config.Status with the generation applied and, per module, the truth
// (Modules). It is what `edge-agent status` shows too.
func (r *Reconciler) Status() wire.Status {
	st := r.cfg.Status
	st.Device, st.Online = r.cfg.Device, true
	st.Generation = r.Generation()
	st.Modules = r.Modules()
	st.Quarantine = r.cfg.Store.QuarantineList()
	return st
}

// PublishStatus publishes the current status (Status). The supervisor's
// switches call it, so what serves is reported when it changes, not only
// when a reconcile ends.
func (r *Reconciler) PublishStatus() { r.publishStatus(r.Generation()) }

// Modules describes each module: the version serving now (Version,
// SHA256, Port, Deployment, Since, State running) and, when the latest
// deployment of the module is not that version (rejected, failed, rolled
// back, in progress), that deployment as Attempt with its reason. While
// nothing of a module serves, Version is "" and State is the attempt's.
// LastGood is the store's last-known-good version at the time of the call.
func (r *Reconciler) Modules() []wire.ModuleStatus {
	serving := r.cfg.Deployer.Serving()
	r.mu.Lock()
	attempts := maps.Clone(r.states)
	r.mu.Unlock()
	names := slices.Collect(maps.Keys(attempts))
	for name := range serving {
		if _, ok := attempts[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]wire.ModuleStatus, 0, len(names))
	for _, name := range names {
		att, hasAtt := attempts[name]
		sv, isServing := serving[name]
		ms := wire.ModuleStatus{Name: name, LastGood: r.cfg.Store.Module(name).LastGood}
		switch {
		case isServing:
			ms.Version, ms.SHA256, ms.Port, ms.Since = sv.Version, sv.SHA256, sv.Port, sv.Since
			ms.State = wire.StateRunning
			if hasAtt && isServingAttempt(&att, &sv) {
				// The latest deployment is the one serving: its state says
				// more (probing during the grace period, failed while it
				// crash-loops with nothing to roll back to).
				ms.Deployment, ms.State, ms.Error = att.Deployment, att.State, att.Error
				break
			}
			if rec := r.cfg.Store.Module(name).Versions[sv.Version]; rec != nil && rec.SHA256 == sv.SHA256 {
				ms.Deployment = rec.Deployment
			}
			if hasAtt {
				ms.Attempt = attemptOf(&att)
			}
		case hasAtt:
			ms.State, ms.Error, ms.Since = att.State, att.Error, att.Since
			ms.Attempt = attemptOf(&att)
		}
		out = append(out, ms)
	}
	slices.SortFunc(out, func(a, b wire.ModuleStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// isServingAttempt reports whether attempt att is of the version serving:
// the same version and digest, and not a rejection (a refused envelope may
// name the serving version and even its digest; it never serves).
func isServingAttempt(att *wire.ModuleStatus, sv *Serving) bool {
	return att.State != wire.StateRejected && att.Version == sv.Version && att.SHA256 == sv.SHA256
}

func attemptOf(att *wire.ModuleStatus) *wire.ModuleAttempt {
	return &wire.ModuleAttempt{Version: att.Version, SHA256: att.SHA256, Deployment: att.Deployment,
		State: att.State, Reason: att.Error, Time: att.Since}
}

// Rejections returns the number of manifests refused per module since the
// reconciler started (each refused deployment counted once, however often
// the desired state is delivered again).
func (r *Reconciler) Rejections() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.rejected)
}
