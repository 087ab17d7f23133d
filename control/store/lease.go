package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Lease is a named lease in the database: one holder at a time, until it
// expires unless renewed. Token is the fencing token: it rises every time
// the lease changes hands (or its holder takes it again after letting it
// expire), so work done under an older token can be told apart. Times are
// the database's clock, so controllers on machines whose clocks disagree
// still agree on who holds it.
type Lease struct {
	Name    string
	Holder  string
	Token   int64
	Expires time.Time // database clock
}

// dbNowMillis is the database's clock in unix milliseconds.
func (e engine) dbNowMillis() string {
	if e == engineMySQL {
		return "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

// AcquireLease takes lease name for holder for ttl, or renews it if
// holder has it; it reports whether holder holds it now, and the lease as
// it stands (the other holder's, when not). A lease that expired goes to
// whoever asks first, with the next token.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error) {
	var l Lease
	var held bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		l, held, err = s.acquireTx(ctx, tx, name, holder, ttl)
		return err
	})
	if err != nil {
		return l, false, fmt.Errorf("lease %s: %w", name, err)
	}
	return l, held, nil
}

func (s *Store) acquireTx(ctx context.Context, tx *sql.Tx, name, holder string, ttl time.Duration) (Lease, bool, error) {
	l := Lease{Name: name}
	var expires, now int64
	err := tx.QueryRowContext(ctx, `SELECT holder, token, expires, `+s.engine.dbNowMillis()+` FROM leases WHERE name = ?`+s.engine.forUpdate(), name).
		Scan(&l.Holder, &l.Token, &expires, &now)
	if errors.Is(err, sql.ErrNoRows) {
		if err := tx.QueryRowContext(ctx, `SELECT `+s.engine.dbNowMillis()).Scan(&now); err != nil {
			return l, false, err
		}
		l.Holder, l.Token, l.Expires = holder, 1, time.UnixMilli(now+ttl.Milliseconds())
		_, err := tx.ExecContext(ctx, `INSERT INTO leases(name, holder, token, expires) VALUES(?,?,?,?)`, name, holder, l.Token, now+ttl.Milliseconds())
		return l, err == nil, err
	}
	if err != nil {
		return l, false, err
	}
	l.Expires = time.UnixMilli(expires)
	switch {
	case l.Holder == holder && expires > now: // renew
	case expires <= now: // take over, with the next token
		l.Holder, l.Token = holder, l.Token+1
	default:
		return l, false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE leases SET holder = ?, token = ?, expires = ? WHERE name = ?`,
		l.Holder, l.Token, now+ttl.Milliseconds(), name); err != nil {
		return l, false, err
	}
	l.Expires = time.UnixMilli(now + ttl.Milliseconds())
	return l, true, nil
}

// ReleaseLease gives up lease name if holder still holds it under token,
// so that another controller takes it at once instead of after it expires
// (a clean shutdown).
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, token int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE leases SET expires = 0 WHERE name = ? AND holder = ? AND token = ?`, name, holder, token); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// GetLease returns lease name as it stands, or ErrNotFound.
func (s *Store) GetLease(ctx context.Context, name string) (Lease, error) {
	l := Lease{Name: name}
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT holder, token, expires FROM leases WHERE name = ?`, name).Scan(&l.Holder, &l.Token, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("lease %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("lease %s: %w", name, err)
	}
	l.Expires = time.UnixMilli(expires)
	return l, nil
}

// SetPublisher tells the store how to know whether this controller
// publishes the desired states it writes (holds the leader lease): those
// are recorded published as they are written, and Unpublished lists only
// the other replicas' writes.
func (s *Store) SetPublisher(publishes func() bool) {
	s.pubMu.Lock()
	s.publishes = publishes
	s.pubMu.Unlock()
}

func (s *Store) publisher() bool {
	s.pubMu.Lock()
	p := s.publishes
	s.pubMu.Unlock()
	return p != nil && p()
}

// Unpublished returns up to limit desired states stored since the leader
// last published them (by a controller that does not publish: a replica
// that is not the leader), in device order.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]wire.DesiredState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, generation, state FROM desired WHERE published < generation ORDER BY device LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished desired states: %w", err)
	}
	defer rows.Close()
	var out []wire.DesiredState
	type unreadable struct {
		device string
		gen    int64
	}
	var bad []unreadable
	for rows.Next() {
		var device, state string
		var gen int64
		if err := rows.Scan(&device, &gen, &state); err != nil {
			return nil, fmt.Errorf("unpublished desired states: %w", err)
		}
		var ds wire.DesiredState
		if err := wire.Decode([]byte(state), &ds); err != nil {
			bad = append(bad, unreadable{device, gen})
			continue
		}
		out = append(out, ds)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unpublished desired states: %w", err)
	}
	rows.Close()
	// Never publishable (stored by an older controller over today's
	// limits; Republish names them): marked, so that they are not read
	// again at every poll.
	for _, b := range bad {
		if err := s.MarkPublished(ctx, b.device, b.gen); err != nil {
			return out, err
		}
	}
	return out, nil
}

// MarkPublished records that generation of device's desired state was
// published (never lowering what was recorded).
func (s *Store) MarkPublished(ctx context.Context, device string, generation int64) error {
	return s.MarkAllPublished(ctx, map[string]int64{device: generation})
}

// MarkAllPublished is MarkPublished for many devices (device → generation),
// in one transaction: one commit (one fsync on SQLite) for a whole push.
func (s *Store) MarkAllPublished(ctx context.Context, gens map[string]int64) error {
	if len(gens) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE desired SET published = ? WHERE device = ? AND published < ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for dev, gen := range gens {
			if _, err := st.ExecContext(ctx, gen, dev, gen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark desired states published: %w", err)
	}
	return nil
}
