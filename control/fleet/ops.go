package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Plan answers what a push or a rollback of req.Module to req.Targets
// would touch, for edgectl to sign against: the devices, the module's
// highest epoch, and the signed deployments to re-sign (see
// wire.PlanRequest). Sources are what the devices serve (serving.go),
// never what their desired state names. A rollback leaves out a device
// it would change nothing on (it serves the source and is meant to), and
// is refused if that leaves nothing. It changes nothing.
func (f *Fleet) Plan(ctx context.Context, req wire.PlanRequest) (wire.Plan, error) {
	if err := wire.ValidateModuleName(req.Module); err != nil {
		return wire.Plan{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	v, err := f.view(ctx)
	if err != nil {
		return wire.Plan{}, err
	}
	ids, err := v.resolve(req.Targets, req.AllowUnregistered)
	if err != nil {
		return wire.Plan{}, err
	}
	p := wire.Plan{Module: req.Module, Devices: []wire.PlanDevice{}}
	if p.Epoch, err = f.store.ModuleEpoch(ctx, req.Module); err != nil {
		return p, err
	}
	sources := map[string]*wire.PlanSource{} // by deployment
	deps := newDeployments()
	var missing, noops []string
	for _, id := range ids {
		d, known := v.devices[id]
		pd := wire.PlanDevice{ID: id, Registered: known, Online: d.Online}
		if ms := f.servingOf(v, id, req.Module); ms != nil {
			pd.Serving = ms.Version
		}
		if e := v.entry(id, req.Module); e != nil {
			pd.Current = planVersion(e.Deployment, &e.Envelope)
		}
		p.Devices = append(p.Devices, pd)
		src, why, err := f.source(ctx, v, deps, req, &pd)
		if err != nil {
			return p, err
		}
		if src == nil {
			if req.Rollback {
				missing = append(missing, why)
			}
			continue
		}
		if req.Rollback && noop(&src.PlanVersion, &pd) {
			noops = append(noops, fmt.Sprintf("%s already serves %s %s and is meant to", id, req.Module, src.Version))
			continue // left out: going "back" to it changes nothing there
		}
		if sources[src.Deployment] == nil {
			sources[src.Deployment] = src
		}
		sources[src.Deployment].Devices = append(sources[src.Deployment].Devices, id)
	}
	if len(sources) == 0 && len(noops) > 0 {
		missing = append(missing, noops...)
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("%w: %s; target devices that have an earlier version, or name the version to go back to "+
			"(edgectl rollback %s --to VERSION)", ErrNoSource, strings.Join(missing, "; "), req.Module)
	}
	for _, k := range slices.Sorted(maps.Keys(sources)) {
		p.Sources = append(p.Sources, *sources[k])
	}
	return p, nil
}

// ErrNoSource: a rollback has no earlier signed deployment to go back to.
var ErrNoSource = errors.New("nothing to go back to")

// source is the signed deployment a device's part of the plan re-signs:
// for a push, the one the device serves (a staged rollout's rollback goes
// back to it; none where it serves nothing, or where the controller holds
// no manifest of it, which CreateRollout then refuses by name); for a
// rollback, the newest deployment of req.To, or (no To) the one the
// version serving replaced. With no source, why says why for a rollback.
func (f *Fleet) source(ctx context.Context, v *view, deps *deployments, req wire.PlanRequest, pd *wire.PlanDevice) (*wire.PlanSource, string, error) {
	serving, err := f.servingDeployment(ctx, v, deps, pd.ID, req.Module)
	switch {
	case !req.Rollback && errors.Is(err, ErrNoSource):
		return nil, "", nil
	case err != nil && (req.To == "" || !errors.Is(err, ErrNoSource)):
		return nil, "", err
	case !req.Rollback:
		return serving, "", nil
	case serving == nil && pd.Current == nil:
		// Nothing to go back from: a rollback never installs a module
		// on a device that does not run it.
		return nil, fmt.Sprintf("%s runs no version of %s", pd.ID, req.Module), nil
	}
	dep := ""
	if req.To != "" {
		dep, err = f.store.LatestDeployment(ctx, req.Module, req.To)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fmt.Errorf("%w: the controller holds no deployment of %s %s", ErrNoSource, req.Module, req.To)
		}
	} else if serving != nil {
		dep, err = f.replacedBy(ctx, deps, &serving.PlanVersion, pd.ID)
	}
	if err != nil {
		return nil, "", err
	}
	if dep == "" {
		return nil, noEarlier(pd, req.Module), nil
	}
	env, err := f.envelope(ctx, deps, dep)
	if err != nil {
		return nil, "", err
	}
	var pv *wire.PlanVersion
	if env != nil {
		pv = planVersion(dep, env)
	}
	if pv == nil {
		return nil, "", fmt.Errorf("deployment %s holds no readable manifest", dep)
	}
	return &wire.PlanSource{PlanVersion: *pv, Envelope: *env}, "", nil
}

// noop reports whether going to pv changes nothing on the device: it
// serves pv's version and its desired entry is that version too.
func noop(pv *wire.PlanVersion, pd *wire.PlanDevice) bool {
	return pd.Serving == pv.Version && pd.Current != nil && pd.Current.Version == pv.Version && pd.Current.SHA256 == pv.SHA256
}

// noEarlier says why device pd has nothing to go back to: what it serves,
// and what the module's last push did there.
func noEarlier(pd *wire.PlanDevice, module string) string {
	s := fmt.Sprintf("%s serves no version of %s", pd.ID, module)
	if pd.Serving != "" {
		s = fmt.Sprintf("%s serves %s %s, which replaced no version known to have run there", pd.ID, module, pd.Serving)
	}
	if pd.Current != nil && pd.Current.Version != pd.Serving {
		s += fmt.Sprintf("; the last push of %s there, %s (deployment %s), never served", module, pd.Current.Version, pd.Current.Deployment)
	}
	return s
}

func planVersion(deployment string, env *wire.Envelope) *wire.PlanVersion {
	m, err := wire.ParseManifest(env.Payload)
	if err != nil {
		return nil
	}
	return &wire.PlanVersion{Deployment: deployment, Version: m.Version, SHA256: m.SHA256, Epoch: m.Epoch}
}

// CancelDeployment cancels deployment id where devices have not finished
// it (store.CancelDeployment) and hands their desired states to the
// publisher.
func (f *Fleet) CancelDeployment(ctx context.Context, id string) (wire.CancelResult, error) {
	f.deployMu.Lock()
	states, devs, err := f.store.CancelDeployment(ctx, id, f.now())
	if err == nil {
		f.publishLater(states, false)
	}
	f.deployMu.Unlock()
	if err != nil {
		return wire.CancelResult{}, err
	}
	f.log.Info("deployment cancelled", "deployment", id, "devices", len(states))
	d, err := f.store.Deployment(ctx, id)
	return wire.CancelResult{Deployment: d, Devices: devs}, err
}

// known returns device id as the inventory knows it, or ErrNotFound.
func (f *Fleet) known(ctx context.Context, id string) (wire.Device, error) {
	if err := wire.ValidateDeviceID(id); err != nil {
		return wire.Device{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return f.store.Device(ctx, id)
}

// Labels returns device id's labels: central, the agent's, and merged.
func (f *Fleet) Labels(ctx context.Context, id string) (wire.Labels, error) {
	d, err := f.known(ctx, id)
	if err != nil {
		return wire.Labels{}, err
	}
	central, err := f.store.CentralLabels(ctx, id)
	if err != nil {
		return wire.Labels{}, err
	}
	var own map[string]string
	if d.Status != nil {
		own = d.Status.Labels
	}
	l := wire.Labels{Device: id, Central: central, Agent: own, Effective: wire.MergeLabels(central, own)}
	for _, k := range slices.Sorted(maps.Keys(central)) {
		if v, ok := own[k]; ok && v != central[k] {
			l.Shadowed = append(l.Shadowed, k)
		}
	}
	for _, m := range []*map[string]string{&l.Central, &l.Agent, &l.Effective} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	return l, nil
}

// SetLabels changes device id's central labels and publishes its desired
// state, which carries them to the agent. Labels change what later pushes
// target, never what a device runs now.
func (f *Fleet) SetLabels(ctx context.Context, id string, req wire.LabelRequest) (wire.Labels, error) {
	if _, err := f.known(ctx, id); err != nil {
		return wire.Labels{}, err
	}
	for k, v := range req.Set {
		if err := wire.ValidateLabel(k, v); err != nil {
			return wire.Labels{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if slices.Contains(req.Remove, k) {
			return wire.Labels{}, fmt.Errorf("%w: label %s both set and removed", ErrBadRequest, k)
		}
	}
	for _, k := range req.Remove {
		if err := wire.ValidateLabel(k, ""); err != nil {
			return wire.Labels{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	}
	if err := f.checkUnknown(ctx, id, "label change"); err != nil {
		return wire.Labels{}, err
	}
	f.deployMu.Lock()
	ds, changed, err := f.store.SetLabels(ctx, id, req.Set, req.Remove, f.now())
	if err == nil && changed {
		f.publishDesired(ctx, &ds)
	}
	f.deployMu.Unlock()
	if err != nil {
		return wire.Labels{}, err
	}
	if changed {
		f.log.Info("central labels changed", "device", id, "labels", ds.Labels)
	}
	return f.Labels(ctx, id)
}

// ClearQuarantine asks device id to clear module's quarantine (through
// its desired state's QuarantineClear count). It refuses, with
// store.ErrConflict, a module the device's last status lists nothing
// quarantined for: a misspelt name must not look done.
func (f *Fleet) ClearQuarantine(ctx context.Context, id, module string) (wire.QuarantineClear, error) {
	d, err := f.known(ctx, id)
	if err != nil {
		return wire.QuarantineClear{}, err
	}
	if err := wire.ValidateModuleName(module); err != nil {
		return wire.QuarantineClear{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res := wire.QuarantineClear{Device: id, Module: module, Cleared: []wire.QuarantineEntry{}}
	if d.Status != nil {
		for _, q := range d.Status.Quarantine {
			if q.Module == module {
				res.Cleared = append(res.Cleared, q)
			}
		}
	}
	if len(res.Cleared) == 0 {
		return res, fmt.Errorf("%w: device %s reports no quarantined manifest of %s", store.ErrConflict, id, module)
	}
	if err := f.checkUnknown(ctx, id, "quarantine clear"); err != nil {
		return res, err
	}
	f.deployMu.Lock()
	ds, err := f.store.ClearQuarantine(ctx, id, module, f.now())
	if err == nil {
		f.publishDesired(ctx, &ds)
	}
	f.deployMu.Unlock()
	if err != nil {
		return res, err
	}
	f.log.Info("quarantine clear sent", "device", id, "module", module, "generation", ds.Generation)
	res.Generation = ds.Generation
	return res, nil
}
