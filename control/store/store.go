package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/internal/dbbind"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
)

const busyTimeout = 5 * time.Second

// Store is the controller's state. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	engine  engine
	blobDir string
	quota   quota

	pubMu     sync.Mutex
	publishes func() bool // SetPublisher
}

// Options tune a Store; the zero value keeps everything in the folder
// given to Open, with no quota.
type Options struct {
	// BlobQuota bounds the bytes of blobs on disk (raw and gzip forms),
	// uploads in progress included; 0: no limit.
	BlobQuota int64
	// DB is the database: "" for the SQLite file control.db in the folder,
	// or mysql://user:pass@host:port/db for MySQL/MariaDB, which several
	// controllers may share.
	DB string
	// BlobDir is the folder of module blobs; "" for blobs/ in the folder.
	// Controllers sharing a database share it too (a network file system):
	// blobs are content-addressed files, written once and renamed in place.
	BlobDir string
}

// sharedTempAge is how long a temp file in a shared blob folder must have
// been left alone before a controller starting removes it: another
// controller may be writing it (an upload writes as it receives, and is
// cut off after api.DefaultUploadIdle without a byte).
const sharedTempAge = time.Hour

// Open opens (creating if needed) the state in dir.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	blobDir := opts.BlobDir
	if blobDir == "" {
		blobDir = filepath.Join(dir, "blobs")
	}
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{blobDir: blobDir, quota: quota{limit: opts.BlobQuota}}
	var err error
	if opts.DB == "" {
		s.db, err = openSQLite(dir)
	} else {
		s.db, err = openMySQL(ctx, opts.DB)
		s.engine = engineMySQL
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Blob files are written crash-safely; a crash mid-write leaves a temp
	// file, removed here (in a shared folder only once surely abandoned).
	if err := s.cleanTemps(); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.describe(dir), err)
	}
	if err := s.quota.load(ctx, s); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.describe(dir), err)
	}
	return s, nil
}

func (s *Store) describe(dir string) string {
	if s.engine == engineMySQL {
		return "(mysql)"
	}
	return dir
}

func openSQLite(dir string) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(dir, "control.db") + "?" + q.Encode()
	return sql.Open("sqlite", dsn)
}

// openMySQL opens a MySQL/MariaDB database (internal/dbbind's URL form and
// connection bounds) and checks that it answers.
func openMySQL(ctx context.Context, dsn string) (*sql.DB, error) {
	b, err := dbbind.Parse(dsn)
	if err != nil {
		return nil, err
	}
	if b.Dialect != dbbind.MySQL {
		return nil, fmt.Errorf("%w: --db wants mysql://user:pass@host:port/db (SQLite is the default, in the data folder)", dbbind.ErrDSN)
	}
	db, err := b.Open(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s: %w", b, err)
	}
	return db, nil
}

// cleanTemps removes temp files crashed writes left in the blob folder:
// all of them in a folder of this controller's own, those untouched for
// sharedTempAge in one shared with other controllers.
func (s *Store) cleanTemps() error {
	if s.engine == engineSQLite {
		_, err := atomicfile.Clean(s.blobDir)
		return err
	}
	ents, err := os.ReadDir(s.blobDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !atomicfile.IsTemp(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > sharedTempAge {
			if err := os.Remove(filepath.Join(s.blobDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// BlobDir is the folder of module blobs.
func (s *Store) BlobDir() string { return s.blobDir }

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
