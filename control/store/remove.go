package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/edgeplane/edge/wire"
)

// A removed device leaves every table that holds its state (credentials,
// inventory, desired state and central labels, events, history) and
// becomes a row of removed_devices:
//
//   - removed (unix nanoseconds; 0 once registered again) tells ingest to
//     drop what the device still sends (an external broker does not know
//     it was removed, and messages in flight outlive the removal);
//   - generation is the last desired generation it was sent. A device
//     registered again under the same id continues from there: its agent
//     keeps the generation it applied and drops anything at or below it.
const removedSchema = `
CREATE TABLE IF NOT EXISTS removed_devices (
	id         TEXT PRIMARY KEY,
	removed    INTEGER NOT NULL,
	generation INTEGER NOT NULL DEFAULT 0
);
`

// AddCredential registers device id with the password hash; ErrConflict
// if the device already has a password (RotateCredential replaces one).
// A removed device's id may be registered again.
func (s *Store) AddCredential(ctx context.Context, id string, hash []byte, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add credential of %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.engine.insertIgnore("credentials", []string{"id"}, []string{"id", "hash", "created"}),
		id, hash, nanos(now))
	if err != nil {
		return fmt.Errorf("add credential of %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("device %s is already registered: %w", id, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE removed_devices SET removed = 0 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("add credential of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add credential of %s: %w", id, err)
	}
	return nil
}

// RotateCredential replaces the password hash of a registered device;
// ErrNotFound if it has none.
func (s *Store) RotateCredential(ctx context.Context, id string, hash []byte, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET hash = ?, created = ? WHERE id = ?`, hash, nanos(now), id)
	if err != nil {
		return fmt.Errorf("rotate credential of %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("device %s is not registered: %w", id, ErrNotFound)
	}
	return nil
}

// DeviceRemoved is what RemoveDevice did.
type DeviceRemoved struct {
	// Generation is the desired generation the device had reached (0:
	// none).
	Generation int64
	// Ended are the deployments in which the device had not finished:
	// its part there is now wire.StateRemoved.
	Ended []string
}

// RemoveDevice deletes everything the controller keeps about device id,
// marks it removed, and ends its unfinished part in every deployment
// (wire.StateRemoved), so that no deployment, wave or rollback waits for
// it until the deadline; ErrNotFound if there was nothing.
func (s *Store) RemoveDevice(ctx context.Context, id string, now time.Time) (DeviceRemoved, error) {
	var out DeviceRemoved
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("remove device %s: %w", id, err)
	}
	defer tx.Rollback()
	ds, err := desiredTx(ctx, tx, id)
	if err != nil {
		return out, fmt.Errorf("remove device %s: %w", id, err)
	}
	var found int64
	for _, q := range []string{
		`DELETE FROM credentials WHERE id = ?`,
		`DELETE FROM devices WHERE id = ?`,
		`DELETE FROM desired WHERE device = ?`,
		`DELETE FROM device_events WHERE device = ?`,
		`DELETE FROM history WHERE device = ?`,
	} {
		res, err := tx.ExecContext(ctx, q, id)
		if err != nil {
			return out, fmt.Errorf("remove device %s: %w", id, err)
		}
		n, _ := res.RowsAffected()
		found += n
	}
	if found == 0 {
		return out, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, s.engine.upsert("removed_devices", []string{"id"}, []string{"id", "removed", "generation"},
		[]string{"removed", "generation"}), id, nanos(now), ds.Generation); err != nil {
		return out, fmt.Errorf("remove device %s: %w", id, err)
	}
	if out.Ended, err = endParts(ctx, tx, id, now); err != nil {
		return out, fmt.Errorf("remove device %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return out, fmt.Errorf("remove device %s: %w", id, err)
	}
	out.Generation = ds.Generation
	return out, nil
}

// endParts marks device's unfinished parts in deployments removed (in
// tx) and returns those deployments.
func endParts(ctx context.Context, tx *sql.Tx, device string, now time.Time) ([]string, error) {
	cond, args := notTerminal()
	rows, err := tx.QueryContext(ctx, `SELECT deployment FROM deployment_devices WHERE device = ? AND `+cond+` ORDER BY deployment`,
		append([]any{device}, args...)...)
	if err != nil {
		return nil, err
	}
	var ended []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, err
		}
		ended = append(ended, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, d := range ended {
		if _, err := setDeviceState(ctx, tx, d, device, wire.StateRemoved, RemovedReason, now); err != nil {
			return nil, err
		}
	}
	return ended, nil
}

// RemovedDevices returns the ids of the devices removed and not
// registered again.
func (s *Store) RemovedDevices(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM removed_devices WHERE removed != 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("removed devices: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("removed devices: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// generationFloor is the desired generation a device without a stored
// desired state continues from: the one it had when it was removed.
func generationFloor(ctx context.Context, q querier, device string) (int64, error) {
	var gen int64
	err := q.QueryRowContext(ctx, `SELECT generation FROM removed_devices WHERE id = ?`, device).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return gen, err
}
