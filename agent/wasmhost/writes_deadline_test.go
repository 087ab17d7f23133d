package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/abi"
)

// slowCount is a read that keeps SQLite busy for seconds, past any
// deadline below: a local SQLite statement is not interrupted at the
// deadline (statementContext), so the call is abandoned while it runs.
// About 0.3 s of SQLite on this machine (500,000 rows), several times the
// 100 ms deadline; under -race a few seconds, within the 10 s the test's
// Close waits for the abandoned call (1.5 M rows took over 10 s there).
const slowCount = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 500000) SELECT count(*) FROM c`

// TestFailedCallSaysWhatItWrote: an error the host answers for a call
// that failed says whether the call had committed writes, in the header
// Edge-Writes-Committed and the body's writes_committed: yes when it
// committed one before the deadline abandoned it (F8: a 504 hid a
// committed write and a client retrying double-wrote), unknown when a
// write was still running at the deadline, no when it wrote nothing; the
// same for a trap after a write (500).
func TestFailedCallSaysWhatItWrote(t *testing.T) {
	exec := func(q string) []byte { return sqlCmd(1024, abi.SQLRequest{Op: abi.OpExec, Query: q}) }
	query := func(q string) []byte { return sqlCmd(1024, abi.SQLRequest{Op: abi.OpQuery, Query: q}) }
	insert := exec("INSERT INTO kinds (i) VALUES (1)")
	for _, tt := range []struct {
		name   string
		cmds   [][]byte
		status int
		want   string
	}{
		{"write, then too slow", [][]byte{insert, query(slowCount)}, http.StatusGatewayTimeout, "yes"},
		{"write running at the deadline", [][]byte{exec("INSERT INTO kinds (i) SELECT count(*) FROM (" + slowCount + ")")}, http.StatusGatewayTimeout, "unknown"},
		{"read only, too slow", [][]byte{query(slowCount)}, http.StatusGatewayTimeout, "no"},
		{"update of no row, then too slow", [][]byte{exec("UPDATE kinds SET s = 'x' WHERE i = -1"), query(slowCount)}, http.StatusGatewayTimeout, "no"},
		{"write, then trap", [][]byte{insert, cmd(7, 0, nil)}, http.StatusInternalServerError, "yes"},
		{"trap", [][]byte{cmd(7, 0, nil)}, http.StatusInternalServerError, "no"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A database and module each: an abandoned call keeps its
			// instance and its SQLite file busy until its statement ends.
			db, err := dbbind.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Exec(`CREATE TABLE kinds (i INTEGER, f REAL, s TEXT, b BLOB, n INTEGER)`); err != nil {
				t.Fatal(err)
			}
			m := load(t, newTestEngine(t, EngineCompiler), "hostcalls", Config{PoolSize: 1, DB: db,
				Limits: Limits{Deadline: 100 * time.Millisecond}})
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			resp, err := http.Post(srv.URL, "application/octet-stream", bytes.NewReader(bytes.Join(tt.cmds, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error           string `json:"error"`
				WritesCommitted string `json:"writes_committed"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			if got := resp.Header.Get(WritesHeader); resp.StatusCode != tt.status || got != tt.want || body.WritesCommitted != tt.want {
				t.Errorf("%d, %s: %q, body %+v; want %d and %q", resp.StatusCode, WritesHeader, got, body, tt.status, tt.want)
			}
		})
	}
}
