package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/wire"
)

// terminalStates end a device's part in a deployment (wire.Terminal).
var terminalStates = []string{wire.StateRunning, wire.StateRejected, wire.StateFailed, wire.StateRolledBack,
	wire.StateTimedOut, wire.StateSuperseded, wire.StateCancelled, wire.StateRemoved}

// notTerminal is an SQL condition on deployment_devices.state, with the
// terminal states as its arguments.
func notTerminal() (string, []any) {
	args := make([]any, len(terminalStates))
	for i, st := range terminalStates {
		args[i] = st
	}
	return "state NOT IN (?" + strings.Repeat(",?", len(args)-1) + ")", args
}

// ErrTooManyModules is wrapped by ModuleLimitError.
var ErrTooManyModules = errors.New("too many modules on the device")

// ModuleLimitError refuses a deployment that would give a device more
// than wire.MaxModules modules.
type ModuleLimitError struct {
	Device  string
	Module  string // the module that would be added
	Modules int    // modules the device's desired state has now
}

func (e *ModuleLimitError) Error() string {
	return fmt.Sprintf("device %s already has %d modules, the most one device may have (%d): remove one before deploying %s",
		e.Device, e.Modules, wire.MaxModules, e.Module)
}

func (e *ModuleLimitError) Unwrap() error { return ErrTooManyModules }

// NewDeployment is what CreateDeployment records.
type NewDeployment struct {
	ID       string
	Manifest *wire.Manifest
	Envelope wire.Envelope
	Blob     wire.BlobRef
	Devices  []string // targeted device ids, validated
	Now      time.Time
	Deadline time.Time // every device is in a terminal state by then (ExpireDeployments)
	// Rollout is the staged rollout the deployment is a wave of (or the
	// rollback of), "" for a plain push.
	Rollout string
	// Removed are targeted devices removed from the fleet since they were
	// chosen (a rollout's later wave): their part is recorded ended
	// (wire.StateRemoved) and no desired state of theirs is written.
	Removed []string
}

// RemovedReason is the reason recorded with wire.StateRemoved.
const RemovedReason = "the device was removed from the fleet (edgectl device remove)"

// CreateDeployment records a deployment and, in the same transaction,
// replaces the module in every targeted device's desired state and bumps
// its generation; the replaced deployment, where that device had not
// finished it, becomes superseded for it. It returns the new desired
// states to publish.
func (s *Store) CreateDeployment(ctx context.Context, d NewDeployment) ([]wire.DesiredState, error) {
	env, err := json.Marshal(d.Envelope)
	if err != nil {
		return nil, fmt.Errorf("create deployment %s: %w", d.ID, err)
	}
	// Devices in order: two transactions that lock the same devices' rows
	// lock them in the same order (fewer deadlocks on MySQL).
	devices := slices.Clone(d.Devices)
	slices.Sort(devices)
	var out []wire.DesiredState
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		m := d.Manifest
		if _, err := tx.ExecContext(ctx, `INSERT INTO deployments(id, module, version, sha256, envelope, created, deadline, rollout, epoch)
			VALUES(?,?,?,?,?,?,?,?,?)`,
			d.ID, m.Name, m.Version, m.SHA256, string(env), nanos(d.Now), nanos(d.Deadline), d.Rollout, int64(m.Epoch)); err != nil {
			return fmt.Errorf("create deployment %s: %w", d.ID, err)
		}
		for _, dev := range devices {
			ds, err := s.deployTo(ctx, tx, d, dev)
			if err != nil {
				return fmt.Errorf("create deployment %s: %w", d.ID, err)
			}
			out = append(out, ds)
		}
		for _, dev := range d.Removed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO deployment_devices(deployment, device, state, reason, updated, previous) VALUES(?,?,?,?,?,?)`,
				d.ID, dev, wire.StateRemoved, RemovedReason, nanos(d.Now), ""); err != nil {
				return fmt.Errorf("create deployment %s: progress of %s: %w", d.ID, dev, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deployTo puts deployment d in device's desired state (in tx) and
// records the device's part in it.
func (s *Store) deployTo(ctx context.Context, tx *sql.Tx, d NewDeployment, dev string) (wire.DesiredState, error) {
	m := d.Manifest
	ds, err := s.lockDesired(ctx, tx, dev)
	if err != nil {
		return ds, err
	}
	mod := wire.DesiredModule{Deployment: d.ID, Envelope: d.Envelope, Blob: d.Blob}
	// Entries no agent could parse (stored by an older controller that
	// read manifests leniently) are dropped: they would never be
	// replaced otherwise.
	ds.Modules = slices.DeleteFunc(ds.Modules, func(dm wire.DesiredModule) bool { return moduleName(dm) == "" })
	replaced := false
	previous := ""
	for i := range ds.Modules {
		if moduleName(ds.Modules[i]) == m.Name {
			if err := supersede(ctx, tx, ds.Modules[i].Deployment, dev, d); err != nil {
				return ds, err
			}
			prev, err := json.Marshal(ds.Modules[i])
			if err != nil {
				return ds, err
			}
			previous = string(prev)
			ds.Modules[i], replaced = mod, true
		}
	}
	if !replaced {
		if len(ds.Modules) >= wire.MaxModules {
			// Refused for every device before anything is stored, as
			// an oversize desired state is: the device's series in
			// /metrics and its status are bounded by this count.
			return ds, &ModuleLimitError{Device: dev, Module: m.Name, Modules: len(ds.Modules)}
		}
		ds.Modules = append(ds.Modules, mod)
	}
	ds.Device, ds.Generation, ds.Issued = dev, ds.Generation+1, d.Now.UTC()
	state, err := json.Marshal(ds)
	if err != nil {
		return ds, err
	}
	if len(state) > wire.MaxDesiredSize {
		// It could never be published: refuse the deployment, for
		// every device, before anything is stored.
		return ds, &wire.SizeError{
			What: "desired state of device " + dev + " with " + m.Name + " " + m.Version, Size: int64(len(state)), Limit: wire.MaxDesiredSize}
	}
	if err := s.writeDesired(ctx, tx, &ds); err != nil {
		return ds, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deployment_devices(deployment, device, state, reason, updated, previous) VALUES(?,?,?,?,?,?)`,
		d.ID, dev, wire.StatePending, "", nanos(d.Now), previous); err != nil {
		return ds, fmt.Errorf("progress of %s: %w", dev, err)
	}
	return ds, nil
}

// supersede marks device's unfinished part in deployment old superseded
// by d, which replaces it in the device's desired state.
func supersede(ctx context.Context, tx *sql.Tx, old, device string, d NewDeployment) error {
	if old == "" || old == d.ID {
		return nil
	}
	cond, args := notTerminal()
	reason := fmt.Sprintf("replaced by deployment %s (%s %s) before it finished", d.ID, d.Manifest.Name, d.Manifest.Version)
	if _, err := tx.ExecContext(ctx, `UPDATE deployment_devices SET state = ?, reason = ?, updated = ?
		WHERE deployment = ? AND device = ? AND `+cond,
		append([]any{wire.StateSuperseded, reason, nanos(d.Now), old, device}, args...)...); err != nil {
		return fmt.Errorf("supersede %s on %s: %w", old, device, err)
	}
	return nil
}

// moduleName reads the module name from a stored envelope's payload with
// the agents' own parser. Envelopes were parsed the same way when
// deployed, so failure means an entry stored by an older controller that
// no agent would ever accept: "" (CreateDeployment drops such entries).
func moduleName(m wire.DesiredModule) string {
	man, err := wire.ParseManifest(m.Envelope.Payload)
	if err != nil {
		return ""
	}
	return man.Name
}

// SetDeviceState records a device's progress in a deployment. It reports
// false, and changes nothing, when the device is not part of the
// deployment, the state and reason are already the recorded ones (an empty
// reason for the recorded state, as a status report gives, keeps the
// reason an event gave), or the recorded state is terminal and the new one
// is not (a late or duplicate report of an earlier step never reopens a
// finished device; running → rolled_back, or timed_out → running from a
// device that comes back, still apply).
func (s *Store) SetDeviceState(ctx context.Context, deployment, device, state, reason string, now time.Time) (bool, error) {
	return setDeviceState(ctx, s.db, deployment, device, state, reason, now)
}

func setDeviceState(ctx context.Context, ex execer, deployment, device, state, reason string, now time.Time) (bool, error) {
	cond, args := notTerminal()
	res, err := ex.ExecContext(ctx, `UPDATE deployment_devices SET state = ?, reason = ?, updated = ?
		WHERE deployment = ? AND device = ? AND (state != ? OR (reason != ? AND ? != '')) AND (? OR `+cond+`)`,
		append([]any{state, reason, nanos(now), deployment, device, state, reason, reason, wire.Terminal(state)}, args...)...)
	if err != nil {
		return false, fmt.Errorf("set state of %s in %s: %w", device, deployment, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Deployment returns one deployment with its per-device progress.
func (s *Store) Deployment(ctx context.Context, id string) (wire.Deployment, error) {
	d := wire.Deployment{ID: id}
	var created, deadline int64
	err := s.db.QueryRowContext(ctx, `SELECT module, version, sha256, created, deadline FROM deployments WHERE id = ?`, id).
		Scan(&d.Module, &d.Version, &d.SHA256, &created, &deadline)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("deployment %s: %w", id, err)
	}
	d.Created, d.Deadline = fromNanos(created), fromNanos(deadline)
	if err := s.loadProgress(ctx, &d); err != nil {
		return d, err
	}
	return d, nil
}

func (s *Store) loadProgress(ctx context.Context, d *wire.Deployment) error {
	rows, err := s.db.QueryContext(ctx, `SELECT device, state, reason, updated FROM deployment_devices
		WHERE deployment = ? ORDER BY device`, d.ID)
	if err != nil {
		return fmt.Errorf("deployment %s progress: %w", d.ID, err)
	}
	defer rows.Close()
	d.Devices = []wire.DeploymentDevice{}
	done := true
	for rows.Next() {
		var dd wire.DeploymentDevice
		var updated int64
		if err := rows.Scan(&dd.Device, &dd.State, &dd.Reason, &updated); err != nil {
			return fmt.Errorf("deployment %s progress: %w", d.ID, err)
		}
		dd.Updated = fromNanos(updated)
		done = done && wire.Terminal(dd.State)
		d.Devices = append(d.Devices, dd)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("deployment %s progress: %w", d.ID, err)
	}
	d.Done = done && len(d.Devices) > 0
	return nil
}

// Deployments returns up to limit deployments, newest first.
func (s *Store) Deployments(ctx context.Context, limit int) ([]wire.Deployment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, module, version, sha256, created, deadline FROM deployments
		ORDER BY created DESC, `+s.engine.order()+` DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	out := []wire.Deployment{}
	for rows.Next() {
		var d wire.Deployment
		var created, deadline int64
		if err := rows.Scan(&d.ID, &d.Module, &d.Version, &d.SHA256, &created, &deadline); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		d.Created, d.Deadline = fromNanos(created), fromNanos(deadline)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	for i := range out {
		if err := s.loadProgress(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
