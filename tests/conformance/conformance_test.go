package conformance

import (
	"flag"
	"path/filepath"
	"regexp"
	"strings"
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
// project makes: the native build, and the Go and the Rust module
// (modules/orders-rs, when Debian's Rust toolchain built it) under
// edge-agent serve with the compiler and with the interpreter engine (what
// armv7 and riscv64 boards run), each on SQLite and, with EDGE_TEST_MYSQL,
// on MariaDB. Every build must answer every request as the native build
// does (Compare), and the Rust module exactly as the Go module on the same
// engine, every header included (CompareExact).
func TestConformance(t *testing.T) {
	type target struct {
		name  string
		start func(t *testing.T, dsn func() string) string // dsn creates the target's database
	}
	state := t.TempDir() // one compilation cache for the agents
	serve := func(module func(testing.TB) string, engine string) func(*testing.T, func() string) string {
		return func(t *testing.T, dsn func() string) string {
			wasm := module(t)
			// A long deadline: the suite compares answers, not speed, and
			// the interpreter inserting a body's worth of orders into
			// MariaDB passed the default 30 s on a loaded CI machine.
			_, base := harness.Start(t, agentReady, nil, 2*time.Minute, harness.Bin(t, "edge-agent"),
				"serve", wasm, "--http", "127.0.0.1:0", "--db", dsn(),
				"--data", state, "--engine", engine, "--deadline", "2m")
			return base
		}
	}
	goModule := func(t testing.TB) string { return harness.Bin(t, "orders.wasm") }
	// Skips its targets when the Rust toolchain is missing, fails in CI.
	rustModule := func(t testing.TB) string { return harness.RustBin(t, "orders-rs.wasm") }
	targets := []target{
		{"native", func(t *testing.T, dsn func() string) string {
			_, base := harness.Start(t, nativeReady, nil, time.Minute, harness.Bin(t, "orders-native"), "--http", "127.0.0.1:0", "--db", dsn())
			return base
		}},
		{"compiler", serve(goModule, "compiler")},
		{"interpreter", serve(goModule, "interpreter")},
		{"rust compiler", serve(rustModule, "compiler")},
		{"rust interpreter", serve(rustModule, "interpreter")},
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
					base := tg.start(t, func() string { return db.dsn(t, strings.ReplaceAll(tg.name, " ", "_")) })
					answers[tg.name] = Run(t, Config{BaseURL: base, ExactErrors: true})
				})
			}
			for _, tg := range targets[1:] {
				if answers[tg.name] != nil && answers["native"] != nil {
					Compare(t, "native", answers["native"], tg.name, answers[tg.name])
				}
			}
			for _, engine := range []string{"compiler", "interpreter"} {
				if g, r := answers[engine], answers["rust "+engine]; g != nil && r != nil {
					CompareExact(t, "the Go module on the "+engine, g, "the Rust module", r)
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
