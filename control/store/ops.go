package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Errors of the operator's actions; the API maps them to 409.
var (
	// ErrConflict: the action does not apply in the present state (a
	// rollout's wave cancelled as a deployment, a clear of a quarantine
	// the device does not report, a rollout paused twice).
	ErrConflict = errors.New("conflict")
)

const opsSchema = `
CREATE TABLE IF NOT EXISTS rollouts (
	id      TEXT PRIMARY KEY,
	module  TEXT NOT NULL,
	state   TEXT NOT NULL,
	created INTEGER NOT NULL,
	doc     TEXT NOT NULL   -- JSON store.Rollout
);
CREATE INDEX IF NOT EXISTS rollouts_created ON rollouts(created);
CREATE INDEX IF NOT EXISTS deployments_module ON deployments(module, created);
`

// writeDesired stores ds as device's desired state, to be published.
func (s *Store) writeDesired(ctx context.Context, tx *sql.Tx, ds *wire.DesiredState) error {
	state, err := json.Marshal(ds)
	if err != nil {
		return fmt.Errorf("desired state of %s: %w", ds.Device, err)
	}
	if len(state) > wire.MaxDesiredSize {
		return fmt.Errorf("desired state of %s: %w", ds.Device, &wire.SizeError{
			What: "desired state of device " + ds.Device, Size: int64(len(state)), Limit: wire.MaxDesiredSize})
	}
	// Written by the leader, which publishes it next (and everything
	// again should it die first: its successor republishes all), it is
	// recorded published at once; by another replica, left for the
	// leader's poll (Unpublished).
	var published int64
	if s.publisher() {
		published = ds.Generation
	}
	if _, err := tx.ExecContext(ctx, s.engine.upsert("desired", []string{"device"},
		[]string{"device", "generation", "state", "published"}, []string{"generation", "state", "published"}),
		ds.Device, ds.Generation, string(state), published); err != nil {
		return fmt.Errorf("desired state of %s: %w", ds.Device, err)
	}
	return nil
}

// changeDesired applies fn to device's desired state in a transaction
// and, when fn reports a change, bumps the generation and stores it. It
// returns the state (changed or not) and whether it changed.
func (s *Store) changeDesired(ctx context.Context, device string, now time.Time,
	fn func(tx *sql.Tx, ds *wire.DesiredState) (bool, error)) (wire.DesiredState, bool, error) {
	var ds wire.DesiredState
	var changed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if ds, err = s.lockDesired(ctx, tx, device); err != nil {
			return err
		}
		if changed, err = fn(tx, &ds); err != nil || !changed {
			return err
		}
		ds.Device, ds.Generation, ds.Issued = device, ds.Generation+1, now.UTC()
		return s.writeDesired(ctx, tx, &ds)
	})
	if err != nil {
		return ds, false, err
	}
	return ds, changed, nil
}

// CentralLabels returns the labels the operator set for device.
func (s *Store) CentralLabels(ctx context.Context, device string) (map[string]string, error) {
	ds, err := desiredTx(ctx, s.db, device)
	if err != nil {
		return nil, err
	}
	return ds.Labels, nil
}

// SetLabels sets and removes central labels of device, carried to the
// agent in its desired state. It returns the desired state and whether it
// changed (to publish).
func (s *Store) SetLabels(ctx context.Context, device string, set map[string]string, remove []string, now time.Time) (wire.DesiredState, bool, error) {
	return s.changeDesired(ctx, device, now, func(_ *sql.Tx, ds *wire.DesiredState) (bool, error) {
		changed := false
		for _, k := range remove {
			if _, ok := ds.Labels[k]; ok {
				delete(ds.Labels, k)
				changed = true
			}
		}
		for k, v := range set {
			if old, ok := ds.Labels[k]; ok && old == v {
				continue
			}
			if ds.Labels == nil {
				ds.Labels = map[string]string{}
			}
			ds.Labels[k], changed = v, true
		}
		if len(ds.Labels) > wire.MaxLabels {
			return false, fmt.Errorf("device %s: %d central labels, at most %d: %w", device, len(ds.Labels), wire.MaxLabels, wire.ErrTooLarge)
		}
		if len(ds.Labels) == 0 {
			ds.Labels = nil
		}
		return changed, nil
	})
}

// ClearQuarantine raises device's quarantine clear count of module, so
// the agent removes the module's quarantine entries once.
func (s *Store) ClearQuarantine(ctx context.Context, device, module string, now time.Time) (wire.DesiredState, error) {
	ds, _, err := s.changeDesired(ctx, device, now, func(_ *sql.Tx, ds *wire.DesiredState) (bool, error) {
		if ds.QuarantineClear == nil {
			ds.QuarantineClear = map[string]uint64{}
		}
		ds.QuarantineClear[module]++
		return true, nil
	})
	return ds, err
}

// RemoveModule removes module from device's desired state (the agent then
// stops it): what going back means for a device a rollout installed the
// module on. It reports false when the entry is not deployment's any more
// (replaced since).
func (s *Store) RemoveModule(ctx context.Context, device, module, deployment string, now time.Time) (wire.DesiredState, bool, error) {
	return s.changeDesired(ctx, device, now, func(_ *sql.Tx, ds *wire.DesiredState) (bool, error) {
		n := len(ds.Modules)
		ds.Modules = slices.DeleteFunc(ds.Modules, func(dm wire.DesiredModule) bool {
			return moduleName(dm) == module && dm.Deployment == deployment
		})
		return len(ds.Modules) != n, nil
	})
}

// DeploymentEnvelope returns the signed envelope of deployment id.
func (s *Store) DeploymentEnvelope(ctx context.Context, id string) (wire.Envelope, error) {
	var env wire.Envelope
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT envelope FROM deployments WHERE id = ?`, id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return env, fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return env, fmt.Errorf("deployment %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil { // written by CreateDeployment
		return env, fmt.Errorf("deployment %s: %w", id, err)
	}
	return env, nil
}

// ModuleEpoch is the highest epoch of module's statements the controller
// holds: its deployments and the rollback statements of its rollouts
// (published or not: a push at that epoch makes every unused pre-signed
// rollback older than what the devices then run).
func (s *Store) ModuleEpoch(ctx context.Context, module string) (uint64, error) {
	var deployed int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM deployments WHERE module = ?`, module).
		Scan(&deployed); err != nil {
		return 0, fmt.Errorf("epoch of %s: %w", module, err)
	}
	epoch := uint64(deployed)
	rs, err := s.Rollouts(ctx, module, 0)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		for _, rb := range r.Rollbacks {
			if m, err := wire.ParseManifest(rb.Payload); err == nil {
				epoch = max(epoch, m.Epoch)
			}
		}
	}
	return epoch, nil
}

// LatestDeployment returns the newest deployment of module at version.
func (s *Store) LatestDeployment(ctx context.Context, module, version string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM deployments WHERE module = ? AND version = ?
		ORDER BY created DESC, `+s.engine.order()+` DESC LIMIT 1`, module, version).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("no deployment of %s %s: %w", module, version, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("deployment of %s %s: %w", module, version, err)
	}
	return id, nil
}

// Previous returns the desired entry device had for deployment's module
// before deployment replaced it (nil: the deployment installed the module
// there, or it predates this record).
func (s *Store) Previous(ctx context.Context, deployment, device string) (*wire.DesiredModule, error) {
	var prev sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT previous FROM deployment_devices WHERE deployment = ? AND device = ?`,
		deployment, device).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device %s in deployment %s: %w", device, deployment, ErrNotFound)
	}
	if err != nil || prev.String == "" {
		return nil, err
	}
	var dm wire.DesiredModule
	if err := json.Unmarshal([]byte(prev.String), &dm); err != nil { // written by CreateDeployment
		return nil, fmt.Errorf("previous entry of %s in %s: %w", device, deployment, err)
	}
	return &dm, nil
}

// DesiredEntry returns device's desired entry for module (nil if none).
func (s *Store) DesiredEntry(ctx context.Context, device, module string) (*wire.DesiredModule, error) {
	ds, err := desiredTx(ctx, s.db, device)
	if err != nil {
		return nil, err
	}
	for i := range ds.Modules {
		if moduleName(ds.Modules[i]) == module {
			return &ds.Modules[i], nil
		}
	}
	return nil, nil
}
