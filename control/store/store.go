package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
)

const busyTimeout = 5 * time.Second

// Store is the controller's state. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	blobDir string
	quota   quota
}

// Options tune a Store; the zero value has no quota.
type Options struct {
	// BlobQuota bounds the bytes of blobs on disk (raw and gzip forms),
	// uploads in progress included; 0: no limit.
	BlobQuota int64
}

// Open opens (creating if needed) the state in dir.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	blobDir := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Blob files are written crash-safely; a crash mid-write leaves a temp
	// file, removed here.
	if _, err := atomicfile.Clean(blobDir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(dir, "control.db") + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, blobDir: blobDir, quota: quota{limit: opts.BlobQuota}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.quota.load(ctx, s); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const schema = `
CREATE TABLE IF NOT EXISTS blobs (
	sha256  TEXT PRIMARY KEY,
	size    INTEGER NOT NULL,
	stored  INTEGER NOT NULL,
	chunks  TEXT NOT NULL,    -- JSON array of chunk hashes
	created INTEGER NOT NULL  -- unix nanoseconds
);
CREATE TABLE IF NOT EXISTS deployments (
	id       TEXT PRIMARY KEY,
	module   TEXT NOT NULL,
	version  TEXT NOT NULL,
	sha256   TEXT NOT NULL REFERENCES blobs(sha256),
	envelope TEXT NOT NULL,   -- JSON wire.Envelope
	created  INTEGER NOT NULL,
	deadline INTEGER NOT NULL DEFAULT 0 -- unix nanoseconds; 0: created before deadlines existed
);
CREATE INDEX IF NOT EXISTS deployments_created ON deployments(created);
CREATE TABLE IF NOT EXISTS deployment_devices (
	deployment TEXT NOT NULL REFERENCES deployments(id),
	device     TEXT NOT NULL,
	state      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	updated    INTEGER NOT NULL,
	PRIMARY KEY (deployment, device)
);
CREATE TABLE IF NOT EXISTS desired (
	device     TEXT PRIMARY KEY,
	generation INTEGER NOT NULL,
	state      TEXT NOT NULL      -- JSON wire.DesiredState
);
CREATE TABLE IF NOT EXISTS devices (
	id        TEXT PRIMARY KEY,
	online    INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0,
	status    TEXT,               -- JSON wire.Status
	metrics   TEXT                -- JSON wire.Metrics
);
CREATE TABLE IF NOT EXISTS credentials (
	id      TEXT PRIMARY KEY,
	hash    BLOB NOT NULL,
	created INTEGER NOT NULL
);
`

func (s *Store) migrate(ctx context.Context) error {
	for _, sch := range []string{schema, historySchema, eventSchema, removedSchema, tokenSchema} {
		if _, err := s.db.ExecContext(ctx, sch); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	// Columns added after a release: CREATE TABLE IF NOT EXISTS leaves a
	// table made by an older controller as it was.
	if err := s.addColumn(ctx, "deployments", "deadline", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		return err
	}
	return s.migrateOps(ctx)
}

// addColumn adds column to table unless it has it.
func (s *Store) addColumn(ctx context.Context, table, column, decl string) error {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("migrate %s: %w", table, err)
		}
		if name == column {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	rows.Close()
	if _, err := s.db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl); err != nil {
		return fmt.Errorf("migrate %s: add %s: %w", table, column, err)
	}
	return nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
