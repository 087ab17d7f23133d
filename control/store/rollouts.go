package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/wire"
)

// Rollout is a staged rollout as the controller keeps it: the public view
// (wire.Rollout) with what only the controller needs. The fleet's rollout
// loop is its only writer; it is stored as one JSON document per rollout,
// so every transition is one row update.
type Rollout struct {
	wire.Rollout
	Envelope wire.Envelope `json:"envelope"` // the new version
	// Rollbacks are the operator's pre-signed rollback statements, one per
	// version the targets ran at creation.
	Rollbacks []wire.Envelope `json:"rollbacks,omitempty"`
	// Previous maps each targeted device to its desired entry's deployment
	// at creation ("" for none): which rollback statement sends it back.
	Previous map[string]string `json:"previous"`
	// Aborted: the operator aborted it (it ends aborted, not rolled_back).
	Aborted bool `json:"aborted,omitempty"`
	// GateAcc is the gate's accumulated metrics (the fleet's business),
	// saved so that a restarted controller goes on where it stopped.
	GateAcc json.RawMessage `json:"gate_acc,omitempty"`
	// Rev is the revision the document was read at (not part of it):
	// SaveRollout applies only over it.
	Rev int64 `json:"-"`
}

// ErrStale: the rollout changed (another controller saved it) since it
// was read; read it again and redo the step.
var ErrStale = errors.New("rollout changed since it was read")

// CreateRollout stores a new rollout, unless a rollout of the same module
// is still live (ErrConflict).
func (s *Store) CreateRollout(ctx context.Context, r *Rollout) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Locking read: two controllers creating a rollout of one module
		// at once take turns (on MySQL one of them deadlocks, runs again
		// and finds the other's).
		var live string
		err := tx.QueryRowContext(ctx, `SELECT id FROM rollouts WHERE module = ? AND state IN (?,?,?,?) LIMIT 1`+s.engine.forUpdate(),
			r.Module, wire.RolloutDeploying, wire.RolloutSoaking, wire.RolloutPaused, wire.RolloutRollingBack).Scan(&live)
		switch {
		case err == nil:
			return fmt.Errorf("%w: rollout %s of %s is in progress: wait for it, or abort it (edgectl rollout abort %s)",
				ErrConflict, live, r.Module, live)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts(id, module, state, created, doc) VALUES(?,?,?,?,?)`,
			r.ID, r.Module, r.State, nanos(r.Created), string(doc)); err != nil {
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		return nil
	})
}

// SaveRollout stores r's new state, if the stored one is still the
// revision r was read at (ErrStale if not), and moves r to the next.
func (s *Store) SaveRollout(ctx context.Context, r *Rollout) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE rollouts SET state = ?, doc = ?, rev = rev + 1 WHERE id = ? AND rev = ?`,
		r.State, string(doc), r.ID, r.Rev)
	if err != nil {
		return fmt.Errorf("save rollout %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		if _, err := s.GetRollout(ctx, r.ID); err != nil {
			return fmt.Errorf("save rollout: %w", err)
		}
		return fmt.Errorf("save rollout %s at revision %d: %w", r.ID, r.Rev, ErrStale)
	}
	r.Rev++
	return nil
}

// GetRollout returns one rollout.
func (s *Store) GetRollout(ctx context.Context, id string) (*Rollout, error) {
	var doc string
	var rev int64
	err := s.db.QueryRowContext(ctx, `SELECT doc, rev FROM rollouts WHERE id = ?`, id).Scan(&doc, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("rollout %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rollout %s: %w", id, err)
	}
	r := Rollout{Rev: rev}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("rollout %s: %w", id, err)
	}
	return &r, nil
}

// Rollouts returns rollouts newest first: of module ("" for all), at most
// limit (0 for all).
func (s *Store) Rollouts(ctx context.Context, module string, limit int) ([]*Rollout, error) {
	q := `SELECT doc, rev FROM rollouts WHERE (? = '' OR module = ?) ORDER BY created DESC, ` + s.engine.order() + ` DESC`
	args := []any{module, module}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.queryRollouts(ctx, q, args...)
}

// LiveRollouts returns the rollouts that are not finished.
func (s *Store) LiveRollouts(ctx context.Context) ([]*Rollout, error) {
	return s.queryRollouts(ctx, `SELECT doc, rev FROM rollouts WHERE state IN (?,?,?,?) ORDER BY created`,
		wire.RolloutDeploying, wire.RolloutSoaking, wire.RolloutPaused, wire.RolloutRollingBack)
}

func (s *Store) queryRollouts(ctx context.Context, q string, args ...any) ([]*Rollout, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []*Rollout
	for rows.Next() {
		var doc string
		var rev int64
		if err := rows.Scan(&doc, &rev); err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		r := &Rollout{Rev: rev}
		if err := json.Unmarshal([]byte(doc), r); err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
