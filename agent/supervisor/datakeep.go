package supervisor

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/plural"
)

// SafetyCopyName is the file, in a module's data folder
// (DATA/modules/NAME), that holds the copy of its SQLite database taken
// at the last switch between two versions. Only the last one is kept.
const SafetyCopyName = "safety-copy.db"

// dataTimeout bounds what the supervisor does with a module's database at
// a switch and a rollback (a safety copy of a large SQLite file is bounded
// by the disk instead: it is a plain read of the file).
const dataTimeout = 5 * time.Second

// switchData is what the supervisor noted about a module's database when
// it switched to a new version: the report of a rollback compares with it.
type switchData struct {
	db        dbbind.Binding
	copy      string // path of the safety copy; "" if none
	copyErr   error
	schema    string // schema fingerprint; "" when unknown
	schemaErr error
	kv        *kvSwitch // the key-value store; nil if the module has none
}

// atSwitch notes the schema of the database of dsn and, for SQLite, writes
// the safety copy, right before the new version takes its first request.
// It returns nil for a module without a database. Only a cancelled ctx is
// an error: anything else is noted and reported, and the switch goes on
// (the copy is a convenience for the operator; nothing is ever restored
// from it automatically).
func (s *Supervisor) atSwitch(ctx context.Context, module, dsn string) (*switchData, error) {
	if dsn == "" {
		return nil, nil
	}
	b, err := dbbind.Parse(dsn)
	if err != nil {
		return nil, nil // the worker refused it already
	}
	d := &switchData{db: b}
	d.schema, d.schemaErr = schemaFingerprint(ctx, b)
	if b.Dialect == dbbind.SQLite {
		d.copy = s.safetyCopyPath(module, b.Path)
		d.copyErr = safetyCopy(ctx, b, d.copy)
		if d.copyErr != nil {
			d.copy = ""
		}
	}
	return d, ctx.Err()
}

// safetyCopyPath is where the safety copy of a module's SQLite database
// goes: its data folder, or beside the file without one.
func (s *Supervisor) safetyCopyPath(module, db string) string {
	if s.cfg.DataDir == "" {
		return db + "." + SafetyCopyName
	}
	return filepath.Join(s.cfg.DataDir, "modules", module, SafetyCopyName)
}

// safetyCopy writes a transactionally consistent copy of the SQLite
// database b to dst, crash-safely: VACUUM INTO a temp file in dst's folder
// (a read transaction: writers go on in WAL mode), fsync it (SQLite does
// not), rename it over dst, fsync the folder. A crash leaves the previous
// copy or the new one under dst, and a temp file the next copy removes.
// A database that does not exist yet is not copied.
func safetyCopy(ctx context.Context, b dbbind.Binding, dst string) error {
	if _, err := os.Stat(b.Path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("safety copy: %s does not exist yet", b.Path)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("safety copy: %w", err)
	}
	if _, err := atomicfile.CleanFor(dst); err != nil { // a copy a crash left half-written
		return fmt.Errorf("safety copy: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safety copy: %w", err)
	}
	tmp := f.Name()
	f.Close() // VACUUM INTO writes into an empty file
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	db, err := b.Open(ctx)
	if err != nil {
		return fmt.Errorf("safety copy: %w", err)
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmp)
	db.Close()
	if err != nil {
		return fmt.Errorf("safety copy of %s: %w", b.Path, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("safety copy: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("safety copy: %w", err)
	}
	done = true
	return atomicfile.SyncDir(dir)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// schemaFingerprint hashes the schema of the database b: for SQLite,
// sqlite_schema and PRAGMA schema_version (which also moves when a table
// is dropped and created again the same); for MySQL/MariaDB, the tables
// with their creation times, columns and indexes of the bound database.
func schemaFingerprint(ctx context.Context, b dbbind.Binding) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dataTimeout)
	defer cancel()
	if b.Dialect == dbbind.SQLite {
		if _, err := os.Stat(b.Path); errors.Is(err, os.ErrNotExist) {
			return "empty", nil // no file yet: no schema
		}
	}
	db, err := b.Open(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var queries []string
	switch b.Dialect {
	case dbbind.SQLite:
		queries = []string{
			"PRAGMA schema_version",
			"SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
		}
	case dbbind.MySQL:
		queries = []string{
			"SELECT table_name, table_type, create_time FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name",
			"SELECT table_name, column_name, column_type, is_nullable, column_default, extra FROM information_schema.columns " +
				"WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
			"SELECT table_name, index_name, seq_in_index, column_name, non_unique FROM information_schema.statistics " +
				"WHERE table_schema = DATABASE() ORDER BY table_name, index_name, seq_in_index",
		}
	default:
		return "", fmt.Errorf("schema of a %s database: not supported", b.Dialect)
	}
	h := sha256.New()
	for _, q := range queries {
		if err := hashRows(ctx, db, q, h); err != nil {
			return "", fmt.Errorf("read schema: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashRows writes every value of query's rows to h, separated so that
// different rows never hash alike.
func hashRows(ctx context.Context, db *sql.DB, query string, h io.Writer) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for _, v := range vals {
			fmt.Fprintf(h, "%t:%d:%s\x1f", v.Valid, len(v.String), v.String)
		}
		h.Write([]byte{'\x1e'})
	}
	h.Write([]byte{'\x1d'})
	return rows.Err()
}

// report says what happened to the data when version was rolled back:
// kept, what version committed, whether the schema changed since the
// switch, and where the safety copy is.
func (d *switchData) report(ctx context.Context, version string, t writeTally) string {
	if d == nil {
		return ""
	}
	var b strings.Builder
	if d.db.Dialect != "" {
		d.reportDB(ctx, &b, version, t)
	}
	if d.kv != nil {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.kv.report(ctx))
	}
	return b.String()
}

// reportDB is the database's part of report.
func (d *switchData) reportDB(ctx context.Context, b *strings.Builder, version string, t writeTally) {
	b.WriteString("data kept as it is, not restored (a rollback never undoes a confirmed write): ")
	least := ""
	if t.inexact {
		least = "at least "
	}
	fmt.Fprintf(b, "%s committed %s%s (%s)", version, least, plural.Count(t.writes, "write"), plural.Count(t.rows, "row"))
	after, err := schemaFingerprint(context.WithoutCancel(ctx), d.db)
	switch {
	case d.schemaErr != nil:
		fmt.Fprintf(b, "; schema change unknown (at the switch: %v)", d.schemaErr)
	case err != nil:
		fmt.Fprintf(b, "; schema change unknown (%v)", err)
	case after != d.schema:
		b.WriteString(" and CHANGED THE SCHEMA since the switch")
		if d.db.Dialect == dbbind.MySQL {
			b.WriteString(" (of a database other clients may share)")
		}
	default:
		b.WriteString(" and left the schema as it was")
	}
	switch {
	case d.copy != "":
		fmt.Fprintf(b, "; safety copy of the database at the switch: %s", d.copy)
	case d.copyErr != nil:
		fmt.Fprintf(b, "; no safety copy: %v", d.copyErr)
	}
}
