// Package kvstore is the key-value state of one module: a SQLite file
// (internal/dbbind's settings: WAL, synchronous=FULL, a busy timeout,
// immediate write transactions) with versioned values, compare-and-set and
// quotas of keys and bytes.
//
// # Who opens the file
//
// The worker process of the module opens DATA/modules/NAME/kv.db itself,
// as it opens the module's SQLite database binding: no hop through the
// supervisor, and no guest-driven work in it. During a blue/green switch
// two workers (the old and the new version) have the file open at once;
// SQLite's file locks make that safe, and every write is one immediate
// transaction that reads what it checks (the key's version, the usage
// counters) under the write lock, so compare-and-set and the quota hold
// across processes, not only across the goroutines of one.
//
// # Versions
//
// Each write gives its key the store's next version, a counter kept in
// the file that only grows: versions are unique across the store, so a
// key deleted and written again never gets an old version back (a
// compare-and-set from a version read before the delete fails).
//
// # Quotas
//
// Usage is kept in the file beside the counter (keys, and bytes of keys
// plus values) and updated in the same transaction as each write; a write
// that would take the store over a quota is refused and writes nothing.
// A write that does not grow the usage (overwriting with a shorter value,
// deleting) is always allowed, so a store over a lowered quota can shrink.
//
// It lives in the top-level internal/ because two programs use it: the
// agent's workers and native builds of modules (modules/sdk).
package kvstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/edgeplane/edge/internal/dbbind"
)

// Limits of one store. Zero fields take the defaults.
type Limits struct {
	MaxKeys  int64 // keys; default DefaultMaxKeys
	MaxBytes int64 // bytes of keys and values together; default DefaultMaxBytes
	MaxValue int   // bytes of one value; default DefaultMaxValue
}

// Defaults and bounds.
const (
	DefaultMaxKeys  = 10_000
	DefaultMaxBytes = 16 << 20
	DefaultMaxValue = 1 << 20
	MaxKey          = 512 // bytes of one key
	DefaultList     = 100 // entries of a List when the caller asks for none
	MaxList         = 1000
)

func (l Limits) withDefaults() Limits {
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultMaxKeys
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxValue <= 0 {
		l.MaxValue = DefaultMaxValue
	}
	return l
}

// Errors, for errors.Is.
var (
	ErrConflict = errors.New("version conflict")
	ErrQuota    = errors.New("over the module's key-value quota")
	ErrKey      = errors.New("bad key")
	ErrValue    = errors.New("value too large")
)

// Entry is one key with its value and version.
type Entry struct {
	Key     string
	Version uint64
	Value   []byte
}

// Store is one module's key-value state.
type Store struct {
	db     *sql.DB
	limits Limits
	path   string
}

const schema = `
CREATE TABLE IF NOT EXISTS kv (
	key     BLOB PRIMARY KEY,
	value   BLOB NOT NULL,
	version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_usage (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	keys         INTEGER NOT NULL,
	bytes        INTEGER NOT NULL,
	next_version INTEGER NOT NULL
);
INSERT OR IGNORE INTO kv_usage (id, keys, bytes, next_version) VALUES (1, 0, 0, 1);
`

// Open opens (creating it if needed) the store in the SQLite file path.
func Open(ctx context.Context, path string, limits Limits) (*Store, error) {
	db, err := dbbind.Open(ctx, "sqlite:"+path)
	if err != nil {
		return nil, fmt.Errorf("key-value store: %w", err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("key-value store %s: create schema: %w", path, err)
	}
	return &Store{db: db, limits: limits.withDefaults(), path: path}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Limits are the store's limits, defaults applied.
func (s *Store) Limits() Limits { return s.limits }

func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrKey)
	}
	if len(key) > MaxKey {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrKey, len(key), MaxKey)
	}
	return nil
}

// Get returns key's entry and whether it exists.
func (s *Store) Get(ctx context.Context, key string) (Entry, bool, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, false, err
	}
	e := Entry{Key: key}
	err := s.db.QueryRowContext(ctx, `SELECT value, version FROM kv WHERE key = ?`, []byte(key)).Scan(&e.Value, &e.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("get: %w", err)
	}
	if e.Value == nil {
		e.Value = []byte{}
	}
	return e, true, nil
}

// Set stores value under key whatever its version and returns the new one.
func (s *Store) Set(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.put(ctx, key, value, false, 0)
}

// CompareAndSet stores value under key only if the key's version is
// version now (0: only if it does not exist); else ErrConflict.
func (s *Store) CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	return s.put(ctx, key, value, true, version)
}

// usage is the kv_usage row.
type usage struct{ keys, bytes, next int64 }

// write runs f in one immediate transaction with the usage row read, and
// stores the usage f returns.
func (s *Store) write(ctx context.Context, f func(tx *sql.Tx, u *usage) error) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock first
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var u usage
	if err := tx.QueryRowContext(ctx, `SELECT keys, bytes, next_version FROM kv_usage WHERE id = 1`).Scan(&u.keys, &u.bytes, &u.next); err != nil {
		return err
	}
	if err := f(tx, &u); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE kv_usage SET keys = ?, bytes = ?, next_version = ? WHERE id = 1`, u.keys, u.bytes, u.next); err != nil {
		return err
	}
	return tx.Commit()
}

// current reads key's version and size in tx (found false if absent).
func current(ctx context.Context, tx *sql.Tx, key string) (version uint64, size int64, found bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT version, length(value) FROM kv WHERE key = ?`, []byte(key)).Scan(&version, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	return version, size, err == nil, err
}

func (s *Store) put(ctx context.Context, key string, value []byte, cas bool, want uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if len(value) > s.limits.MaxValue {
		return 0, fmt.Errorf("%w: %d bytes, over the limit of %d per value", ErrValue, len(value), s.limits.MaxValue)
	}
	if value == nil {
		value = []byte{}
	}
	var got uint64
	err := s.write(ctx, func(tx *sql.Tx, u *usage) error {
		old, oldSize, found, err := current(ctx, tx, key)
		if err != nil {
			return err
		}
		if cas && old != want {
			return conflict(key, want, old, found)
		}
		keys, bytes := u.keys, u.bytes+int64(len(value))-oldSize
		if !found {
			keys++
			bytes += int64(len(key))
		}
		if err := s.checkQuota(keys, bytes, u); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv (key, value, version) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version`,
			[]byte(key), value, u.next); err != nil {
			return err
		}
		got = uint64(u.next)
		u.keys, u.bytes, u.next = keys, bytes, u.next+1
		return nil
	})
	if err != nil {
		return 0, wrap("set", err)
	}
	return got, nil
}

// checkQuota refuses usage over a quota, unless it does not grow.
func (s *Store) checkQuota(keys, bytes int64, u *usage) error {
	if keys > s.limits.MaxKeys && keys > u.keys {
		return fmt.Errorf("%w: %d keys, the quota is %d", ErrQuota, keys, s.limits.MaxKeys)
	}
	if bytes > s.limits.MaxBytes && bytes > u.bytes {
		return fmt.Errorf("%w: %d bytes of keys and values, the quota is %d", ErrQuota, bytes, s.limits.MaxBytes)
	}
	return nil
}

func conflict(key string, want, have uint64, found bool) error {
	if !found {
		return fmt.Errorf("%w: key %q does not exist, want version %d", ErrConflict, key, want)
	}
	if want == 0 {
		return fmt.Errorf("%w: key %q exists (version %d), want none", ErrConflict, key, have)
	}
	return fmt.Errorf("%w: key %q has version %d, want %d", ErrConflict, key, have, want)
}

// wrap names the operation of a store error; errors of the package's own
// kinds are returned as they are.
func wrap(op string, err error) error {
	for _, e := range []error{ErrConflict, ErrQuota, ErrKey, ErrValue} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Delete removes key and reports whether it existed. With version ≠ 0 it
// removes the key only if it has that version (else ErrConflict).
func (s *Store) Delete(ctx context.Context, key string, version uint64) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	var existed bool
	err := s.write(ctx, func(tx *sql.Tx, u *usage) error {
		old, size, found, err := current(ctx, tx, key)
		if err != nil {
			return err
		}
		if version != 0 && old != version {
			return conflict(key, version, old, found)
		}
		if !found {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM kv WHERE key = ?`, []byte(key)); err != nil {
			return err
		}
		existed = true
		u.keys--
		u.bytes -= int64(len(key)) + size
		return nil
	})
	if err != nil {
		return false, wrap("delete", err)
	}
	return existed, nil
}

// List returns the entries whose key starts with prefix, in byte order,
// after the key after (exclusive), at most limit of them (0: DefaultList;
// at most MaxList) and at most maxBytes of keys and values (0: no bound;
// at least one entry is returned when there is one). more says that keys
// are left.
func (s *Store) List(ctx context.Context, prefix, after string, limit, maxBytes int) (entries []Entry, more bool, err error) {
	if limit <= 0 {
		limit = DefaultList
	}
	limit = min(limit, MaxList)
	lo := []byte(prefix)
	if after >= prefix {
		lo = append([]byte(after), 0) // the first key after after
	}
	q, args := `SELECT key, value, version FROM kv WHERE key >= ?`, []any{lo}
	if hi, ok := successor(prefix); ok {
		q += ` AND key < ?`
		args = append(args, hi)
	}
	q += ` ORDER BY key LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list: %w", err)
	}
	defer rows.Close()
	size := 0
	for rows.Next() {
		var k []byte
		e := Entry{}
		if err := rows.Scan(&k, &e.Value, &e.Version); err != nil {
			return nil, false, fmt.Errorf("list: %w", err)
		}
		e.Key = string(k)
		size += len(k) + len(e.Value) + 16
		if len(entries) == limit || (maxBytes > 0 && size > maxBytes && len(entries) > 0) {
			return entries, true, nil
		}
		if e.Value == nil {
			e.Value = []byte{}
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list: %w", err)
	}
	return entries, false, nil
}

// successor is the smallest byte string greater than every string with
// prefix p; ok is false when there is none (p empty or all 0xff).
func successor(p string) ([]byte, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1], true
		}
	}
	return nil, false
}

// Usage returns the keys and bytes (of keys and values) the store holds.
func (s *Store) Usage(ctx context.Context) (keys, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT keys, bytes FROM kv_usage WHERE id = 1`).Scan(&keys, &bytes)
	return keys, bytes, err
}
