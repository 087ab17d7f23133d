package conformance

import (
	"flag"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

var baseURL = flag.String("url", "", "base `URL` of an order service to check (its database is reset)")

// TestURL checks the service at -url, e.g.
//
//	go test ./tests/conformance -run TestURL -url http://127.0.0.1:8080
//
// Error messages are only checked for shape (-exact to compare them too).
var exact = flag.Bool("exact", false, "with -url: compare error bodies byte for byte")

func TestURL(t *testing.T) {
	if *baseURL == "" {
		t.Skip("no -url given")
	}
	Run(t, Config{BaseURL: *baseURL, ExactErrors: *exact})
}

var (
	agentReady  = regexp.MustCompile(`serving .* on (http://[0-9.:]+)`)
	nativeReady = regexp.MustCompile(`serving on (http://[0-9.:]+)`)
)

// TestConformance runs the suite on every build of the order service this
// project makes: the native build and the Wasm build under edge-agent
// serve with the compiler and with the interpreter engine (what armv7 and
// riscv64 boards run), each on SQLite and, with EDGE_TEST_MYSQL, on
// MariaDB; and requires all of them to answer every request alike.
func TestConformance(t *testing.T) {
	type target struct {
		name  string
		start func(t *testing.T, dsn string) string
	}
	state := t.TempDir() // one compilation cache for the agents
	serve := func(engine string) func(*testing.T, string) string {
		return func(t *testing.T, dsn string) string {
			_, base := harness.Start(t, agentReady, nil, 2*time.Minute, harness.Bin(t, "edge-agent"),
				"serve", harness.Bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--db", dsn,
				"--data", state, "--engine", engine)
			return base
		}
	}
	targets := []target{
		{"native", func(t *testing.T, dsn string) string {
			_, base := harness.Start(t, nativeReady, nil, time.Minute, harness.Bin(t, "orders-native"), "--http", "127.0.0.1:0", "--db", dsn)
			return base
		}},
		{"compiler", serve("compiler")},
		{"interpreter", serve("interpreter")},
	}
	databases := []struct {
		name string
		dsn  func(t *testing.T, target string) string
	}{
		{"sqlite", func(t *testing.T, target string) string {
			return "sqlite:" + filepath.Join(t.TempDir(), target+".db")
		}},
		{"mariadb", mysqlDatabase},
	}
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			answers := map[string]map[string]Answer{}
			for _, tg := range targets {
				t.Run(tg.name, func(t *testing.T) {
					base := tg.start(t, db.dsn(t, tg.name))
					answers[tg.name] = Run(t, Config{BaseURL: base, ExactErrors: true})
				})
			}
			for _, tg := range targets[1:] {
				if answers[tg.name] != nil && answers["native"] != nil {
					Compare(t, "native", answers["native"], tg.name, answers[tg.name])
				}
			}
		})
	}
}

// mysqlDatabase creates a database of its own on EDGE_TEST_MYSQL for one
// target and returns its DSN; it is dropped when the test ends.
func mysqlDatabase(t *testing.T, target string) string {
	return harness.MySQLDatabase(t, "conformance_"+target)
}
