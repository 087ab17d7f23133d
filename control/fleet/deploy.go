package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Deploy records a deployment of the module env signs and updates the
// desired state of every targeted device; the leader publishes those in
// the background, right after (publish.go). The envelope's payload
// must be a valid manifest naming a blob uploaded before, with the same
// size. Every node the manifest names must be known (registered, or
// reported once) unless req.AllowUnregistered; label targets must match a
// device. A module with a staged rollout in progress is refused
// (store.ErrConflict), and so is a device that runs modules outside its
// desired state unless req.StopUnknown (ErrUnknownModules). Publishing
// failures are logged, not returned: the state is stored and re-published
// when the MQTT client reconnects.
func (f *Fleet) Deploy(ctx context.Context, req wire.DeployRequest) (wire.Deployment, error) {
	env := req.Envelope
	m, ref, err := f.checkEnvelope(ctx, &env)
	if err != nil {
		return wire.Deployment{}, err
	}
	if err := f.noLiveRollout(ctx, m.Name); err != nil {
		return wire.Deployment{}, err
	}
	v, err := f.view(ctx)
	if err != nil {
		return wire.Deployment{}, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	targets, err := v.resolve(m.Targets, req.AllowUnregistered)
	if err != nil {
		return wire.Deployment{}, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	if !req.StopUnknown {
		if err := v.checkUnknown(targets, m.Name, "push of "+m.Name+" "+m.Version); err != nil {
			return wire.Deployment{}, err
		}
	}
	id := newID()
	if err := f.deploy(ctx, store.NewDeployment{ID: id, Manifest: m, Envelope: env, Blob: ref, Devices: targets}); err != nil {
		return wire.Deployment{}, err
	}
	return f.store.Deployment(ctx, id)
}

// checkEnvelope reads the manifest of env (verifying it with a keyring)
// and finds its uploaded blob.
func (f *Fleet) checkEnvelope(ctx context.Context, env *wire.Envelope) (*wire.Manifest, wire.BlobRef, error) {
	m, err := f.manifest(env)
	if err != nil {
		return nil, wire.BlobRef{}, err
	}
	ref, err := f.store.Blob(ctx, m.SHA256)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ref, fmt.Errorf("%w: %s %s: sha256 %s", ErrUnknownBlob, m.Name, m.Version, m.SHA256)
	}
	if err != nil {
		return nil, ref, fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	if ref.Size != m.Size {
		return nil, ref, fmt.Errorf("%w: %s %s: manifest size %d, blob %d", ErrBlobMismatch, m.Name, m.Version, m.Size, ref.Size)
	}
	return m, ref, nil
}

// deploy stores d (its Now and Deadline are set here) and hands the
// desired states it changes to the publisher (publish.go): the caller, an
// API request among them, does not wait for a thousand publishes.
func (f *Fleet) deploy(ctx context.Context, d store.NewDeployment) error {
	d.Now = f.now()
	d.Deadline = d.Now.Add(f.timeout)
	f.deployMu.Lock()
	defer f.deployMu.Unlock()
	// A device removed since the targets were chosen (a rollout's later
	// wave, its rollback) is recorded removed, not sent anything: its
	// part would otherwise wait for the deadline (RemoveDevice holds
	// deployMu, so none is removed between this and the store).
	d.Devices, d.Removed = f.removed.split(d.Devices)
	states, err := f.store.CreateDeployment(ctx, d)
	if err != nil {
		return fmt.Errorf("deploy %s %s: %w", d.Manifest.Name, d.Manifest.Version, err)
	}
	f.log.Info("deployment created", "deployment", d.ID, "module", d.Manifest.Name, "version", d.Manifest.Version,
		"devices", d.Devices, "rollout", d.Rollout)
	f.publishLater(states, false)
	return nil
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
		return nil, fmt.Errorf("%w: %w: %s %s expired at %s", ErrBadRequest, wire.ErrExpired, m.Name, m.Version, m.Expires.UTC().Format(time.RFC3339))
	}
	return m, nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "d-" + hex.EncodeToString(b[:])
}
