package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Dashboard sessions (control/api/session.go): SHA-256 of the cookie's
// value, the token the session was opened with, and its end. In the
// database, not in a controller's memory, so that replicas behind one
// address share them.

// MaxSessions bounds the sessions kept; opening one more ends the one
// that ends first.
const MaxSessions = 1024

const sessionSchema = `
CREATE TABLE IF NOT EXISTS sessions (
	hash    BLOB PRIMARY KEY,
	token   TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);
`

// migrateSessions adds the sessions table.
func migrateSessions(ctx context.Context, m *migrator) error {
	if m.engine == engineMySQL {
		return m.exec(ctx, `CREATE TABLE IF NOT EXISTS sessions (
	hash    VARBINARY(32) NOT NULL PRIMARY KEY,
	token   VARCHAR(16) NOT NULL,
	expires BIGINT NOT NULL,
	INDEX sessions_expires (expires)
)`+mysqlTable)
	}
	return m.exec(ctx, sessionSchema)
}

// OpenSession stores a session, removing the expired ones and, beyond
// MaxSessions, the one that ends first.
func (s *Store) OpenSession(ctx context.Context, hash []byte, tokenID string, now, expires time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= ?`, nanos(now)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			return err
		}
		for ; n >= MaxSessions; n-- {
			var first []byte
			if err := tx.QueryRowContext(ctx, `SELECT hash FROM sessions ORDER BY expires LIMIT 1`).Scan(&first); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, first); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions(hash, token, expires) VALUES(?,?,?)`, hash, tokenID, nanos(expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	return nil
}

// Session returns the token and end of a session, or ErrNotFound (also
// for one that has ended, which it removes).
func (s *Store) Session(ctx context.Context, hash []byte, now time.Time) (tokenID string, expires time.Time, err error) {
	var exp int64
	err = s.db.QueryRowContext(ctx, `SELECT token, expires FROM sessions WHERE hash = ?`, hash).Scan(&tokenID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("session: %w", err)
	}
	if exp <= nanos(now) {
		s.EndSession(ctx, hash)
		return "", time.Time{}, fmt.Errorf("session ended: %w", ErrNotFound)
	}
	return tokenID, fromNanos(exp), nil
}

// EndSession removes a session (sign-out); an unknown one is no error.
func (s *Store) EndSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
