package rust

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/tests/harness"
	_ "modernc.org/sqlite"
)

// sdkCommand is a command of the hostcalls guest's protocol (see
// modules/sdk-rs/examples/hostcalls.rs) for its SDK-level operations.
func sdkCommand(op byte, payload string) []byte {
	b := []byte{op}
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// TestSDKThroughHost runs the Rust SDK's own API (config::get,
// fetch::request, Db with typed rows and transactions) inside the real
// host, through the Rust ABI test guest.
func TestSDKThroughHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.Header.Get("X-Asked"), r.URL.Path, b)
	}))
	defer srv.Close()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "sdk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	logs := &harness.SyncBuffer{}
	e, err := wasmhost.NewEngine(wasmhost.EngineConfig{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "agent", "wasmhost", "testdata", "hostcalls-rs.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(context.Background(), wasm, wasmhost.Config{Name: "hostcalls-rs", PoolSize: 1, DB: db,
		Settings: map[string]string{"greeting": "hello", "long": strings.Repeat("L", 1000)}, AllowHosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	}()

	cmds := [][]byte{
		sdkCommand(6, "greeting"),
		sdkCommand(6, "long"), // over the SDK's first buffer: result_read
		sdkCommand(6, "missing"),
		sdkCommand(7, srv.URL+"/hello"),
		sdkCommand(7, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/denied"),
		sdkCommand(8, ""),
	}
	var body []byte
	for _, c := range cmds {
		body = append(body, c...)
	}
	resp, err := m.Serve(context.Background(), &abi.Request{Method: "POST", URI: "/", Body: body})
	if err != nil || resp.Status != 200 {
		t.Fatalf("Serve = %d %q, %v", resp.Status, resp.Body, err)
	}
	type record struct {
		rc   int32
		data string
	}
	var got []record
	for b := resp.Body; len(b) >= 8; {
		n := binary.LittleEndian.Uint32(b[4:])
		got = append(got, record{int32(binary.LittleEndian.Uint32(b)), string(b[8 : 8+n])})
		b = b[8+n:]
	}
	want := []record{
		{0, "hello"},
		{0, strings.Repeat("L", 1000)},
		{abi.ErrNotFound, ""},
		{http.StatusTeapot, "yes POST q /hello b"},
		{-1, "Denied: edge http_fetch: denied: "},
		{0, strings.Join([]string{
			"create: 0",
			"insert: id 1 rows 1",
			"commit: done",
			"rollback: done",
			"dropped: done",
			`select: -42 Some(2.5) Some("héllo") Some([0, 255]) None; 100 None None None None`,
			"columns: first,s",
			"conversion: Conversion error",
			"bad sql: BadRequest error",
		}, "\n") + "\n"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].rc != want[i].rc || !strings.HasPrefix(got[i].data, want[i].data) {
			t.Errorf("command %d: got %d %q, want %d %q", i, got[i].rc, got[i].data, want[i].rc, want[i].data)
		}
	}

	// A panic aborts: the instance traps (the client would get 500), the
	// message is in the agent's log, and the next request is served by a
	// fresh instance.
	_, err = m.Serve(context.Background(), &abi.Request{Method: "POST", URI: "/", Body: sdkCommand(9, "the handler gave up")})
	if !errors.Is(err, wasmhost.ErrTrap) {
		t.Errorf("a panicking handler: err %v, want ErrTrap", err)
	}
	if !strings.Contains(logs.String(), "the handler gave up") {
		t.Errorf("the panic message is not in the log:\n%s", logs)
	}
	resp, err = m.Serve(context.Background(), &abi.Request{Method: "POST", URI: "/", Body: sdkCommand(6, "greeting")})
	if err != nil || resp.Status != 200 || !strings.HasSuffix(string(resp.Body), "hello") {
		t.Errorf("after the panic: %d %q, %v", resp.Status, resp.Body, err)
	}
}
