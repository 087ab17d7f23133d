package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// What a rollback goes back to is what a device served, never what its
// desired state names: after a rejected or failed push the desired entry
// names a version that never ran there, and "going back" to it fails
// again (or changes nothing). The version served comes from the device's
// status (the inventory's truthful view); the signed manifest of it from
// the deployments the controller holds.

// servingOf is what device id last reported serving of module (the
// inventory's view of its status), or nil when it serves no version of it.
func (f *Fleet) servingOf(v *view, id, module string) *wire.ModuleStatus {
	d := v.devices[id]
	if d.Status == nil {
		return nil
	}
	for _, ms := range f.inv.view(d.Status) {
		if ms.Name == module && ms.Version != "" {
			return &ms
		}
	}
	return nil
}

// deployments caches what planning reads of deployments (envelopes, and
// per device whether it ran), so a plan over a thousand devices serving
// one version reads that deployment once.
type deployments struct {
	envs map[string]*wire.Envelope
	ran  map[string]map[string]bool // deployment → devices that reached running
}

func newDeployments() *deployments {
	return &deployments{envs: map[string]*wire.Envelope{}, ran: map[string]map[string]bool{}}
}

// envelope is deployment dep's envelope; nil if the store has none.
func (f *Fleet) envelope(ctx context.Context, c *deployments, dep string) (*wire.Envelope, error) {
	if env, ok := c.envs[dep]; ok {
		return env, nil
	}
	env, err := f.store.DeploymentEnvelope(ctx, dep)
	if errors.Is(err, store.ErrNotFound) {
		c.envs[dep] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.envs[dep] = &env
	return &env, nil
}

// servingDeployment is the signed deployment of module that device id
// serves: the one its status names when the controller holds it with that
// version and digest, else the newest deployment of that version with
// that digest. nil, nil: the device serves no version of module. An error
// wrapping ErrNoSource: the controller holds no signed manifest of the
// version served (deployed through another controller, or before this
// record), so nothing can be re-signed to go back to it.
func (f *Fleet) servingDeployment(ctx context.Context, v *view, c *deployments, id, module string) (*wire.PlanSource, error) {
	ms := f.servingOf(v, id, module)
	if ms == nil {
		return nil, nil
	}
	for _, dep := range []string{ms.Deployment, ""} {
		if dep == "" {
			latest, err := f.store.LatestDeployment(ctx, module, ms.Version)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return nil, err
			}
			dep = latest
		}
		env, err := f.envelope(ctx, c, dep)
		if err != nil {
			return nil, err
		}
		if env == nil {
			continue
		}
		pv := planVersion(dep, env)
		if pv != nil && pv.Version == ms.Version && (ms.SHA256 == "" || pv.SHA256 == ms.SHA256) {
			return &wire.PlanSource{PlanVersion: *pv, Envelope: *env}, nil
		}
	}
	return nil, &noManifestError{device: id, module: module, version: ms.Version, sha256: ms.SHA256}
}

// noManifestError: the controller holds no signed manifest of the version
// a device serves. It is an ErrNoSource.
type noManifestError struct{ device, module, version, sha256 string }

func (e *noManifestError) Error() string {
	return fmt.Sprintf("%s serves %s %s (sha256 %.12s), of which the controller holds no signed manifest "+
		"(deployed through another controller, or before its records), so no rollback to it can be signed: "+
		"push that version to it again first", e.device, e.module, e.version, e.sha256)
}

func (e *noManifestError) Is(target error) bool { return target == ErrNoSource }

// maxPreviousSteps bounds the walk back through a device's deployments.
const maxPreviousSteps = 32

// replacedBy is the deployment that served on device id before
// deployment dep (which serves there now) replaced it: the nearest entry
// back along the desired entries each deployment replaced that ran on the
// device, with a version or digest other than dep's; "" if none is known.
// Entries that never ran there (rejected, failed pushes) are skipped.
func (f *Fleet) replacedBy(ctx context.Context, c *deployments, dep *wire.PlanVersion, id string) (string, error) {
	cur := dep.Deployment
	for range maxPreviousSteps {
		prev, err := f.store.Previous(ctx, cur, id)
		if errors.Is(err, store.ErrNotFound) || prev == nil {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		pv := planVersion(prev.Deployment, &prev.Envelope)
		ran, err := f.ranOn(ctx, c, prev.Deployment, id)
		if err != nil {
			return "", err
		}
		if pv != nil && ran && (pv.Version != dep.Version || pv.SHA256 != dep.SHA256) {
			return prev.Deployment, nil
		}
		cur = prev.Deployment
	}
	return "", nil
}

// ranOn reports whether deployment dep reached running on device id.
func (f *Fleet) ranOn(ctx context.Context, c *deployments, dep, id string) (bool, error) {
	if ran, ok := c.ran[dep]; ok {
		return ran[id], nil
	}
	d, err := f.store.Deployment(ctx, dep)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	ran := map[string]bool{}
	for _, dd := range d.Devices {
		ran[dd.Device] = dd.State == wire.StateRunning
	}
	c.ran[dep] = ran
	return ran[id], nil
}
