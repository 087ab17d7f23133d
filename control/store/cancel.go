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

// CancelDeployment cancels deployment id on every device that has not
// finished it: in one transaction, the device's desired entry for the
// module goes back to the entry the deployment replaced (or the module is
// removed, where the deployment installed it), its generation rises, and
// its part becomes cancelled. Devices that finished are left as they are,
// with a note: one that runs the version keeps it (an agent never goes
// back to an older version without a new signed statement: edgectl
// rollback). A device that switched just before the cancel reached it
// refuses the older entry the same way and keeps the version; its late
// report of running then replaces cancelled (terminal over terminal), so
// the record stays true. A deployment of a live rollout is refused
// (ErrConflict: the rollout's loop drives it; abort the rollout); one of
// a rollout that ended is cancelled as any other. It returns the desired
// states to publish.
func (s *Store) CancelDeployment(ctx context.Context, id string, now time.Time) ([]wire.DesiredState, []wire.CancelDevice, error) {
	var module, rollout string
	err := s.db.QueryRowContext(ctx, `SELECT module, rollout FROM deployments WHERE id = ?`, id).Scan(&module, &rollout)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cancel deployment %s: %w", id, err)
	}
	if rollout != "" {
		// While the rollout lives its loop drives the deployment: abort
		// it (allowed in every live state, rolling_back included). Once
		// it ended, the deployment is the operator's like any other.
		r, err := s.GetRollout(ctx, rollout)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, fmt.Errorf("cancel deployment %s: %w", id, err)
		}
		if err == nil && !wire.RolloutDone(r.State) {
			return nil, nil, fmt.Errorf("%w: deployment %s is part of rollout %s (%s): abort the rollout instead (edgectl rollout abort %s)",
				ErrConflict, id, rollout, r.State, rollout)
		}
	}
	var publish []wire.DesiredState
	var out []wire.CancelDevice
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		publish, out, err = s.cancelTx(ctx, tx, id, module, now)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cancel deployment %s: %w", id, err)
	}
	return publish, out, nil
}

// cancelTx is CancelDeployment's transaction.
func (s *Store) cancelTx(ctx context.Context, tx *sql.Tx, id, module string, now time.Time) ([]wire.DesiredState, []wire.CancelDevice, error) {
	type part struct {
		device, state string
		previous      sql.NullString // NULL: a row of an older controller, which did not keep it
	}
	var parts []part
	rows, err := tx.QueryContext(ctx, `SELECT device, state, previous FROM deployment_devices WHERE deployment = ? ORDER BY device`+s.engine.forUpdate(), id)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.device, &p.state, &p.previous); err != nil {
			rows.Close()
			return nil, nil, err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var publish []wire.DesiredState
	var out []wire.CancelDevice
	for _, p := range parts {
		cd := wire.CancelDevice{Device: p.device, Updated: now.UTC()}
		if wire.Terminal(p.state) {
			cd.Note = "already " + p.state
			if p.state == wire.StateRunning {
				cd.Note += ": it keeps the version (go back with edgectl rollback)"
			}
			out = append(out, cd)
			continue
		}
		if !p.previous.Valid {
			cd.Note = "deployed by an older controller, which did not keep the entry it replaced: left as it is (push the version to go back to)"
			out = append(out, cd)
			continue
		}
		ds, restored, err := s.cancelOn(ctx, tx, id, module, p.device, p.previous.String, now)
		if err != nil {
			return nil, nil, err
		}
		reason := "cancelled by the operator; desired state restored: " + restored
		if ds == nil {
			reason = "cancelled by the operator; the device's desired state names another deployment of " + module + " already"
		} else {
			publish = append(publish, *ds)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deployment_devices SET state = ?, reason = ?, updated = ?
			WHERE deployment = ? AND device = ?`, wire.StateCancelled, reason, nanos(now), id, p.device); err != nil {
			return nil, nil, fmt.Errorf("on %s: %w", p.device, err)
		}
		cd.Cancelled, cd.Restored = true, restored
		out = append(out, cd)
	}
	return publish, out, nil
}

// cancelOn puts back, in device's desired state, the entry deployment id
// replaced (previous, JSON; "" removes the module). It returns nil when
// the desired entry is not id's any more, and what was restored.
func (s *Store) cancelOn(ctx context.Context, tx *sql.Tx, id, module, device, previous string, now time.Time) (*wire.DesiredState, string, error) {
	ds, err := s.lockDesired(ctx, tx, device)
	if err != nil {
		return nil, "", err
	}
	i := slices.IndexFunc(ds.Modules, func(dm wire.DesiredModule) bool { return moduleName(dm) == module })
	if i < 0 || ds.Modules[i].Deployment != id {
		return nil, "", nil
	}
	restored := "the module removed (the deployment had installed it)"
	if previous == "" {
		ds.Modules = slices.Delete(ds.Modules, i, i+1)
	} else {
		var dm wire.DesiredModule
		if err := json.Unmarshal([]byte(previous), &dm); err != nil { // written by CreateDeployment
			return nil, "", fmt.Errorf("previous entry of %s: %w", device, err)
		}
		ds.Modules[i] = dm
		restored = describe(dm)
	}
	ds.Generation, ds.Issued = ds.Generation+1, now.UTC()
	if err := s.writeDesired(ctx, tx, &ds); err != nil {
		return nil, "", err
	}
	return &ds, restored, nil
}

// describe names a desired entry: "orders 1.0.0 (deployment d-...)".
func describe(dm wire.DesiredModule) string {
	m, err := wire.ParseManifest(dm.Envelope.Payload)
	if err != nil {
		return "deployment " + dm.Deployment
	}
	return fmt.Sprintf("%s %s (deployment %s)", m.Name, m.Version, dm.Deployment)
}
