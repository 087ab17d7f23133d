package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Operator tokens of the HTTP API (package auth describes their form). The
// table keeps each token's SHA-256, never the token; a revoked token stays
// listed with the time of its revocation.
const tokenSchema = `
CREATE TABLE IF NOT EXISTS tokens (
	id      TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	role    TEXT NOT NULL,
	hash    BLOB NOT NULL,
	created INTEGER NOT NULL,
	revoked INTEGER NOT NULL DEFAULT 0  -- unix nanoseconds; 0: active
);
`

// Token is a stored operator token (its hash, never the token).
type Token struct {
	ID, Name, Role string
	Hash           []byte
	Created        time.Time
	Revoked        time.Time // zero while active
}

// CreateToken stores a new token.
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens(id, name, role, hash, created) VALUES(?,?,?,?,?)`,
		t.ID, t.Name, t.Role, t.Hash, nanos(t.Created))
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// Tokens lists every token, active and revoked, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, hash, created, revoked FROM tokens ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var ts []Token
	for rows.Next() {
		var t Token
		var created, revoked int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Created, t.Revoked = fromNanos(created), fromNanos(revoked)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken marks token id revoked at now. It fails with ErrNotFound for
// an unknown id, ErrConflict for one already revoked, and ErrLastAdmin when
// id is the last active admin token (which would lock every operator out).
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (Token, error) {
	var t Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The admin rows are read FOR UPDATE (MySQL): two controllers
		// revoking the last two admin tokens at once cannot both see
		// the other one still active.
		rows, err := tx.QueryContext(ctx, `SELECT id, name, role, created, revoked FROM tokens WHERE id = ? OR role = 'admin'`+s.engine.forUpdate(), id)
		if err != nil {
			return err
		}
		defer rows.Close()
		found, otherAdmins := false, 0
		var revoked int64
		for rows.Next() {
			var r Token
			var created, rev int64
			if err := rows.Scan(&r.ID, &r.Name, &r.Role, &created, &rev); err != nil {
				return err
			}
			switch {
			case r.ID == id:
				found, t, revoked = true, r, rev
				t.Created = fromNanos(created)
			case rev == 0:
				otherAdmins++
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		switch {
		case !found:
			return fmt.Errorf("token %s: %w", id, ErrNotFound)
		case revoked != 0:
			return fmt.Errorf("token %s was revoked at %s: %w", id, fromNanos(revoked).Format(time.RFC3339), ErrConflict)
		case t.Role == "admin" && otherAdmins == 0:
			return fmt.Errorf("token %s: %w", id, ErrLastAdmin)
		}
		_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE id = ?`, nanos(now), id)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return Token{}, err
		}
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	t.Revoked = now
	return t, nil
}

// ErrLastAdmin is returned when revoking the last active admin token; the
// API maps it to 409.
var ErrLastAdmin = fmt.Errorf("the last active admin token cannot be revoked (create another admin token first): %w", ErrConflict)

// TokenByID returns token id, revoked or not, or ErrNotFound.
func (s *Store) TokenByID(ctx context.Context, id string) (Token, error) {
	var t Token
	var created, revoked int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, role, hash, created, revoked FROM tokens WHERE id = ?`, id).
		Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("token %s: %w", id, err)
	}
	t.Created, t.Revoked = fromNanos(created), fromNanos(revoked)
	return t, nil
}

// ActiveAdminTokens counts the admin tokens not revoked.
func (s *Store) ActiveAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count admin tokens: %w", err)
	}
	return n, nil
}
