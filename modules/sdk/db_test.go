//go:build !wasip1

package sdk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/abi"
)

// openBothDBs returns the same SQLite file behind the direct path (the edge
// driver over the in-process test host) and behind the native path (the
// real *sql.DB), with a table t holding a row of every kind and a NULL row.
func openBothDBs(t *testing.T) (direct, native *DB, host *testHost) {
	t.Helper()
	ctx := context.Background()
	real, err := dbbind.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	host = &testHost{db: real, txs: make(map[uint32]*sql.Tx)}
	edge := sql.OpenDB(&connector{&sqlDriver{call: host.call}})
	t.Cleanup(func() { edge.Close() })
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER, i INTEGER, f DOUBLE, s VARCHAR(10), b BLOB)`,
		`INSERT INTO t VALUES (1, -7, 56.1, 'héllo', x'000102')`,
		`INSERT INTO t VALUES (2, NULL, NULL, NULL, NULL)`,
		`INSERT INTO t VALUES (3, 42, 0.5, '17', x'')`,
	} {
		if _, err := edge.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	direct, native = NewDB(edge), NewDB(real)
	if direct.call == nil || native.call != nil {
		t.Fatal("NewDB chose the wrong path")
	}
	if direct.SQL() != edge || native.SQL() != real {
		t.Fatal("SQL() is not the wrapped *sql.DB")
	}
	return direct, native, host
}

// scanAll runs query and renders every row as scanned into a fresh set of
// destinations from newDest, errors included.
func scanAll(db *DB, newDest func() []any, query string, args ...any) string {
	rows, err := db.QueryRows(context.Background(), query, args...)
	if err != nil {
		return "query error: " + err.Error()
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		dest := newDest()
		if err := rows.Scan(dest...); err != nil {
			fmt.Fprintf(&out, "scan error: %v\n", err)
			continue
		}
		for _, d := range dest {
			fmt.Fprintf(&out, "%#v ", reflect.ValueOf(d).Elem().Interface())
		}
		out.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		fmt.Fprintf(&out, "rows error: %v\n", err)
	}
	return out.String()
}

func TestDBQueryRowsBothPathsAgree(t *testing.T) {
	direct, native, _ := openBothDBs(t)
	const all = `SELECT i, f, s, b FROM t ORDER BY id`
	for _, tt := range []struct {
		name  string
		query string
		args  []any
		dest  func() []any
		want  string // checked against the direct path; native must match it
	}{
		{"nullable", all, nil, func() []any {
			return []any{new(sql.NullInt64), new(sql.NullFloat64), new(sql.NullString), new([]byte)}
		}, "sql.NullInt64{Int64:-7, Valid:true} sql.NullFloat64{Float64:56.1, Valid:true} sql.NullString{String:\"héllo\", Valid:true} []byte{0x0, 0x1, 0x2} \n" +
			"sql.NullInt64{Int64:0, Valid:false} sql.NullFloat64{Float64:0, Valid:false} sql.NullString{String:\"\", Valid:false} []byte(nil) \n" +
			"sql.NullInt64{Int64:42, Valid:true} sql.NullFloat64{Float64:0.5, Valid:true} sql.NullString{String:\"17\", Valid:true} []byte(nil) \n"},
		{"any", all, nil, func() []any { return []any{new(any), new(any), new(any), new(any)} },
			"-7 56.1 \"héllo\" []byte{0x0, 0x1, 0x2} \n<nil> <nil> <nil> <nil> \n42 0.5 \"17\" []byte(nil) \n"},
		{"plain with NULL", `SELECT i, f, s FROM t WHERE id IN (?, ?) ORDER BY id`, []any{1, int64(2)},
			func() []any { return []any{new(int64), new(float64), new(string)} },
			"-7 56.1 \"héllo\" \nscan error: sdk: Scan column 0: converting NULL to int64 is unsupported\n"},
		{"converted", `SELECT i, s, i, s, b, f FROM t WHERE id = ?`, []any{int32(3)},
			func() []any {
				return []any{new(string), new(int), new(int32), new(sql.NullInt64), new(string), new(sql.NullString)}
			},
			"\"42\" 17 42 sql.NullInt64{Int64:17, Valid:true} \"\" sql.NullString{String:\"0.5\", Valid:true} \n"},
		{"bool", `SELECT i FROM t WHERE id = ?`, []any{3},
			func() []any { return []any{new(bool)} },
			"scan error: sdk: Scan column 0: sql/driver: couldn't convert 42 into type bool\n"},
		{"scanner and bool arg", `SELECT i FROM t WHERE id = ? AND ? AND ? IS NULL`, []any{1, true, nil},
			func() []any { return []any{new(sql.Null[int64])} },
			"sql.Null[int64]{V:-7, Valid:true} \n"},
		{"unsupported destination", `SELECT i FROM t WHERE id = 1`, nil,
			func() []any { return []any{new(uint8)} },
			"scan error: sdk: Scan column 0: unsupported Scan destination *uint8\n"},
		{"wrong count", `SELECT i FROM t WHERE id = 1`, nil,
			func() []any { return []any{new(int64), new(int64)} },
			"scan error: sdk: Scan: expected 1 destination arguments, got 2\n"},
		{"no rows", `SELECT i FROM t WHERE id = 99`, nil, func() []any { return []any{new(int64)} }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := scanAll(direct, tt.dest, tt.query, tt.args...)
			if got != tt.want {
				t.Errorf("direct:\n%s\nwant:\n%s", got, tt.want)
			}
			if nat := scanAll(native, tt.dest, tt.query, tt.args...); nat != got {
				t.Errorf("native:\n%s\ndirect:\n%s", nat, got)
			}
		})
	}
}

func TestDBQueryRowsColumnsAndReuse(t *testing.T) {
	direct, native, host := openBothDBs(t)
	ctx := context.Background()
	for name, db := range map[string]*DB{"direct": direct, "native": native} {
		rows, err := db.QueryRows(ctx, `SELECT id AS n, s FROM t ORDER BY id`)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cols, err := rows.Columns()
		if err != nil || strings.Join(cols, ",") != "n,s" {
			t.Errorf("%s: Columns() = %q, %v", name, cols, err)
		}
		// A second query while the first is open gets its own connection.
		inner, err := db.QueryRows(ctx, `SELECT COUNT(*) FROM t`)
		if err != nil {
			t.Fatalf("%s: inner: %v", name, err)
		}
		var n int
		if !inner.Next() || inner.Scan(&n) != nil || n != 3 || inner.Next() || inner.Err() != nil {
			t.Errorf("%s: inner count = %d, %v", name, n, inner.Err())
		}
		var ids []int64
		for rows.Next() {
			var id int64
			var s sql.NullString
			if err := rows.Scan(&id, &s); err != nil {
				t.Fatalf("%s: scan: %v", name, err)
			}
			ids = append(ids, id)
		}
		if rows.Err() != nil || fmt.Sprint(ids) != "[1 2 3]" {
			t.Errorf("%s: ids %v, %v", name, ids, rows.Err())
		}
		if err := rows.Scan(new(int64)); err == nil {
			t.Errorf("%s: Scan after the end succeeded", name)
		}
		if err := rows.Close(); err != nil {
			t.Errorf("%s: second Close: %v", name, err)
		}
	}
	// The direct path keeps one connection and its buffers for the next query.
	c := direct.idle.Load()
	if c == nil {
		t.Fatal("no idle connection after the rows were read")
	}
	before := host.calls
	rows, err := direct.QueryRows(ctx, `SELECT 1`)
	if err != nil {
		t.Fatal(err)
	}
	if direct.idle.Load() != nil || rows.c != c || host.calls != before+1 {
		t.Error("the idle connection was not reused")
	}
	rows.Close()
	if direct.idle.Load() != c {
		t.Error("Close did not return the connection")
	}
}

func TestDBQueryRowsErrors(t *testing.T) {
	direct, native, host := openBothDBs(t)
	ctx := context.Background()
	for name, db := range map[string]*DB{"direct": direct, "native": native} {
		if _, err := db.QueryRows(ctx, `NOT SQL`); err == nil {
			t.Errorf("%s: bad SQL succeeded", name)
		}
		if _, err := db.QueryRows(ctx, `SELECT ?`, struct{}{}); err == nil {
			t.Errorf("%s: unsupported argument accepted", name)
		}
	}
	if _, err := direct.QueryRows(ctx, `NOT SQL`); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad SQL: %v, want ErrBadRequest", err)
	}
	// SQLite natively takes named arguments; the edge ABI does not.
	if _, err := direct.QueryRows(ctx, `SELECT :a`, sql.Named("a", 1)); !errors.Is(err, errNamedArgs) {
		t.Errorf("named argument: %v, want errNamedArgs", err)
	}
	t.Run("unavailable", func(t *testing.T) {
		host.down = true
		defer func() { host.down = false }()
		if _, err := direct.QueryRows(ctx, `SELECT 1`); !IsUnavailable(err) {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
	t.Run("cancelled context sends nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		before := host.calls
		if _, err := direct.QueryRows(cctx, `SELECT 1`); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if host.calls != before {
			t.Fatal("host called with a cancelled context")
		}
	})
	t.Run("large result", func(t *testing.T) {
		big := strings.Repeat("x", 100<<10)
		got := scanAll(direct, func() []any { return []any{new(string)} }, `SELECT ?`, big)
		if got != fmt.Sprintf("%q \n", big) {
			t.Fatalf("select big: got %d bytes", len(got))
		}
	})
}

// TestDBQueryRowsMalformedFrames feeds the direct path frames a broken host
// could send: each must end in an ErrFrame error, never a panic or a row
// read past the frame.
func TestDBQueryRowsMalformedFrames(t *testing.T) {
	cols := abi.AppendColumns([]byte{0}, []abi.Column{{Name: "a", Type: "INTEGER"}})
	withRows := func(n uint32, tail ...byte) []byte {
		b, off := abi.AppendRowCount(append([]byte(nil), cols...))
		abi.PatchRowCount(b, off, n)
		return append(b, tail...)
	}
	good := abi.AppendRowValue(nil, &abi.Value{Kind: abi.KindInt, Int: 5})
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"unknown result kind", []byte{7}},
		{"truncated columns", cols[:len(cols)-2]},
		{"no row count", cols},
		{"rows without columns", []byte{0, 0, 0, 1, 0, 0, 0}},
		{"missing row", withRows(2, good...)},
		{"truncated value", withRows(1, good[:5]...)},
		{"bad kind", withRows(1, 9)},
		{"text past the end", withRows(1, byte(abi.KindText), 0xff, 0, 0, 0, 'x')},
		{"trailing bytes", withRows(1, append(good, 0)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			edge := sql.OpenDB(&connector{&sqlDriver{call: func(_, buf []byte) ([]byte, error) {
				return append(buf[:0], tt.frame...), nil
			}}})
			defer edge.Close()
			rows, err := NewDB(edge).QueryRows(context.Background(), `SELECT a`)
			if err == nil {
				for rows.Next() {
					var v int64
					if err := rows.Scan(&v); err != nil || v != 5 {
						t.Fatalf("scan = %d, %v", v, err)
					}
				}
				err = rows.Err()
			}
			if !errors.Is(err, abi.ErrFrame) || !errors.Is(err, ErrHostCall) {
				t.Fatalf("err = %v, want ErrFrame and ErrHostCall", err)
			}
		})
	}
}
