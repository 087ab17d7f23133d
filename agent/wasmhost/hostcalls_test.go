package wasmhost

import (
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
	_ "github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite"
)

const outOfRange = 0xffff_fff0

// hostcallGuests speak the command protocol of testdata/hostcalls.wat: the
// hand-written guest, and the same protocol through the Rust SDK's host
// bindings (modules/sdk-rs/examples/hostcalls.rs; make rust-testdata).
var hostcallGuests = []string{"hostcalls", "hostcalls-rs"}

// runGuests runs f as a subtest for each hostcalls guest on engine kind.
func runGuests(t *testing.T, kind EngineKind, f func(t *testing.T, guest string)) {
	for _, g := range hostcallGuests {
		t.Run(kind.String()+"/"+g, func(t *testing.T) { f(t, g) })
	}
}

func TestLogAndConfig(t *testing.T) {
	for _, kind := range engines {
		runGuests(t, kind, func(t *testing.T, guest string) {
			logs := &syncBuffer{}
			m := load(t, newTestEngine(t, kind), guest, Config{PoolSize: 1, Logger: slogTo(logs),
				Settings: map[string]string{"greeting": "hello", "long": strings.Repeat("L", 100)}})
			recs := callGuest(t, m,
				cmd(opLog, uint32(abi.LevelWarn), []byte("from the guest")),
				cmd(opConfigGet, 64, []byte("greeting")),
				cmd(opConfigGet, 64, []byte("missing")),
				cmd(opConfigGet, 8, []byte("long")), // pending + result_read
				cmd(opResultRead, 8, nil),           // nothing pending
			)
			want := []record{
				{0, nil},
				{5, []byte("hello")},
				{abi.ErrNotFound, nil},
				{100, []byte(strings.Repeat("L", 100))},
				{abi.ErrNoResult, nil},
			}
			for i := range want {
				if recs[i].rc != want[i].rc || string(recs[i].data) != string(want[i].data) {
					t.Errorf("command %d: got %d %q, want %d %q", i, recs[i].rc, recs[i].data, want[i].rc, want[i].data)
				}
			}
			if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, `msg="from the guest"`) ||
				!strings.Contains(got, "module="+guest) {
				t.Errorf("log output %q lacks the guest's warning with its module", got)
			}
		})
	}
}

// TestBadPointers: out-of-range pointers to every import give ErrMemory
// and never a host panic.
func TestBadPointers(t *testing.T) {
	for _, kind := range engines {
		runGuests(t, kind, func(t *testing.T, guest string) {
			m := load(t, newTestEngine(t, kind), guest, Config{PoolSize: 1, Settings: map[string]string{"k": "v"}})
			// Guest memory is 1 page at least, and 0..16 holds nothing useful.
			tests := []struct {
				name string
				cmd  []byte
				want int32
			}{
				{"log", raw(rawLog, 0, outOfRange, 100, 0), 0},
				{"log huge len", raw(rawLog, 0, 0, 0xffff_ffff, 0), 0},
				{"config key", raw(rawConfigGet, outOfRange, 16, 0, 16), abi.ErrMemory},
				{"config buf", raw(rawConfigGet, 0, 0, outOfRange, 16), abi.ErrMemory},
				{"config buf len", raw(rawConfigGet, 0, 0, 0, 0xffff_ffff), abi.ErrMemory},
				{"sql req", raw(rawSQL, outOfRange, 100, 0, 16), abi.ErrMemory},
				{"sql buf", raw(rawSQL, 0, 16, outOfRange, 16), abi.ErrMemory},
				{"sql garbage", raw(rawSQL, 0, 16, 0, 16), abi.ErrMalformed},
				{"fetch req", raw(rawFetch, outOfRange, 100, 0, 16), abi.ErrMemory},
				{"fetch buf", raw(rawFetch, 0, 16, 0xffff_0000, 0x20000), abi.ErrMemory},
				{"fetch garbage", raw(rawFetch, 0, 16, 0, 16), abi.ErrMalformed},
				{"result_read buf", raw(rawResult, outOfRange, 16, 0, 0), abi.ErrMemory},
			}
			for _, tt := range tests {
				recs := callGuest(t, m, tt.cmd)
				if recs[0].rc != tt.want {
					t.Errorf("%s: rc = %d, want %d", tt.name, recs[0].rc, tt.want)
				}
			}
		})
	}
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // one connection: a test sees its own open transaction's lock
	if _, err := db.Exec(`CREATE TABLE kinds (i INTEGER, f REAL, s TEXT, b BLOB, n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSQL(t *testing.T) {
	for _, kind := range engines {
		runGuests(t, kind, func(t *testing.T, guest string) {
			db := openSQLite(t)
			m := load(t, newTestEngine(t, kind), guest, Config{PoolSize: 1, DB: db,
				Limits: Limits{MaxSQLCalls: 10}})
			insert := "INSERT INTO kinds (i, f, s, b, n) VALUES (?, ?, ?, ?, ?)"
			args := []abi.Value{abi.Int(-42), abi.Float(2.5), abi.Text("héllo"), abi.Blob([]byte{0, 1, 2}), abi.Null()}
			recs := callGuest(t, m,
				sqlCmd(1024, abi.SQLRequest{Op: abi.OpExec, Query: insert, Args: args}),
				sqlCmd(16, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT i, f, s, b, n FROM kinds"}), // via result_read
			)
			ex := sqlResult(t, abi.OpExec, recs[0])
			if ex.Err != nil || ex.RowsAffected != 1 || ex.LastInsertID != 1 {
				t.Errorf("exec = %+v", ex)
			}
			q := sqlResult(t, abi.OpQuery, recs[1])
			wantCols := []abi.Column{{Name: "i", Type: "INTEGER"}, {Name: "f", Type: "REAL"}, {Name: "s", Type: "TEXT"},
				{Name: "b", Type: "BLOB"}, {Name: "n", Type: "INTEGER"}}
			if q.Err != nil || !reflect.DeepEqual(q.Columns, wantCols) || len(q.Rows) != 1 || !reflect.DeepEqual(q.Rows[0], args) {
				t.Errorf("query = %+v,\nwant columns %v and row %v", q, wantCols, args)
			}

			// Transactions: commit, rollback, and one left open at the end
			// of a request is rolled back.
			ins := func(tx uint32, v int64) []byte {
				return sqlCmd(1024, abi.SQLRequest{Op: abi.OpExec, Tx: tx, Query: "INSERT INTO kinds (i) VALUES (?)", Args: []abi.Value{abi.Int(v)}})
			}
			recs = callGuest(t, m,
				sqlCmd(64, abi.SQLRequest{Op: abi.OpBegin}), ins(1, 100), sqlCmd(64, abi.SQLRequest{Op: abi.OpCommit, Tx: 1}),
				sqlCmd(64, abi.SQLRequest{Op: abi.OpBegin}), ins(2, 200), sqlCmd(64, abi.SQLRequest{Op: abi.OpRollback, Tx: 2}),
				sqlCmd(64, abi.SQLRequest{Op: abi.OpCommit, Tx: 2}),
				sqlCmd(64, abi.SQLRequest{Op: abi.OpBegin}), ins(3, 300), // left open
			)
			if r := sqlResult(t, abi.OpBegin, recs[0]); r.Tx != 1 {
				t.Errorf("begin = %+v, want tx 1", r)
			}
			for i, op := range map[int]abi.SQLOp{1: abi.OpExec, 2: abi.OpCommit, 4: abi.OpExec, 5: abi.OpRollback, 8: abi.OpExec} {
				if r := sqlResult(t, op, recs[i]); r.Err != nil {
					t.Errorf("command %d: %v", i, r.Err)
				}
			}
			if r := sqlResult(t, abi.OpCommit, recs[6]); errCode(r.Err) != abi.CodeBadTx {
				t.Errorf("commit of a finished tx = %+v, want CodeBadTx", r)
			}
			var ids []int64
			rows, err := db.Query("SELECT i FROM kinds WHERE i >= 100 ORDER BY i")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v int64
				rows.Scan(&v)
				ids = append(ids, v)
			}
			rows.Close()
			if !reflect.DeepEqual(ids, []int64{100}) {
				t.Errorf("committed rows = %v, want [100] (200 rolled back, 300 rolled back at request end)", ids)
			}

			// Errors: bad SQL, unknown tx, quota.
			recs = callGuest(t, m,
				sqlCmd(256, abi.SQLRequest{Op: abi.OpQuery, Query: "SELEC nonsense"}),
				sqlCmd(256, abi.SQLRequest{Op: abi.OpExec, Tx: 9, Query: "SELECT 1"}),
			)
			if r := sqlResult(t, abi.OpQuery, recs[0]); errCode(r.Err) != abi.CodeBadRequest {
				t.Errorf("bad sql = %+v, want CodeBadRequest", r)
			}
			if r := sqlResult(t, abi.OpExec, recs[1]); errCode(r.Err) != abi.CodeBadTx {
				t.Errorf("unknown tx = %+v, want CodeBadTx", r)
			}
			var many [][]byte
			for range 11 {
				many = append(many, sqlCmd(256, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT 1"}))
			}
			recs = callGuest(t, m, many...)
			if r := sqlResult(t, abi.OpQuery, recs[10]); errCode(r.Err) != abi.CodeTooLarge {
				t.Errorf("11th call = %+v, want quota error CodeTooLarge", r)
			}
			if r := sqlResult(t, abi.OpQuery, recs[9]); r.Err != nil {
				t.Errorf("10th call = %+v, want success", r)
			}
		})
	}
}

func TestSQLResultLimit(t *testing.T) {
	runGuests(t, EngineCompiler, func(t *testing.T, guest string) {
		db := openSQLite(t)
		m := load(t, newTestEngine(t, EngineCompiler), guest, Config{PoolSize: 1, DB: db, Limits: Limits{MaxResultBytes: 1000}})
		recs := callGuest(t, m, sqlCmd(64, abi.SQLRequest{Op: abi.OpQuery,
			Query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 1000) SELECT x FROM c"}))
		if r := sqlResult(t, abi.OpQuery, recs[0]); errCode(r.Err) != abi.CodeTooLarge {
			t.Errorf("big result = %+v, want CodeTooLarge", r)
		}
	})
}

func TestSQLDeniedAndUnavailable(t *testing.T) {
	e := newTestEngine(t, EngineCompiler)
	q := sqlCmd(1024, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT 1"})

	for _, guest := range hostcallGuests {
		m := load(t, e, guest, Config{PoolSize: 1})
		if r := sqlResult(t, abi.OpQuery, callGuest(t, m, q)[0]); errCode(r.Err) != abi.CodeDenied {
			t.Errorf("%s: no binding = %+v, want CodeDenied", guest, r)
		}
	}

	// A MySQL binding to a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	mysqlDB, err := sql.Open("mysql", "u:p@tcp("+addr+")/orders?timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer mysqlDB.Close()
	// SQLite: a file in a folder that does not exist.
	sqliteDB, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "missing", "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqliteDB.Close()
	for name, db := range map[string]*sql.DB{"mysql closed port": mysqlDB, "sqlite cannot open": sqliteDB} {
		for _, guest := range hostcallGuests {
			m := load(t, e, guest, Config{PoolSize: 1, DB: db})
			if r := sqlResult(t, abi.OpQuery, callGuest(t, m, q)[0]); errCode(r.Err) != abi.CodeUnavailable {
				t.Errorf("%s, %s = %+v, want CodeUnavailable", guest, name, r)
			}
		}
	}
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(make([]byte, 5000))
			return
		}
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("X-Asked"), r.URL.Path)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	fetch := func(url string) []byte {
		return cmd(opFetch, 64, abi.AppendFetchRequest(nil, &abi.FetchRequest{Method: "POST", URL: url,
			Header: []abi.Header{{Name: "X-Asked", Value: "q"}}, Body: []byte("b")}))
	}
	for _, kind := range engines {
		runGuests(t, kind, func(t *testing.T, guest string) {
			m := load(t, newTestEngine(t, kind), guest, Config{PoolSize: 1,
				AllowHosts: []string{"127.0.0.1"}, Limits: Limits{MaxResultBytes: 4096}})
			recs := callGuest(t, m,
				fetch(srv.URL+"/hello"),
				fetch("http://localhost:"+port+"/hello"), // same server, host not allowed
				fetch(srv.URL+"/big"),
				fetch("file:///etc/passwd"),
			)
			res := make([]abi.FetchResult, len(recs))
			for i, rec := range recs {
				if rec.rc < 0 {
					t.Fatalf("fetch %d: rc %d", i, rec.rc)
				}
				r, err := abi.DecodeFetchResult(rec.data)
				if err != nil {
					t.Fatalf("fetch %d: %v", i, err)
				}
				res[i] = r
			}
			if r := res[0]; r.Err != nil || r.Response.Status != http.StatusTeapot || string(r.Response.Body) != "POST q /hello" {
				t.Errorf("allowed fetch = %+v", r)
			}
			found := false
			for _, h := range res[0].Response.Header {
				found = found || (h.Name == "X-Reply" && h.Value == "yes")
			}
			if !found {
				t.Errorf("response headers %v lack X-Reply", res[0].Response.Header)
			}
			for i, want := range map[int]abi.ErrorCode{1: abi.CodeDenied, 2: abi.CodeTooLarge, 3: abi.CodeDenied} {
				if got := errCode(res[i].Err); got != want {
					t.Errorf("fetch %d: code %v, want %v", i, got, want)
				}
			}
		})
	}
}
