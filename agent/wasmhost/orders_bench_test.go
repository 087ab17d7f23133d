package wasmhost

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

// The order service end to end: bin/orders.wasm under the host against the
// same source built natively, both over a fresh SQLite file seeded with the
// demo's orders. Build the guest first (make bin/orders.wasm); without it
// the Wasm benchmarks skip. EDGE_ORDERS_WASM names another build to load.
//
//	go test -run '^$' -bench 'Orders' ./agent/wasmhost

func ordersDB(b testing.TB) *sql.DB {
	b.Helper()
	db, err := dbbind.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "orders.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// seedOrders resets the table and inserts the demo's orders through h.
func seedOrders(b testing.TB, h http.Handler) {
	b.Helper()
	seed, err := os.ReadFile(filepath.Join("..", "..", "deploy", "demo", "orders.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/init", nil),
		httptest.NewRequest("POST", "/create_orders", bytes.NewReader(seed)),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			b.Fatalf("%s %s: %d %s", r.Method, r.URL, rec.Code, rec.Body)
		}
	}
}

// benchRequests serves method path (with body) over and over. Besides
// ns/op it reports cpu-ns/op, the process's CPU time (user + system, all
// threads: the instance's goroutine and the collector too) per request,
// which a busy machine inflates far less than wall time.
func benchRequests(b *testing.B, h http.Handler, method, path string, payload []byte) {
	b.Helper()
	rec := httptest.NewRecorder()
	body := bytes.NewReader(payload)
	req := httptest.NewRequest(method, path, body)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		rec.Body.Reset()
		rec.Code = 200
		body.Reset(payload)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var ordersBenchPaths = []struct {
	name, method, path string
	body               []byte
}{
	{"root", "GET", "/", nil},
	{"orders", "GET", "/orders", nil},
	{"create_order", "POST", "/create_order", []byte(`{"order_id":6,"product_id":7,"quantity":4,"amount":99.5,"shipping":5.25,"tax":7.75,"shipping_address":"1 Infinite Loop"}`)},
}

func BenchmarkOrdersWasm(b *testing.B) {
	path := os.Getenv("EDGE_ORDERS_WASM") // to compare builds; default bin/orders.wasm
	if path == "" {
		path = filepath.Join("..", "..", "bin", "orders.wasm")
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("no bin/orders.wasm (make bin/orders.wasm): %v", err)
	}
	for _, mode := range []DeadlineMode{DeadlineInterrupt, DeadlineFast} {
		b.Run(mode.String(), func(b *testing.B) {
			e := newTestEngine(b, EngineCompiler)
			m, err := e.Load(context.Background(), wasm, Config{Name: "orders", PoolSize: 1, Deadline: mode, DB: ordersDB(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close(context.Background()) })
			h := m.Handler()
			seedOrders(b, h)
			for _, p := range ordersBenchPaths {
				b.Run(p.name, func(b *testing.B) { benchRequests(b, h, p.method, p.path, p.body) })
			}
		})
	}
}

func BenchmarkOrdersNative(b *testing.B) {
	h := sdk.NativeHandler(orders.New(ordersDB(b)))
	seedOrders(b, h)
	for _, p := range ordersBenchPaths {
		b.Run(p.name, func(b *testing.B) { benchRequests(b, h, p.method, p.path, p.body) })
	}
}
