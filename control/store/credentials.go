package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetCredential stores (or replaces) the password hash of device id.
func (s *Store) SetCredential(ctx context.Context, id string, hash []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.engine.upsert("credentials", []string{"id"},
		[]string{"id", "hash", "created"}, []string{"hash", "created"}), id, hash, nanos(now))
	if err != nil {
		return fmt.Errorf("set credential of %s: %w", id, err)
	}
	return nil
}

// CredentialHash returns the password hash of device id, or ErrNotFound.
func (s *Store) CredentialHash(ctx context.Context, id string) ([]byte, error) {
	var hash []byte
	err := s.db.QueryRowContext(ctx, `SELECT hash FROM credentials WHERE id = ?`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("credential of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("credential of %s: %w", id, err)
	}
	return hash, nil
}
