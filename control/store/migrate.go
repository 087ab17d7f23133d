package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The schema is versioned: schema_version holds the number of the last
// migration applied, and Open applies the ones after it, in order, each
// recording its number. Controllers that start at once against one
// database (replicas on MySQL) take turns: on MySQL the migrations run
// under a named lock (GET_LOCK), because MySQL commits DDL at once and a
// transaction would not keep a second controller out; on SQLite they run
// in one BEGIN IMMEDIATE transaction, which holds the only write lock and
// rolls back whole if the controller dies. A migration on MySQL is written
// so that running it again after a crash half-way finishes it (IF NOT
// EXISTS, columns added only where missing).
//
// A database whose schema_version is newer than this controller knows (a
// newer controller migrated it) is refused rather than written to with an
// older idea of its tables.

// migration is one step of the schema.
type migration struct {
	version int
	what    string
	apply   func(ctx context.Context, m *migrator) error
}

// migrations are the schema's history; append only.
var migrations = []migration{
	{1, "base schema: blobs, deployments, desired state, devices, credentials, history, events, rollouts", migrateBase},
	{2, "leader lease and the generation published of each desired state", migrateLease},
	{3, "agent time of each device's stored status", migrateStatusTime},
	{4, "revision of each rollout document", migrateRolloutRev},
	{5, "removed devices (remove.go)", migrateRemoved},
	{6, "operator tokens (tokens.go)", migrateTokens},
	{7, "dashboard sessions (sessions.go)", migrateSessions},
	{8, "registry of the controllers sharing the database (controllers.go)", migrateControllers},
}

// SchemaVersion is the schema this controller writes.
var SchemaVersion = migrations[len(migrations)-1].version

// ErrSchemaNewer: the database was migrated by a newer controller.
var ErrSchemaNewer = errors.New("database schema is newer than this controller")

// execer is a transaction (SQLite) or a connection (MySQL).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// migrator applies migrations on one engine.
type migrator struct {
	engine engine
	x      execer
}

func (m *migrator) exec(ctx context.Context, stmts ...string) error {
	for _, q := range stmts {
		if _, err := m.x.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

func firstLine(q string) string {
	for i, c := range q {
		if c == '\n' || i == 80 {
			return q[:i]
		}
	}
	return q
}

// hasColumn reports whether table has column.
func (m *migrator) hasColumn(ctx context.Context, table, column string) (bool, error) {
	var q string
	if m.engine == engineMySQL {
		q = `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`
	} else {
		q = `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`
	}
	var n int
	if err := m.x.QueryRowContext(ctx, q, table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("columns of %s: %w", table, err)
	}
	return n > 0, nil
}

// addColumn adds column to table unless it has it.
func (m *migrator) addColumn(ctx context.Context, table, column, decl string) error {
	ok, err := m.hasColumn(ctx, table, column)
	if err != nil || ok {
		return err
	}
	return m.exec(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl)
}

// migrate brings the schema to SchemaVersion.
func (s *Store) migrate(ctx context.Context) error {
	if s.engine == engineMySQL {
		return s.migrateMySQL(ctx)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return runMigrations(ctx, &migrator{engine: engineSQLite, x: tx})
	})
}

// migrateLockWait bounds how long a controller waits for another one's
// migrations.
const migrateLockWait = 5 * time.Minute

func (s *Store) migrateMySQL(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK('edge_control_migrate', ?)`, int(migrateLockWait.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("migrate: another controller held the migration lock for %s", migrateLockWait)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK('edge_control_migrate')`)
	return runMigrations(ctx, &migrator{engine: engineMySQL, x: conn})
}

func runMigrations(ctx context.Context, m *migrator) error {
	opts := ""
	if m.engine == engineMySQL {
		opts = mysqlTable
	}
	if err := m.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	id      INTEGER PRIMARY KEY,
	version INTEGER NOT NULL
)`+opts); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var cur int
	err := m.x.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := m.x.ExecContext(ctx, `INSERT INTO schema_version(id, version) VALUES(1, 0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("migrate: %w", err)
	}
	if cur > SchemaVersion {
		return fmt.Errorf("%w: version %d, this controller knows up to %d: run the newer controller", ErrSchemaNewer, cur, SchemaVersion)
	}
	for _, mg := range migrations {
		if mg.version <= cur {
			continue
		}
		if err := mg.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %d (%s): %w", mg.version, mg.what, err)
		}
		if _, err := m.x.ExecContext(ctx, `UPDATE schema_version SET version = ? WHERE id = 1`, mg.version); err != nil {
			return fmt.Errorf("migration %d: %w", mg.version, err)
		}
	}
	return nil
}

// migrateBase creates the schema as it was before versions: on SQLite
// over a state folder of any earlier controller (tables created if
// missing, columns added since a release added), on MySQL from nothing.
func migrateBase(ctx context.Context, m *migrator) error {
	if m.engine == engineMySQL {
		return m.exec(ctx, mysqlBase()...)
	}
	for _, sch := range []string{schema, historySchema, eventSchema} {
		if err := m.exec(ctx, sch); err != nil {
			return err
		}
	}
	// Columns added after a release: CREATE TABLE IF NOT EXISTS leaves a
	// table made by an older controller as it was.
	for _, c := range []struct{ table, column, decl string }{
		{"deployments", "deadline", "INTEGER NOT NULL DEFAULT 0"},
		// JSON wire.DesiredModule replaced, '' if none; NULL for rows of an
		// older controller, which did not keep it (unknown).
		{"deployment_devices", "previous", "TEXT"},
		{"deployments", "rollout", "TEXT NOT NULL DEFAULT ''"},
		{"deployments", "epoch", "INTEGER NOT NULL DEFAULT 0"},
	} {
		if err := m.addColumn(ctx, c.table, c.column, c.decl); err != nil {
			return err
		}
	}
	return m.exec(ctx, opsSchema)
}

// migrateLease adds the leader lease (lease.go) and, per desired state,
// the generation the leader last published.
func migrateLease(ctx context.Context, m *migrator) error {
	opts := ""
	if m.engine == engineMySQL {
		opts = mysqlTable
	}
	if err := m.exec(ctx, `CREATE TABLE IF NOT EXISTS leases (
	name    VARCHAR(64) NOT NULL PRIMARY KEY,
	holder  VARCHAR(255) NOT NULL,
	token   BIGINT NOT NULL,   -- fencing token: rises with every new holder
	expires BIGINT NOT NULL    -- unix milliseconds, the database's clock
)`+opts); err != nil {
		return err
	}
	if err := m.addColumn(ctx, "desired", "published", "BIGINT NOT NULL DEFAULT 0"); err != nil {
		return err
	}
	// Desired states stored before this column were published by the
	// controller that stored them (it published as it stored).
	return m.exec(ctx, `UPDATE desired SET published = generation WHERE published = 0`)
}

// migrateStatusTime adds the agent's time of each stored status, so that
// of two statuses of one device handled out of order (by two replicas)
// the older never overwrites the newer.
func migrateStatusTime(ctx context.Context, m *migrator) error {
	return m.addColumn(ctx, "devices", "reported", "BIGINT NOT NULL DEFAULT 0")
}

// migrateRolloutRev adds a revision to each rollout document: a save
// applies only over the revision it was read at, so that an operator's
// action on one controller and the leader's step on another never
// silently undo each other (SaveRollout, ErrStale).
func migrateRolloutRev(ctx context.Context, m *migrator) error {
	return m.addColumn(ctx, "rollouts", "rev", "BIGINT NOT NULL DEFAULT 0")
}

// migrateRemoved adds removed_devices (remove.go).
func migrateRemoved(ctx context.Context, m *migrator) error {
	if m.engine == engineMySQL {
		return m.exec(ctx, `CREATE TABLE IF NOT EXISTS removed_devices (
	id         VARCHAR(64) NOT NULL PRIMARY KEY,
	removed    BIGINT NOT NULL,
	generation BIGINT NOT NULL DEFAULT 0
)`+mysqlTable)
	}
	return m.exec(ctx, removedSchema)
}

// migrateTokens adds tokens (tokens.go).
func migrateTokens(ctx context.Context, m *migrator) error {
	if m.engine == engineMySQL {
		return m.exec(ctx, `CREATE TABLE IF NOT EXISTS tokens (
	id      VARCHAR(64) NOT NULL PRIMARY KEY,
	name    VARCHAR(255) NOT NULL,
	role    VARCHAR(16) NOT NULL,
	hash    VARBINARY(64) NOT NULL,
	created BIGINT NOT NULL,
	revoked BIGINT NOT NULL DEFAULT 0
)`+mysqlTable)
	}
	return m.exec(ctx, tokenSchema)
}
