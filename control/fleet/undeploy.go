package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgeplane/edge/wire"
)

// # Undeploying a module
//
// Undeploy removes one module from the desired state of the devices a
// push's targets select (edgectl undeploy NAME --node ID | --label K=V),
// and publishes each new desired state like any other. The agent stops
// the module's worker when the module leaves its desired state, forgets
// its versions and removes its stored bytes; the module's data folder
// (DATA/modules/NAME: a SQLite binding's data.db, the key-value store,
// the safety copies) is kept, so pushing the module again finds its data.
//
// It changes nothing, and answers an error, when a selected device's
// desired state does not hold the module (ErrNotDeployed: a typo must not
// look done), when a staged rollout of the module is live (store.ErrConflict,
// naming the rollout and its abort), or when a device runs modules outside
// its desired state (ErrUnknownModules). An unfinished deployment of the
// module on a device ends cancelled there, so it does not wait for its
// deadline.
//
// The request is a wire.PlanRequest without Rollback or To (the module
// and the targets, as for a push); the answer a wire.Plan whose Devices
// name, per device, the entry removed (Current) and the version the
// device last reported serving (Serving): what edgectl waits to see go.

// ErrNotDeployed: the module is not in a selected device's desired state.
var ErrNotDeployed = errors.New("module not deployed")

// undeployReason is the reason an unfinished deployment of the module
// ends cancelled with on a device the module is undeployed from.
const undeployReason = "the operator undeployed the module (edgectl undeploy)"

// Undeploy removes req.Module from the desired state of the devices
// req.Targets selects (see the section comment).
func (f *Fleet) Undeploy(ctx context.Context, req wire.PlanRequest) (wire.Plan, error) {
	switch {
	case wire.ValidateModuleName(req.Module) != nil:
		return wire.Plan{}, fmt.Errorf("%w: %w", ErrBadRequest, wire.ValidateModuleName(req.Module))
	case req.Rollback || req.To != "":
		return wire.Plan{}, fmt.Errorf("%w: undeploy of %s: rollback and to do not apply", ErrBadRequest, req.Module)
	}
	if err := f.noLiveRollout(ctx, req.Module); err != nil {
		return wire.Plan{}, fmt.Errorf("undeploy %s: %w", req.Module, err)
	}
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	p, err := f.undeployPlan(ctx, req)
	if err != nil {
		return wire.Plan{}, err
	}
	var states []wire.DesiredState
	for _, d := range p.Devices {
		ds, changed, err := f.store.RemoveModule(ctx, d.ID, req.Module, d.Current.Deployment, f.now())
		if err != nil {
			f.publishLater(states, false) // those stored already
			return wire.Plan{}, fmt.Errorf("undeploy %s from %s: %w", req.Module, d.ID, err)
		}
		if changed {
			states = append(states, ds)
		}
		f.endOnDevice(ctx, d.Current.Deployment, d.ID)
	}
	f.publishLater(states, false)
	f.log.Info("module undeployed", "module", req.Module, "devices", len(p.Devices))
	return p, nil
}

// undeployPlan resolves req's targets and checks that each holds the
// module, and that none runs modules outside its desired state. The
// caller holds deployMu, so no deployment replaces an entry in between.
func (f *Fleet) undeployPlan(ctx context.Context, req wire.PlanRequest) (wire.Plan, error) {
	v, err := f.view(ctx)
	if err != nil {
		return wire.Plan{}, err
	}
	ids, err := v.resolve(req.Targets, req.AllowUnregistered)
	if err != nil {
		return wire.Plan{}, fmt.Errorf("undeploy %s: %w", req.Module, err)
	}
	p := wire.Plan{Module: req.Module, Devices: make([]wire.PlanDevice, 0, len(ids))}
	var missing []string
	for _, id := range ids {
		e := v.entry(id, req.Module)
		if e == nil {
			missing = append(missing, id)
			continue
		}
		d, known := v.devices[id]
		p.Devices = append(p.Devices, wire.PlanDevice{ID: id, Registered: known, Online: d.Online,
			Serving: v.serving(id, req.Module), Current: planVersion(e.Deployment, &e.Envelope)})
	}
	if len(missing) > 0 {
		return wire.Plan{}, fmt.Errorf("%w: %s is not in the desired state of %s (edgectl devices shows what each device runs); nothing was changed",
			ErrNotDeployed, req.Module, strings.Join(missing, ", "))
	}
	if err := v.checkUnknown(ids, req.Module, "undeploy of "+req.Module); err != nil {
		return wire.Plan{}, err
	}
	return p, nil
}

// endOnDevice ends device's part in deployment as cancelled when it had
// not finished: the entry it would install is gone. Failures are logged;
// the deadline ends it otherwise.
func (f *Fleet) endOnDevice(ctx context.Context, deployment, device string) {
	d, err := f.store.Deployment(ctx, deployment)
	if err != nil {
		f.log.Warn("undeploy: read deployment", "deployment", deployment, "err", err)
		return
	}
	for _, dev := range d.Devices {
		if dev.Device != device || wire.Terminal(dev.State) {
			continue
		}
		if _, err := f.store.SetDeviceState(ctx, deployment, device, wire.StateCancelled, undeployReason, f.now()); err != nil {
			f.log.Warn("undeploy: end deployment on device", "deployment", deployment, "device", device, "err", err)
		}
	}
}
