package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgeplane/edge/internal/dbbind"
)

// With EDGE_TEST_CONTROL_DB=mysql (and EDGE_TEST_MYSQL naming a server),
// every controller these tests start keeps its state in MySQL/MariaDB
// instead of SQLite: the whole suite then runs on the other engine. Each
// data folder gets a database of its own (a restarted controller finds its
// state again), dropped when the test ends.
var (
	testDBsMu sync.Mutex
	testDBs   = map[string]string{} // data folder → database URL
)

func testDB(t *testing.T, dataDir string) string {
	t.Helper()
	if os.Getenv("EDGE_TEST_CONTROL_DB") != "mysql" {
		return ""
	}
	base := os.Getenv("EDGE_TEST_MYSQL")
	if base == "" {
		t.Fatal("EDGE_TEST_CONTROL_DB=mysql needs EDGE_TEST_MYSQL")
	}
	testDBsMu.Lock()
	defer testDBsMu.Unlock()
	if dsn, ok := testDBs[dataDir]; ok {
		return dsn
	}
	dsn := newTestDatabase(t, base, func() {
		testDBsMu.Lock()
		delete(testDBs, dataDir)
		testDBsMu.Unlock()
	})
	testDBs[dataDir] = dsn
	return dsn
}

// newTestDatabase creates a database of its own on base's server and
// returns its URL; the database is dropped when the test ends, after
// cleanup (if not nil).
func newTestDatabase(t *testing.T, base string, cleanup func()) string {
	t.Helper()
	admin, err := dbbind.Open(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "edge_control_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name)
		admin.Close()
		if cleanup != nil {
			cleanup()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// stateDB opens the database of the controller of dataDir directly (to
// leave there what an older controller could have).
func stateDB(t *testing.T, dataDir string) *sql.DB {
	t.Helper()
	testDBsMu.Lock()
	dsn, ok := testDBs[dataDir]
	testDBsMu.Unlock()
	var db *sql.DB
	var err error
	if ok {
		db, err = dbbind.Open(context.Background(), dsn)
	} else {
		db, err = sql.Open("sqlite", filepath.Join(dataDir, "control.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}
