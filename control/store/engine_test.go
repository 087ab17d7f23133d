package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/edgeplane/edge/internal/dbbind"
)

// The store's tests run on every engine it supports: SQLite always, and
// MySQL/MariaDB when EDGE_TEST_MYSQL names a server
// (mysql://root@127.0.0.1:3306/test), each test in a database of its own
// (edge_store_<random>), dropped after.

// testEnv is one test's state on one engine: a folder, and on MySQL a
// database; every open of it opens the same state.
type testEnv struct {
	engine string
	dir    string
	dsn    string // "" on SQLite
	admin  *sql.DB
}

// eachEngine runs fn once per engine, as a subtest named after it.
func eachEngine(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t, "sqlite")) })
	t.Run("mysql", func(t *testing.T) {
		if os.Getenv("EDGE_TEST_MYSQL") == "" {
			t.Skip("EDGE_TEST_MYSQL not set")
		}
		fn(t, newEnv(t, "mysql"))
	})
}

// newEnv returns a fresh state on engine.
func newEnv(t *testing.T, engine string) *testEnv {
	t.Helper()
	e := &testEnv{engine: engine, dir: t.TempDir()}
	if engine == "mysql" {
		e.dsn, e.admin = testDatabase(t)
	}
	return e
}

// testDatabase creates a database of its own on EDGE_TEST_MYSQL's server
// and returns its URL and a connection to it, dropping it when the test ends.
func testDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	base := os.Getenv("EDGE_TEST_MYSQL")
	admin, err := dbbind.Open(context.Background(), base)
	if err != nil {
		t.Fatalf("EDGE_TEST_MYSQL: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "edge_store_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := dbbind.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
		admin.Close()
	})
	return u.String(), db
}

// open opens the env's state with o (its DB set to the env's).
func (e *testEnv) open(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := e.tryOpen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e *testEnv) tryOpen(o Options) (*Store, error) {
	o.DB = e.dsn
	return Open(context.Background(), e.dir, o)
}

// exec runs SQL on the env's database directly (what an older controller,
// or another one, left there).
func (e *testEnv) exec(t *testing.T, s *Store, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
