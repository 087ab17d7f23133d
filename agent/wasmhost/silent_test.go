package wasmhost

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/testpeer"
	"github.com/edgeplane/edge/modules/abi"
)

func silentListener(t *testing.T) string { return testpeer.NewSilent(t).Addr() }

// timed runs one request on the hostcalls guest and returns its records,
// how long it took, and the Serve error.
func timed(m *Module, cmds ...[]byte) ([]record, time.Duration, error) {
	start := time.Now()
	var body []byte
	for _, c := range cmds {
		body = append(body, c...)
	}
	resp, err := serveBody(m, body)
	took := time.Since(start)
	if err != nil {
		return nil, took, err
	}
	var recs []record
	b := resp.Body
	for len(b) >= 8 {
		rc := int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		n := uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
		recs = append(recs, record{rc, append([]byte(nil), b[8:8+n]...)})
		b = b[8+n:]
	}
	return recs, took, nil
}

// TestSQLSilentServer: a MySQL server that accepts and never answers. The
// guest's SQL call fails with CodeUnavailable after the connect timeout,
// well before the request's deadline (so the guest can answer 503 and its
// instance is not abandoned); the next calls fail at once.
func TestSQLSilentServer(t *testing.T) {
	addr := silentListener(t)
	db, err := dbbind.Open(context.Background(), "mysql://u:p@"+addr+"/orders?timeout=500ms")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := load(t, newTestEngine(t, EngineCompiler), "hostcalls", Config{PoolSize: 1, DB: db,
		Limits: Limits{Deadline: 5 * time.Second}})
	q := sqlCmd(1024, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT 1"})
	for i, maxTook := range []time.Duration{3 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond} {
		recs, took, err := timed(m, q)
		if err != nil {
			t.Fatalf("call %d: Serve = %v after %s, want the guest to get the error and answer", i, err, took)
		}
		if r := sqlResult(t, abi.OpQuery, recs[0]); errCode(r.Err) != abi.CodeUnavailable || took > maxTook {
			t.Errorf("call %d: %+v after %s, want CodeUnavailable within %s", i, r, took, maxTook)
		}
	}
	if st := m.Stats(); st.Timeouts != 0 || st.Abandoned != 0 || st.InstancesDiscarded != 0 {
		t.Errorf("stats %+v: want no timeout, no abandoned or discarded instance", st)
	}
}

// TestFetchSilentHost: an outbound host that accepts and never answers
// costs the fetch timeout once, then fetches to it fail at once; a guest
// asking for a timeout longer than the request's deadline gets its answer
// before the deadline; a body that trickles in is cut at the timeout.
func TestFetchSilentHost(t *testing.T) {
	silent := silentListener(t)
	trickle := testpeer.HTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		for r.Context().Err() == nil {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	fetch := func(host string, timeoutMS uint32) []byte {
		return cmd(opFetch, 256, abi.AppendFetchRequest(nil, &abi.FetchRequest{URL: "http://" + host + "/", TimeoutMS: timeoutMS}))
	}
	result := func(rec record) abi.FetchResult {
		t.Helper()
		r, err := abi.DecodeFetchResult(rec.data)
		if err != nil {
			t.Fatalf("rc %d: %v", rec.rc, err)
		}
		return r
	}
	m := load(t, newTestEngine(t, EngineCompiler), "hostcalls", Config{PoolSize: 1, AllowHosts: []string{"127.0.0.1"},
		Limits: Limits{Deadline: 3 * time.Second, FetchTimeout: 500 * time.Millisecond}})

	tests := []struct {
		name    string
		cmd     []byte
		want    abi.ErrorCode
		maxTook time.Duration
	}{
		{"silent host, default timeout", fetch(silent, 0), abi.CodeTimeout, 2 * time.Second},
		{"silent host again: fails at once", fetch(silent, 0), abi.CodeUnavailable, 300 * time.Millisecond},
		{"trickling body: cut at the timeout", fetch(trickle, 0), abi.CodeTimeout, 2 * time.Second},
	}
	for _, tt := range tests {
		recs, took, err := timed(m, tt.cmd)
		if err != nil {
			t.Fatalf("%s: Serve = %v after %s", tt.name, err, took)
		}
		if r := result(recs[0]); errCode(r.Err) != tt.want || took > tt.maxTook {
			t.Errorf("%s: %+v after %s, want code %v within %s", tt.name, r.Err, took, tt.want, tt.maxTook)
		}
	}

	// A timeout past the request's deadline: the host ends the fetch
	// before the deadline, the guest answers, nothing is abandoned.
	m2 := load(t, newTestEngine(t, EngineCompiler), "hostcalls", Config{PoolSize: 1, AllowHosts: []string{"127.0.0.1"},
		Limits: Limits{Deadline: 2 * time.Second}})
	recs, took, err := timed(m2, fetch(silentListener(t), 60_000))
	if err != nil {
		t.Fatalf("long guest timeout: Serve = %v after %s, want an answer before the 2s deadline", err, took)
	}
	if r := result(recs[0]); errCode(r.Err) != abi.CodeTimeout {
		t.Errorf("long guest timeout: %+v, want CodeTimeout", r.Err)
	}
	if st := m2.Stats(); st.Abandoned != 0 || st.Timeouts != 0 {
		t.Errorf("stats %+v: want nothing abandoned", st)
	}
}
