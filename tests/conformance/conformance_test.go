package conformance

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
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
			return serveModule(t, module(t), engine, dsn(), state)
		}
	}
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

// serveModule serves the module wasm with edge-agent serve on engine and
// the database dsn, and returns its base URL.
func serveModule(t *testing.T, wasm, engine, dsn, state string) string {
	// A long deadline: the suite compares answers, not speed, and the
	// interpreter inserting a body's worth of orders into MariaDB passed
	// the default 30 s on a loaded CI machine.
	_, base := harness.Start(t, agentReady, nil, 2*time.Minute, harness.Bin(t, "edge-agent"),
		"serve", wasm, "--http", "127.0.0.1:0", "--db", dsn,
		"--data", state, "--engine", engine, "--deadline", "2m")
	return base
}

func goModule(t testing.TB) string { return harness.Bin(t, "orders.wasm") }

// rustModule skips its targets when the Rust toolchain is missing, fails
// in CI.
func rustModule(t testing.TB) string { return harness.RustBin(t, "orders-rs.wasm") }

// TestPagingOverResultLimit (fault F18): 25,000 orders with 256-character
// addresses, more than one SQL result of the host may hold (4 MiB). GET
// /orders answers 507 naming the limit and the paging parameters; GET
// /orders/count counts them; GET /orders?limit=1000 and the Links list
// them all, in order, in 25 pages. The Go and the Rust module, on the
// compiler engine (the interpreter adds minutes, not coverage: the cases
// of Run page on it), on SQLite and MariaDB, answer byte for byte alike.
func TestPagingOverResultLimit(t *testing.T) {
	const batches, perBatch = 10, 2500
	state := t.TempDir()
	for _, db := range []string{"sqlite", "mariadb"} {
		t.Run(db, func(t *testing.T) {
			answers := map[string]map[string]Answer{}
			for _, m := range []struct {
				name   string
				module func(testing.TB) string
			}{{"go", goModule}, {"rust", rustModule}} {
				t.Run(m.name, func(t *testing.T) {
					dsn := "sqlite:" + filepath.Join(t.TempDir(), "big.db")
					if db == "mariadb" {
						dsn = mysqlDatabase(t, "big_"+m.name)
					}
					base := serveModule(t, m.module(t), "compiler", dsn, state)
					r := &runner{cfg: Config{BaseURL: base}.withDefaults()}
					r.client = &http.Client{Timeout: r.cfg.Timeout}
					answers[m.name] = overResultLimit(t, r, batches, perBatch)
				})
			}
			if answers["go"] != nil && answers["rust"] != nil {
				CompareExact(t, "the Go module", answers["go"], "the Rust module", answers["rust"])
			}
		})
	}
}

// overResultLimit stores batches × perBatch long orders and checks the
// full listing, the count and the pages; it returns the answers.
func overResultLimit(t *testing.T, r *runner, batches, perBatch int) map[string]Answer {
	r.must(t, Request{Method: "GET", Target: "/init"})
	address := strings.Repeat("a", 256)
	rows := make([]string, perBatch)
	for i := range batches {
		for j := range rows {
			rows[j] = fmt.Sprintf(`{"order_id":%d,"product_id":1,"quantity":1,"amount":1.0,"shipping":1.0,"tax":1.0,"shipping_address":"%s"}`,
				i*perBatch+j, address)
		}
		r.must(t, Request{Method: "POST", Target: "/create_orders", Body: "[" + strings.Join(rows, ",") + "]"})
	}
	n := batches * perBatch
	answers := map[string]Answer{}
	full, err := r.do(Request{Method: "GET", Target: "/orders"})
	want := errBody("list orders: result over the host's limit of 4194304 bytes per SQL result; " +
		"page through them with GET /orders?limit=N&after=ID (N up to 1000, ID the last order_id of the page before)")
	if err != nil || full.Status != 507 || full.Body != want {
		t.Errorf("GET /orders of %d long orders = %d %.300q (%v), want 507 %s", n, full.Status, full.Body, err, want)
	}
	answers["GET /orders"] = full
	count := r.must(t, Request{Method: "GET", Target: "/orders/count"})
	if wantCount := fmt.Sprintf(`{"count":%d}`, n); count.Body != wantCount {
		t.Errorf("GET /orders/count = %q, want %q", count.Body, wantCount)
	}
	answers["GET /orders/count"] = count
	pages, joined := r.follow(t, n, 1000)
	for i, p := range pages {
		answers[fmt.Sprintf("page %d", i+1)] = p
	}
	var list []struct {
		OrderID int `json:"order_id"`
	}
	if err := json.Unmarshal([]byte(joined), &list); err != nil {
		t.Fatalf("the pages joined: %v", err)
	}
	for i, o := range list {
		if o.OrderID != i {
			t.Fatalf("order %d of the pages joined has id %d, want %d (%d orders)", i, o.OrderID, i, len(list))
		}
	}
	if len(list) != n {
		t.Errorf("the pages joined hold %d orders, want %d", len(list), n)
	}
	return answers
}

// mysqlDatabase creates a database of its own on EDGE_TEST_MYSQL for one
// target and returns its DSN; it is dropped when the test ends.
func mysqlDatabase(t *testing.T, target string) string {
	return harness.MySQLDatabase(t, "conformance_"+target)
}
