package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/internal/dbbind"
)

func openOrders(t *testing.T, dsn string) (dbbind.Binding, *sql.DB) {
	t.Helper()
	b, err := dbbind.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE orders (order_id INT, shipping_address VARCHAR(256))"); err != nil {
		t.Fatal(err)
	}
	return b, db
}

// TestSafetyCopy: the copy is a consistent SQLite database with the rows
// committed before it; a later copy replaces it (one per module); a temp
// file a crash left mid-copy is removed; the database is left alone; a
// database that does not exist yet gets no copy and no file.
func TestSafetyCopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "modules", "orders")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, db := openOrders(t, "sqlite:"+filepath.Join(dir, "data.db"))
	dst := filepath.Join(dir, SafetyCopyName)
	crashed := filepath.Join(dir, "."+SafetyCopyName+".tmp-123")
	if err := os.WriteFile(crashed, []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, addr := range []string{"first", "second"} {
		if _, err := db.Exec("INSERT INTO orders VALUES (?, ?)", i+1, addr); err != nil {
			t.Fatal(err)
		}
		if err := safetyCopy(context.Background(), b, dst); err != nil {
			t.Fatal(err)
		}
		want := []string{"first", "second"}[:i+1]
		if got := ordersIn(t, dst); !slices.Equal(got, want) {
			t.Errorf("copy %d holds %q, want %q", i+1, got, want)
		}
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "data.db") {
			names = append(names, e.Name())
		}
	}
	if !slices.Equal(names, []string{SafetyCopyName}) {
		t.Errorf("module folder holds %q besides the database, want only %s", names, SafetyCopyName)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2 {
		t.Errorf("database after the copies: %d rows, %v; want 2", n, err)
	}

	// While a writer goes on: the copy holds a prefix of its commits and
	// passes SQLite's integrity check.
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		i := 100
		for ; ; i++ {
			select {
			case <-stop:
				wrote <- i
				return
			default:
			}
			if _, err := db.Exec("INSERT INTO orders VALUES (?, 'during')", i); err != nil {
				wrote <- -1
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	err := safetyCopy(context.Background(), b, dst)
	close(stop)
	if last := <-wrote; err != nil || last < 0 {
		t.Fatalf("copy while writing: %v (writer ended at %d)", err, last)
	}
	cp, err := dbbind.Open(context.Background(), "sqlite:"+dst)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var lo, hi, count int
	cp.QueryRow("PRAGMA integrity_check").Scan(&check)
	cp.QueryRow("SELECT min(order_id), max(order_id), count(*) FROM orders WHERE order_id >= 100").Scan(&lo, &hi, &count)
	cp.Close()
	if check != "ok" || (count > 0 && (lo != 100 || hi-lo+1 != count)) {
		t.Errorf("copy taken while writing: integrity %q, ids %d..%d, %d rows: want ok and a prefix of the commits", check, lo, hi, count)
	}

	none := dbbind.Binding{Dialect: dbbind.SQLite, Path: filepath.Join(dir, "missing.db")}
	other := filepath.Join(dir, "other-copy.db")
	if err := safetyCopy(context.Background(), none, other); err == nil {
		t.Error("copy of a database that does not exist: no error")
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy of a database that does not exist left %s: %v", other, err)
	}
}

// TestSchemaFingerprint: rows do not change the fingerprint; an index, a
// new column, and a table dropped and created again the same way do. On
// SQLite and, with EDGE_TEST_MYSQL, on MariaDB.
func TestSchemaFingerprint(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "data.db")}
	if base := os.Getenv("EDGE_TEST_MYSQL"); base != "" {
		dsns["mysql"] = mysqlDatabase(t, base)
	}
	steps := []struct {
		what    string
		sql     []string
		changed bool
	}{
		{"rows written", []string{"INSERT INTO orders VALUES (1, 'a')", "UPDATE orders SET shipping_address = 'b'", "DELETE FROM orders"}, false},
		{"index created", []string{"CREATE INDEX orders_id ON orders (order_id)"}, true},
		{"column added", []string{"ALTER TABLE orders ADD COLUMN note VARCHAR(10)"}, true},
		{"table re-created the same", []string{"DROP TABLE orders", "CREATE TABLE orders (order_id INT, shipping_address VARCHAR(256), note VARCHAR(10))"}, true},
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			b, db := openOrders(t, dsn)
			prev, err := schemaFingerprint(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				if name == "mysql" && st.what == "table re-created the same" {
					time.Sleep(1100 * time.Millisecond) // create_time has a resolution of one second
				}
				for _, q := range st.sql {
					if _, err := db.Exec(q); err != nil {
						t.Fatalf("%s: %s: %v", st.what, q, err)
					}
				}
				got, err := schemaFingerprint(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				if changed := got != prev; changed != st.changed {
					t.Errorf("%s: fingerprint changed %v, want %v", st.what, changed, st.changed)
				}
				prev = got
			}
		})
	}
}

// mysqlDatabase creates a database of its own on the server of base and
// returns its DSN; it is dropped when the test ends.
func mysqlDatabase(t *testing.T, base string) string {
	t.Helper()
	admin, err := dbbind.Open(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("edge_supervisor_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := dbbind.Open(context.Background(), base)
		if err == nil {
			admin.Exec("DROP DATABASE " + name)
			admin.Close()
		}
	})
	i := strings.LastIndex(base, "/")
	return base[:i+1] + name
}

// TestSwitchReport: what a rollback says about the data, for each case.
func TestSwitchReport(t *testing.T) {
	dir := t.TempDir()
	b, db := openOrders(t, "sqlite:"+filepath.Join(dir, "data.db"))
	schema, err := schemaFingerprint(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		d     *switchData
		tally writeTally
		alter bool
		want  []string
	}{
		{"no database", nil, writeTally{}, false, []string{""}},
		{"exact, schema kept, copy", &switchData{db: b, schema: schema, copy: "/x/safety-copy.db"}, writeTally{writes: 3, rows: 5}, false,
			[]string{"data kept", "2.0.0 committed 3 writes (5 rows) and left the schema as it was", "safety copy of the database at the switch: /x/safety-copy.db"}},
		{"one write, killed", &switchData{db: b, schema: schema}, writeTally{writes: 1, rows: 1, inexact: true}, false,
			[]string{"committed at least 1 write (1 row)"}},
		{"copy failed", &switchData{db: b, schema: schema, copyErr: errors.New("disk full")}, writeTally{}, false,
			[]string{"committed 0 writes (0 rows)", "no safety copy: disk full"}},
		{"schema unknown at the switch", &switchData{db: b, schemaErr: errors.New("locked")}, writeTally{}, false,
			[]string{"schema change unknown (at the switch: locked)"}},
		{"schema changed", &switchData{db: b, schema: schema}, writeTally{}, true, []string{"CHANGED THE SCHEMA since the switch"}},
	}
	for _, tt := range tests {
		if tt.alter {
			if _, err := db.Exec("CREATE TABLE extra (x INT)"); err != nil {
				t.Fatal(err)
			}
		}
		got := tt.d.report(context.Background(), "2.0.0", tt.tally)
		for _, w := range tt.want {
			if !strings.Contains(got, w) || (w == "" && got != "") {
				t.Errorf("%s: report %q, want it to contain %q", tt.name, got, w)
			}
		}
	}
}

// TestWriteTally: a version's writes add up over its worker processes; a
// count is exact unless a worker that was ready ended without its final
// heartbeat (killed: its last writes may be missing).
func TestWriteTally(t *testing.T) {
	hb := func(ready, final bool, writes uint64) worker.Heartbeat {
		return worker.Heartbeat{Ready: ready, Final: final, Writes: writes, RowsWritten: 2 * writes}
	}
	tests := []struct {
		name  string
		procs []worker.Heartbeat // last heartbeat of each process, the last one still running
		want  writeTally
	}{
		{"one drained", []worker.Heartbeat{hb(true, true, 4)}, writeTally{writes: 4, rows: 8}},
		{"killed, restarted, running", []worker.Heartbeat{hb(true, false, 3), hb(true, false, 2)}, writeTally{writes: 5, rows: 10, inexact: true}},
		{"failed before ready, then drained", []worker.Heartbeat{hb(false, false, 0), hb(true, true, 1)}, writeTally{writes: 1, rows: 2}},
	}
	for _, tt := range tests {
		r := &runner{}
		for i, last := range tt.procs {
			p := &proc{last: last}
			r.proc = p
			if i < len(tt.procs)-1 || last.Final {
				r.account(p)
				r.account(p) // once only
			}
		}
		if got := r.writes(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkSafetyCopy measures the copy taken at each switch of a module
// with a SQLite binding, for an order table of 100,000 rows.
func BenchmarkSafetyCopy(b *testing.B) {
	dir := b.TempDir()
	bind, err := dbbind.Parse("sqlite:" + filepath.Join(dir, "data.db"))
	if err != nil {
		b.Fatal(err)
	}
	db, err := bind.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE orders (order_id INT, product_id INT, quantity INT, amount DOUBLE, shipping DOUBLE, tax DOUBLE, shipping_address VARCHAR(256));
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 100000)
		INSERT INTO orders SELECT x, 12, 2, 56.0, 15.0, 2.0, '1 Edge Way, Small Board Town' FROM c`); err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(dir, SafetyCopyName)
	b.ResetTimer()
	for b.Loop() {
		if err := safetyCopy(context.Background(), bind, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st, err := os.Stat(dst); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	}
}
