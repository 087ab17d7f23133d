package store

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// engine is the SQL engine behind a Store. The schema and every query are
// shared; what differs between SQLite and MySQL/MariaDB is confined to the
// few places that ask the engine:
//
//   - upserts: SQLite's ON CONFLICT(key) DO UPDATE against MySQL's ON
//     DUPLICATE KEY UPDATE (upsert);
//   - insertion order: SQLite's implicit rowid against an AUTO_INCREMENT
//     seq column (order);
//   - locking reads: SQLite serializes writers (BEGIN IMMEDIATE, one
//     writer at a time), so a read in a transaction sees what the
//     transaction will overwrite; InnoDB at REPEATABLE READ does not
//     unless the read says FOR UPDATE (forUpdate);
//   - the DDL itself (schema.go), with MySQL's binary collation so that
//     ids compare and sort byte by byte as in SQLite.
type engine int

const (
	engineSQLite engine = iota
	engineMySQL
)

func (e engine) String() string {
	if e == engineMySQL {
		return "mysql"
	}
	return "sqlite"
}

// upsert returns an INSERT of cols into table that, when a row with the
// same key exists, sets the update columns to the inserted values instead.
func (e engine) upsert(table string, key, cols, update []string) string {
	q := "INSERT INTO " + table + "(" + strings.Join(cols, ", ") + ") VALUES(" + placeholders(len(cols)) + ")"
	sets := make([]string, len(update))
	for i, c := range update {
		if e == engineMySQL {
			sets[i] = c + " = VALUES(" + c + ")"
		} else {
			sets[i] = c + " = excluded." + c
		}
	}
	if e == engineMySQL {
		return q + " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	}
	return q + " ON CONFLICT(" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

// insertIgnore returns an INSERT of cols into table that does nothing
// when a row with the same key exists (MySQL's INSERT IGNORE would also
// swallow other errors: truncation, bad values).
func (e engine) insertIgnore(table string, key, cols []string) string {
	q := "INSERT INTO " + table + "(" + strings.Join(cols, ", ") + ") VALUES(" + placeholders(len(cols)) + ")"
	if e == engineMySQL {
		return q + " ON DUPLICATE KEY UPDATE " + key[0] + " = " + key[0]
	}
	return q + " ON CONFLICT(" + strings.Join(key, ", ") + ") DO NOTHING"
}

// order is the column that orders rows of tables with a TEXT key by
// insertion, as a tie-breaker after their creation time.
func (e engine) order() string {
	if e == engineMySQL {
		return "seq"
	}
	return "rowid"
}

// forUpdate is the suffix of a read in a transaction whose rows the
// transaction goes on to write.
func (e engine) forUpdate() string {
	if e == engineMySQL {
		return " FOR UPDATE"
	}
	return ""
}

// retryable reports whether err is a transaction that lost a race with
// another one and may simply be run again: an InnoDB deadlock (1213) or
// lock wait timeout (1205). SQLite has one writer at a time (BEGIN
// IMMEDIATE with a busy timeout): its transactions never lose races.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// maxTxAttempts bounds the runs of a transaction that keeps losing races.
// InnoDB finds a deadlock at once, so a run that lost costs little; 30
// transactions creating one new device's row at once (gap locks) all
// finished within 10 (TestConcurrentDesiredChanges).
const maxTxAttempts = 10

// inTx runs fn in a transaction and commits it, running it again (up to
// maxTxAttempts times) when it lost a race with another writer: with
// several controllers on one MySQL database, two that change one device
// at once deadlock, and InnoDB rolls one back. fn must not have effects
// outside the transaction that a second run would repeat.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = s.runTx(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(rand.N(time.Duration(attempt) * 10 * time.Millisecond)):
		}
	}
}

func (s *Store) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Engine names the SQL engine: "sqlite" or "mysql".
func (s *Store) Engine() string { return s.engine.String() }
