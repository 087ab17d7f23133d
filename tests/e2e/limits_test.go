package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/internal/testpeer"
)

// ordersBody returns a JSON array of n orders with ids from first.
func ordersBody(first, n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"order_id":%d,"product_id":%d,"quantity":2,"amount":56.5,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`, first+i, i%100)
	}
	b.WriteByte(']')
	return b.String()
}

// countOrders lists the orders and returns how many there are.
func countOrders(t *testing.T, base string) int {
	t.Helper()
	status, body := call(t, "GET", base+"/orders", "")
	if status != 200 {
		t.Fatalf("GET /orders = %d %.200s", status, body)
	}
	var list []order
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /orders: %v", err)
	}
	return len(list)
}

// TestManyOrders: POST /create_orders with 999 and 5,000 orders (and the
// largest array that fits in the 1 MiB body limit) stores them all. It
// used to answer 500 "database error: create orders" from 999 orders on,
// the host's limit of 1,000 SQL calls per request (one INSERT per order).
func TestManyOrders(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "many.db")}
	if base := mysqlDSNIfSet(t); base != "" {
		dsns["mariadb"] = base
	}
	// The largest array of these orders under 1 MiB.
	maxN := 1 << 20 / len(ordersBody(10000, 1))
	for len(ordersBody(10000, maxN)) > 1<<20 {
		maxN -= 10
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			_, base := startAgent(t, dsn)
			for _, n := range []int{999, 5000, maxN} {
				if status, body := call(t, "GET", base+"/init", ""); status != 200 {
					t.Fatalf("init: %d %s", status, body)
				}
				body := ordersBody(10000, n)
				status, resp := call(t, "POST", base+"/create_orders", body)
				if status != 200 || resp != `{"status":true}` {
					t.Fatalf("create_orders with %d orders (%d bytes) = %d %s, want 200", n, len(body), status, resp)
				}
				if got := countOrders(t, base); got != n {
					t.Errorf("after create_orders with %d orders: %d stored", n, got)
				}
			}
		})
	}
}

// mysqlDSNIfSet is mysqlDatabase when EDGE_TEST_MYSQL is set, else "".
func mysqlDSNIfSet(t *testing.T) string {
	if os.Getenv("EDGE_TEST_MYSQL") == "" {
		t.Log("EDGE_TEST_MYSQL not set: MariaDB not tried")
		return ""
	}
	return mysqlDatabase(t)
}

// TestHostQuotas runs each per-request quota of the host at its limit
// (answered) and one past it: the module gets ErrTooLarge naming the limit
// and answers 413 (the limits test module maps it so; the order service
// does too), never 500. A response over the host's limit is the host's
// 502 naming the limit, and a list larger than one SQL result may hold is
// the order service's 507 naming it.
func TestHostQuotas(t *testing.T) {
	limits := buildGuest(t, "limits")
	web := testpeer.HTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	targets := servingTargets(t, limits, "sqlite:"+filepath.Join(t.TempDir(), "q.db"),
		[]string{"--http-allow", "127.0.0.1"}, worker.Config{AllowHosts: []string{"127.0.0.1"}}, false)
	const respLimit = 8 << 20
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"1,000 SQL calls", "/sql?n=1000", 200, "1000"},
		{"1,001 SQL calls", "/sql?n=1001", 413, "over the host's limit of 1000 SQL calls per request"},
		{"16 fetches", "/fetch?n=16&url=http://" + web + "/", 200, "200"},
		{"17 fetches", "/fetch?n=17&url=http://" + web + "/", 413, "over the host's limit of 16 http_fetch calls per request"},
		{"a response of 8 MiB less its frame", fmt.Sprintf("/respond?n=%d", respLimit-1024), 200, ""},
		{"a response over 8 MiB", fmt.Sprintf("/respond?n=%d", respLimit), 502, fmt.Sprintf("over the limit of %d bytes", respLimit)},
	}
	for _, tg := range targets {
		for _, tt := range tests {
			status, body := call(t, "GET", tg.base+tt.path, "")
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%s: %s: %d %.200q, want %d containing %q", tg.name, tt.name, status, body, tt.status, tt.contains)
			}
		}
	}
}

// TestOrdersListOverResultLimit: a table larger than one SQL result may
// hold (4 MiB) is answered 507 naming the limit, not 500.
func TestOrdersListOverResultLimit(t *testing.T) {
	_, base := startAgent(t, "sqlite:"+filepath.Join(t.TempDir(), "big.db"))
	call(t, "GET", base+"/init", "")
	for i := range 10 { // 10 × 2,500 orders with 256-character addresses
		var b strings.Builder
		b.WriteByte('[')
		for j := range 2500 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"order_id":%d,"product_id":1,"quantity":1,"amount":1.0,"shipping":1.0,"tax":1.0,"shipping_address":"%s"}`,
				i*2500+j, strings.Repeat("a", 256))
		}
		b.WriteByte(']')
		if status, body := call(t, "POST", base+"/create_orders", b.String()); status != 200 {
			t.Fatalf("create_orders: %d %s", status, body)
		}
	}
	status, body := call(t, "GET", base+"/orders", "")
	if status != 507 || !strings.Contains(body, "over the host's limit of 4194304 bytes per SQL result") {
		t.Errorf("GET /orders of 25,000 long orders = %d %.200q, want 507 naming the limit", status, body)
	}
}

// TestSilentDependencies: a MySQL server and an outbound web host that
// accept connections and never answer. Requests that need them get 503
// within the connect timeout (1 s here through the DSN, 3 s by default) or
// the fetch timeout (1 s here, asked by the module; 5 s by default), the
// next ones at once; endpoints that need neither answer at once; no
// instance is abandoned. Before, such requests ended in 504 at the 10 s
// deadline and every other endpoint stalled behind them.
func TestSilentDependencies(t *testing.T) {
	silentDB := testpeer.NewSilent(t)
	silentWeb := testpeer.NewSilent(t)
	limits := buildGuest(t, "limits")
	dbTargets := servingTargets(t, bin(t, "orders.wasm"), "mysql://u:p@"+silentDB.Addr()+"/orders?timeout=1s", nil, worker.Config{}, false)
	webTargets := servingTargets(t, limits, "", []string{"--http-allow", "127.0.0.1"}, worker.Config{AllowHosts: []string{"127.0.0.1"}}, false)
	fetch := "/fetch?ms=1000&url=http://" + silentWeb.Addr() + "/"
	for i, tg := range append(dbTargets, webTargets...) {
		dep, path, first, want := "database", "/orders", 4*time.Second, "database unavailable: list orders"
		if i >= len(dbTargets) {
			dep, path, first, want = "web host", fetch, 4*time.Second, "edge http_fetch"
		}
		t.Run(tg.name+" "+dep, func(t *testing.T) {
			start := time.Now()
			status, body := call(t, "GET", tg.base+path, "")
			if took := time.Since(start); status != 503 || !strings.Contains(body, want) || took > first {
				t.Fatalf("first request: %d %q after %s, want 503 within %s", status, body, took, first)
			}
			// Now 8 requests that need the dependency and 8 that do not,
			// at once: all answered within a second.
			var wg sync.WaitGroup
			for j := range 16 {
				p, wantStatus := path, 503
				if j%2 == 1 {
					p, wantStatus = "/", 200
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					status, body := call(t, "GET", tg.base+p, "")
					if took := time.Since(start); status != wantStatus || took > time.Second {
						t.Errorf("GET %s while the %s is silent: %d %.100q after %s, want %d at once", p, dep, status, body, took, wantStatus)
					}
				}()
			}
			wg.Wait()
			if out := tg.proc.Out.String(); strings.Contains(out, "abandoned") {
				t.Errorf("an instance was abandoned:\n%s", out)
			}
		})
	}
}

// TestGuestLogs: a guest's crash reads as a few records with its stack,
// not hundreds of fragments; a guest that logs in a loop (through the log
// import or stderr) gets its budget, 100 records/s after a burst of 1,000,
// and the agent reports what it dropped.
func TestGuestLogs(t *testing.T) {
	limits := buildGuest(t, "limits")
	targets := servingTargets(t, limits, "", nil, worker.Config{}, false)
	guestRecord := regexp.MustCompile(`(?m)^.*source=guest.*$`)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			before := len(tg.proc.Out.String())
			status, _ := call(t, "GET", tg.base+"/oom", "")
			if status != 500 {
				t.Errorf("GET /oom = %d, want 500", status)
			}
			// The agent's log reaches this test through a pipe: wait for it.
			var crash []string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if crash = guestRecord.FindAllString(tg.proc.Out.String()[before:], -1); len(crash) > 0 {
					time.Sleep(200 * time.Millisecond)
					crash = guestRecord.FindAllString(tg.proc.Out.String()[before:], -1)
					break
				}
			}
			if len(crash) == 0 || len(crash) > 3 || !strings.Contains(crash[0], "out of memory") || !strings.Contains(crash[0], "goroutine") {
				t.Errorf("the crash is %d guest records, want at most 3, the first with the error and its stack:\n%s", len(crash), strings.Join(crash, "\n"))
			}

			// Both ways of logging at once, through two instances: they
			// share the module's budget.
			before = len(tg.proc.Out.String())
			start := time.Now()
			var wg sync.WaitGroup
			for _, loop := range []string{"/logloop?ms=2000", "/printloop?ms=2000"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if status, body := call(t, "GET", tg.base+loop, ""); status != 200 {
						t.Errorf("GET %s = %d %s", loop, status, body)
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			report := regexp.MustCompile(`dropped_records=(\d+)`)
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if report.MatchString(tg.proc.Out.String()[before:]) {
					break
				}
			}
			out := tg.proc.Out.String()[before:]
			kept := len(guestRecord.FindAllString(out, -1))
			if max := 1000 + int(100*took.Seconds()) + 50; kept > max {
				t.Errorf("%d guest records in %s, want at most %d", kept, took, max)
			}
			// 320 KiB of burst, 32 KiB/s, and the records' own fields.
			if max := 2 * (320<<10 + int(32<<10*took.Seconds())); len(out) > max {
				t.Errorf("%d bytes of log in %s, want at most %d", len(out), took, max)
			}
			if !report.MatchString(out) {
				t.Errorf("no report of the dropped records")
			}
			t.Logf("%s: %d records and %d bytes of log in %s; %s", tg.name, kept, len(out), took.Round(time.Millisecond), report.FindString(out))
		})
	}
}
