package wasmhost

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
)

// FuzzHostImports feeds arbitrary command streams to the hostcalls guest,
// so arbitrary frames, pointers and lengths reach every host import. Guest
// traps are fine; a Go runtime error in a host import (which wazero would
// recover into a trap) is a bug.
func FuzzHostImports(f *testing.F) {
	f.Add(sqlCmd(64, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT ?", Args: []abi.Value{abi.Text("x")}}))
	f.Add(sqlCmd(8, abi.SQLRequest{Op: abi.OpBegin}))
	f.Add(cmd(opConfigGet, 2, []byte("k")))
	f.Add(cmd(opFetch, 16, abi.AppendFetchRequest(nil, &abi.FetchRequest{URL: "http://denied.example/"})))
	f.Add(raw(rawSQL, 0, 40, 0, 8))
	f.Add(raw(rawResult, 4096, 1<<20, 0, 0))
	db, err := sql.Open("sqlite", filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	m := load(f, newTestEngine(f, EngineCompiler), "hostcalls", Config{PoolSize: 1, DB: db,
		Settings: map[string]string{"k": "value"}, AllowHosts: []string{"allowed.invalid"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := serveBody(m, body)
		if err != nil && strings.Contains(err.Error(), "runtime error") {
			t.Fatalf("host import failed: %v", err)
		}
	})
}
