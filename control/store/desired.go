package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/wire"
)

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// desiredTx returns the stored desired state of device, or an empty one
// (generation 0) when it has none.
func desiredTx(ctx context.Context, q querier, device string) (wire.DesiredState, error) {
	return readDesired(ctx, q, device, "")
}

// lockDesired is desiredTx for a transaction that goes on to write the
// device's desired state: on MySQL it locks the row (or the gap where it
// would be), so that two controllers changing one device take turns
// instead of one overwriting the other's generation.
func (s *Store) lockDesired(ctx context.Context, tx *sql.Tx, device string) (wire.DesiredState, error) {
	return readDesired(ctx, tx, device, s.engine.forUpdate())
}

func readDesired(ctx context.Context, q querier, device, suffix string) (wire.DesiredState, error) {
	var ds wire.DesiredState
	var state string
	err := q.QueryRowContext(ctx, `SELECT state FROM desired WHERE device = ?`+suffix, device).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		gen, err := generationFloor(ctx, q, device)
		if err != nil {
			return ds, fmt.Errorf("desired state of %s: %w", device, err)
		}
		return wire.DesiredState{Device: device, Generation: gen, Modules: []wire.DesiredModule{}}, nil
	}
	if err != nil {
		return ds, fmt.Errorf("desired state of %s: %w", device, err)
	}
	if err := wire.Decode([]byte(state), &ds); err != nil {
		return ds, fmt.Errorf("desired state of %s: %w", device, err)
	}
	return ds, nil
}

// Desired returns the desired state of device, or ErrNotFound.
func (s *Store) Desired(ctx context.Context, device string) (wire.DesiredState, error) {
	ds, err := desiredTx(ctx, s.db, device)
	if err == nil && ds.Issued.IsZero() { // no stored state
		return ds, fmt.Errorf("desired state of %s: %w", device, ErrNotFound)
	}
	return ds, err
}

// AllDesired returns every device's desired state. A stored state that
// cannot be read (one an older controller stored over today's limits) is
// left out and named in the error of bad, so that one device's bad state
// never keeps the others from being published or targeted.
func (s *Store) AllDesired(ctx context.Context) (out []wire.DesiredState, bad error, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, state FROM desired ORDER BY device`)
	if err != nil {
		return nil, nil, fmt.Errorf("all desired states: %w", err)
	}
	defer rows.Close()
	var bads []error
	for rows.Next() {
		var device, state string
		if err := rows.Scan(&device, &state); err != nil {
			return nil, nil, fmt.Errorf("all desired states: %w", err)
		}
		var ds wire.DesiredState
		if err := wire.Decode([]byte(state), &ds); err != nil {
			bads = append(bads, fmt.Errorf("desired state of %s: %w", device, err))
			continue
		}
		out = append(out, ds)
	}
	return out, errors.Join(bads...), rows.Err()
}
