package dbbind

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/breaker"
	"github.com/edgeplane/edge/internal/testpeer"
)

func TestParse(t *testing.T) {
	tests := []struct {
		dsn     string
		dialect Dialect
		str     string // Binding.String()
		wantErr bool
	}{
		{dsn: "sqlite:/var/lib/edge/orders.db", dialect: SQLite, str: "sqlite:/var/lib/edge/orders.db"},
		{dsn: "sqlite://rel/orders.db", dialect: SQLite, str: "sqlite:rel/orders.db"},
		{dsn: "mysql://user:passwd@127.0.0.1:3306/mysql", dialect: MySQL, str: "mysql://user@127.0.0.1:3306/mysql"},
		{dsn: "mysql://root@db.local/orders", dialect: MySQL, str: "mysql://root@db.local:3306/orders"},
		{dsn: "mysql://u:p@h:1/db?tls=skip-verify&timeout=2s", dialect: MySQL, str: "mysql://u@h:1/db"},
		// Bad input: each must be refused with ErrDSN.
		{dsn: "", wantErr: true},
		{dsn: "sqlite:", wantErr: true},
		{dsn: "sqlite:/tmp/x.db?mode=ro", wantErr: true},
		{dsn: "postgres://u@h/db", wantErr: true},
		{dsn: "/tmp/orders.db", wantErr: true},
		{dsn: "mysql://u:p@h:3306/", wantErr: true},
		{dsn: "mysql://u:p@h:3306", wantErr: true},
		{dsn: "mysql:///db", wantErr: true},
		{dsn: "mysql://u:p@h/db?timeout=soon", wantErr: true},
		{dsn: "mysql://u:p@h/db?timeout=0s", wantErr: true},
		{dsn: "mysql://u:p@h/db?allowAllFiles=true", wantErr: true},
		{dsn: "mysql://u:p@h:port/db", wantErr: true},
	}
	for _, tt := range tests {
		b, err := Parse(tt.dsn)
		if tt.wantErr {
			if !errors.Is(err, ErrDSN) {
				t.Errorf("Parse(%q) error = %v, want ErrDSN", tt.dsn, err)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("Parse(%q) error leaks the password: %v", tt.dsn, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.dsn, err)
			continue
		}
		if b.Dialect != tt.dialect || b.String() != tt.str {
			t.Errorf("Parse(%q) = %s %s, want %s %s", tt.dsn, b.Dialect, b, tt.dialect, tt.str)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mysql://user:secret@h:3306/db", "mysql://user:xxxxx@h:3306/db"},
		{"mysql://user@h:3306/db", "mysql://user@h:3306/db"},
		{"sqlite:/x.db", "sqlite:/x.db"},
		{"mysql://user:sec ret@h:bad/db", "mysql://xxxxx@h:bad/db"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.db")
	db, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"busy_timeout": "5000",
		"foreign_keys": "1",
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// TestSQLiteFolderMustExist: a SQLite path whose folder does not exist
// (a typo) is an error naming it, from Check and from Open, and nothing is
// created; it was an empty new database in a new folder (F9).
func TestSQLiteFolderMustExist(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(dir, "nonexist", "x.db"),
		filepath.Join(dir, "a", "b", "x.db"),
		filepath.Join(file, "x.db"), // a file where the folder should be
	} {
		dsn := "sqlite:" + path
		if err := Check(dsn); !errors.Is(err, ErrNoFolder) || !strings.Contains(err.Error(), path) {
			t.Errorf("Check(%s) = %v, want ErrNoFolder naming the path", dsn, err)
		}
		db, err := Open(context.Background(), dsn)
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, ErrNoFolder) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v, want ErrNoFolder naming the path", dsn, err)
		}
		if _, err := os.Stat(filepath.Dir(path)); err == nil && filepath.Dir(path) != file {
			t.Errorf("Open(%s) created %s", dsn, filepath.Dir(path))
		}
	}
	for _, dsn := range []string{"sqlite:" + filepath.Join(dir, "x.db"), "mysql://u@127.0.0.1:1/db"} {
		if err := Check(dsn); err != nil {
			t.Errorf("Check(%s) = %v, want nil", dsn, err)
		}
	}
	if err := Check("bogus:/x"); !errors.Is(err, ErrDSN) {
		t.Errorf("Check(bogus:/x) = %v, want ErrDSN", err)
	}
}

func TestOpenSQLiteUnwritable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the database file should be: opening must fail now,
	// with the path in the message, not on the first request.
	path := filepath.Join(dir, "db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(directory) error = %v, want one naming %s", err, path)
	}
}

func TestOpenMySQL(t *testing.T) {
	dsn := os.Getenv("EDGE_TEST_MYSQL")
	if dsn == "" {
		t.Skip("EDGE_TEST_MYSQL not set (e.g. mysql://root@127.0.0.1:3306/test); skipping MySQL test")
	}
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestOpenMySQLDown(t *testing.T) {
	// Port 1 on loopback: nothing listens. Open succeeds (the service must
	// start and answer 503), the first query fails fast.
	db, err := Open(context.Background(), "mysql://u:p@127.0.0.1:1/db")
	if err != nil {
		t.Fatalf("Open with the server down: %v", err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil {
		t.Fatal("Ping to a closed port succeeded")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("DATABASE_URL", "mysql://a@b/c")
	if got := FromEnv(""); got != "mysql://a@b/c" {
		t.Errorf("FromEnv(\"\") = %q", got)
	}
	if got := FromEnv("sqlite:x"); got != "sqlite:x" {
		t.Errorf("FromEnv(sqlite:x) = %q", got)
	}
}

// TestMySQLSilentServer: a server that accepts and never answers costs one
// connect timeout, then every new connection fails at once with
// ErrUnavailable; once the server answers again (with EDGE_TEST_MYSQL, the
// silent server starts relaying to it), the binding recovers by itself.
func TestMySQLSilentServer(t *testing.T) {
	srv := testpeer.NewSilent(t)
	base := os.Getenv("EDGE_TEST_MYSQL")
	if base == "" {
		base = "mysql://u:p@127.0.0.1:1/db"
	}
	b, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	real := b.MySQL.Addr
	cfg := *b.MySQL
	cfg.Addr = srv.Addr()
	cfg.Timeout = 500 * time.Millisecond
	db, err := Binding{Dialect: MySQL, MySQL: &cfg}.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	err = db.PingContext(context.Background())
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > 5*time.Second {
		t.Fatalf("first ping: %v after %s, want ErrUnavailable after the 500ms connect timeout", err, took)
	}
	for range 3 {
		start = time.Now()
		err = db.PingContext(context.Background())
		if took := time.Since(start); !errors.Is(err, ErrUnavailable) || !errors.Is(err, breaker.ErrOpen) || took > 400*time.Millisecond {
			t.Fatalf("ping while known down: %v after %s, want ErrUnavailable and ErrOpen at once", err, took)
		}
	}
	if os.Getenv("EDGE_TEST_MYSQL") == "" {
		t.Log("EDGE_TEST_MYSQL not set: recovery not checked")
		return
	}
	srv.Forward(real)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding did not recover after the server answered again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestIsLocal(t *testing.T) {
	ctx := context.Background()
	lite, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	remote, err := Open(ctx, "mysql://u:p@127.0.0.1:1/db") // not dialled by Open
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if !IsLocal(lite) || IsLocal(remote) {
		t.Errorf("IsLocal: sqlite %v, mysql %v; want true, false", IsLocal(lite), IsLocal(remote))
	}
}
