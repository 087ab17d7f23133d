//go:build !wasip1

package sdk

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/abi"
)

// testHost is an in-process stand-in for the agent's sql import: it
// decodes the same frames and runs them on a real SQLite database, so the
// driver is tested natively against a real engine.
type testHost struct {
	db    *sql.DB
	txs   map[uint32]*sql.Tx
	next  uint32
	down  bool // answer every request with CodeUnavailable
	calls int
}

func (h *testHost) call(req, buf []byte) ([]byte, error) {
	h.calls++
	r, err := abi.DecodeSQLRequest(req)
	if err != nil {
		return nil, callError("sql", abi.ErrMalformed)
	}
	res := h.run(&r)
	return abi.AppendSQLResult(buf[:0], r.Op, &res), nil
}

func (h *testHost) run(r *abi.SQLRequest) abi.SQLResult {
	fail := func(code abi.ErrorCode, err error) abi.SQLResult {
		return abi.SQLResult{Err: &abi.Error{Code: code, Message: err.Error()}}
	}
	if h.down {
		return fail(abi.CodeUnavailable, errors.New("connection refused"))
	}
	ctx := context.Background()
	type querier interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}
	var q querier = h.db
	if r.Tx != 0 {
		tx, ok := h.txs[r.Tx]
		if !ok {
			return fail(abi.CodeBadTx, errors.New("unknown transaction"))
		}
		q = tx
	}
	args := make([]any, len(r.Args))
	for i, v := range r.Args {
		switch v.Kind {
		case abi.KindInt:
			args[i] = v.Int
		case abi.KindFloat:
			args[i] = v.Float
		case abi.KindText:
			args[i] = v.Text
		case abi.KindBlob:
			args[i] = v.Blob
		}
	}
	switch r.Op {
	case abi.OpBegin:
		tx, err := h.db.BeginTx(ctx, nil)
		if err != nil {
			return fail(abi.CodeInternal, err)
		}
		h.next++
		h.txs[h.next] = tx
		return abi.SQLResult{Tx: h.next}
	case abi.OpCommit, abi.OpRollback:
		tx := q.(*sql.Tx)
		delete(h.txs, r.Tx)
		var err error
		if r.Op == abi.OpCommit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			return fail(abi.CodeInternal, err)
		}
		return abi.SQLResult{}
	case abi.OpExec:
		res, err := q.ExecContext(ctx, r.Query, args...)
		if err != nil {
			return fail(abi.CodeBadRequest, err)
		}
		id, _ := res.LastInsertId()
		n, _ := res.RowsAffected()
		return abi.SQLResult{LastInsertID: id, RowsAffected: n}
	}
	rows, err := q.QueryContext(ctx, r.Query, args...)
	if err != nil {
		return fail(abi.CodeBadRequest, err)
	}
	defer rows.Close()
	types, _ := rows.ColumnTypes()
	var out abi.SQLResult
	for _, ct := range types {
		out.Columns = append(out.Columns, abi.Column{Name: ct.Name(), Type: ct.DatabaseTypeName()})
	}
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fail(abi.CodeInternal, err)
		}
		row := make([]abi.Value, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case int64:
				row[i] = abi.Int(v)
			case float64:
				row[i] = abi.Float(v)
			case string:
				row[i] = abi.Text(v)
			case []byte:
				row[i] = abi.Blob(v)
			}
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return fail(abi.CodeInternal, err)
	}
	return out
}

func openEdgeDB(t testing.TB) (*sql.DB, *testHost) {
	t.Helper()
	real, err := dbbind.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	h := &testHost{db: real, txs: make(map[uint32]*sql.Tx)}
	db := sql.OpenDB(&connector{&sqlDriver{call: h.call}})
	t.Cleanup(func() { db.Close() })
	return db, h
}

func TestSQLDriverRoundTrip(t *testing.T) {
	db, _ := openEdgeDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (i INTEGER, f DOUBLE, s VARCHAR(10), b BLOB, ok INTEGER, at TEXT, n INTEGER)`); err != nil {
		t.Fatalf("create: %v", err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123, time.UTC)
	res, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)`, int32(-7), 56.5, "héllo", []byte{0, 1, 2}, true, at, nil)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("RowsAffected = %d, want 1", n)
	}
	stmt, err := db.PrepareContext(ctx, `SELECT i, f, s, b, ok, at, n FROM t WHERE i = ?`)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx, -7)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	types, _ := rows.ColumnTypes()
	var gotTypes []string
	for _, ct := range types {
		gotTypes = append(gotTypes, ct.DatabaseTypeName())
	}
	if got, want := strings.Join(gotTypes, ","), "INTEGER,DOUBLE,VARCHAR(10),BLOB,INTEGER,TEXT,INTEGER"; got != want {
		t.Errorf("column types %s, want %s", got, want)
	}
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	var (
		i     int64
		f     float64
		s     string
		b     []byte
		ok    bool
		atStr string
		n     sql.NullInt64
	)
	if err := rows.Scan(&i, &f, &s, &b, &ok, &atStr, &n); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if i != -7 || f != 56.5 || s != "héllo" || string(b) != "\x00\x01\x02" || !ok || atStr != at.Format(time.RFC3339Nano) || n.Valid {
		t.Errorf("row = %v %v %q %x %v %q %v", i, f, s, b, ok, atStr, n)
	}
}

func TestSQLDriverTransactions(t *testing.T) {
	db, host := openEdgeDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (i INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		commit bool
		want   int
	}{{"rollback", false, 0}, {"commit", true, 2}} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatalf("%s: begin: %v", tt.name, err)
		}
		for v := range 2 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, v); err != nil {
				t.Fatalf("%s: insert: %v", tt.name, err)
			}
		}
		if tt.commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatalf("%s: end: %v", tt.name, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != tt.want {
			t.Fatalf("%s: count = %d, %v; want %d", tt.name, n, err, tt.want)
		}
	}
	if len(host.txs) != 0 {
		t.Errorf("host still holds %d transactions", len(host.txs))
	}
	if _, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); !errors.Is(err, errTxOptions) {
		t.Errorf("read-only begin: %v, want errTxOptions", err)
	}
}

func TestSQLDriverErrors(t *testing.T) {
	db, host := openEdgeDB(t)
	ctx := context.Background()
	t.Run("bad SQL is ErrBadRequest", func(t *testing.T) {
		_, err := db.ExecContext(ctx, `NOT SQL`)
		if !errors.Is(err, ErrBadRequest) || IsUnavailable(err) {
			t.Fatalf("err = %v, want ErrBadRequest", err)
		}
	})
	t.Run("named argument", func(t *testing.T) {
		if _, err := db.ExecContext(ctx, `SELECT :a`, sql.Named("a", 1)); !errors.Is(err, errNamedArgs) {
			t.Fatalf("err = %v, want errNamedArgs", err)
		}
	})
	t.Run("unavailable is not retried", func(t *testing.T) {
		host.down = true
		defer func() { host.down = false }()
		before := host.calls
		_, err := db.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`)
		if !errors.Is(err, ErrUnavailable) || !IsUnavailable(err) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if got := host.calls - before; got != 1 {
			t.Fatalf("host called %d times, want 1 (no ErrBadConn retry)", got)
		}
	})
	t.Run("cancelled context sends nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		before := host.calls
		if _, err := db.ExecContext(cctx, `SELECT 1`); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if host.calls != before {
			t.Fatalf("host called with a cancelled context")
		}
	})
	t.Run("large result grows the buffer once", func(t *testing.T) {
		big := strings.Repeat("x", 100<<10)
		var got string
		if err := db.QueryRowContext(ctx, `SELECT ?`, big).Scan(&got); err != nil || got != big {
			t.Fatalf("select big: len %d, %v", len(got), err)
		}
	})
}
