package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Deploy records a deployment of the module env signs, updates the desired
// state of every targeted device and publishes it. The envelope's payload
// must be a valid manifest naming a blob uploaded before, with the same
// size. Publishing failures are logged, not returned: the state is stored
// and re-published when the MQTT client reconnects.
func (f *Fleet) Deploy(ctx context.Context, env wire.Envelope) (wire.Deployment, error) {
	now := f.now()
	m, err := f.manifest(&env)
	if err != nil {
		return wire.Deployment{}, err
	}
	ref, err := f.store.Blob(ctx, m.SHA256)
	if errors.Is(err, store.ErrNotFound) {
		return wire.Deployment{}, fmt.Errorf("%w: %s %s: sha256 %s", ErrUnknownBlob, m.Name, m.Version, m.SHA256)
	}
	if err != nil {
		return wire.Deployment{}, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	if ref.Size != m.Size {
		return wire.Deployment{}, fmt.Errorf("%w: %s %s: manifest size %d, blob %d", ErrBlobMismatch, m.Name, m.Version, m.Size, ref.Size)
	}
	targets, err := f.resolve(ctx, m.Targets)
	if err != nil {
		return wire.Deployment{}, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	id := newID()
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	states, err := f.store.CreateDeployment(ctx, store.NewDeployment{
		ID: id, Manifest: m, Envelope: env, Blob: ref, Devices: targets, Now: now, Deadline: now.Add(f.timeout),
	})
	if err != nil {
		return wire.Deployment{}, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	f.log.Info("deployment created", "deployment", id, "module", m.Name, "version", m.Version, "devices", targets)
	for i := range states {
		f.publishDesired(ctx, &states[i])
	}
	return f.store.Deployment(ctx, id)
}

// manifest reads (and, with a keyring, verifies) the manifest in env.
func (f *Fleet) manifest(env *wire.Envelope) (*wire.Manifest, error) {
	if env.PayloadType != wire.PayloadType {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrBadRequest, env.PayloadType, wire.PayloadType)
	}
	if len(env.Payload) > wire.MaxManifestSize {
		return nil, &wire.SizeError{What: "manifest", Size: int64(len(env.Payload)), Limit: wire.MaxManifestSize}
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, wire.ErrUnsigned)
	}
	if f.trust != nil {
		m, err := f.trust.Verify(env, f.now())
		if errors.Is(err, wire.ErrManifest) {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		return m, nil
	}
	// The agents' own parser: what they would refuse is refused here.
	m, err := wire.ParseManifest(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if f.now().After(m.Expires) {
		return nil, fmt.Errorf("%w: %w: %s %s expired at %s", ErrBadRequest, wire.ErrExpired, m.Name, m.Version, m.Expires)
	}
	return m, nil
}

// resolve lists the devices t selects: known devices (registered or seen)
// matching by id or labels, plus every listed node, seen or not.
func (f *Fleet) resolve(ctx context.Context, t wire.Targets) ([]string, error) {
	var ids []string
	for _, n := range t.Nodes {
		if err := wire.ValidateDeviceID(n); err != nil {
			return nil, fmt.Errorf("%w: target: %w", ErrBadRequest, err)
		}
		ids = append(ids, n)
	}
	devices, err := f.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range devices {
		var labels map[string]string
		if d.Status != nil {
			labels = d.Status.Labels
		}
		if t.Matches(d.ID, labels) {
			ids = append(ids, d.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil, ErrNoTargets
	}
	return ids, nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "d-" + hex.EncodeToString(b[:])
}

// publishDesired publishes one device's desired state, retained, QoS 1.
func (f *Fleet) publishDesired(ctx context.Context, ds *wire.DesiredState) {
	f.inv.setDesired(ds)
	b, err := json.Marshal(ds)
	if err != nil {
		f.log.Error("encode desired state", "device", ds.Device, "err", err)
		return
	}
	if err := f.publish(ctx, wire.DeviceTopic(ds.Device, wire.KindDesired), 1, true, b); err != nil {
		if errors.Is(err, wire.ErrTooLarge) {
			// Deploy refuses what would grow a desired state this far; a
			// state stored by an older controller stays unpublished, and
			// the session and the other devices are unaffected.
			f.log.Error("desired state too large to publish; deploy a smaller set of modules to this device", "device", ds.Device, "generation", ds.Generation, "err", err)
			return
		}
		f.log.Warn("publish desired state (will retry on reconnect)", "device", ds.Device, "generation", ds.Generation, "err", err)
		return
	}
	f.log.Debug("desired state published", "device", ds.Device, "generation", ds.Generation)
}

// Republish publishes every stored desired state again. The controller
// calls it on every MQTT (re)connection.
func (f *Fleet) Republish(ctx context.Context) error {
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	all, err := f.store.AllDesired(ctx)
	if err != nil {
		return fmt.Errorf("republish: %w", err)
	}
	for i := range all {
		f.publishDesired(ctx, &all[i])
	}
	f.log.Info("desired states republished", "devices", len(all))
	return nil
}
