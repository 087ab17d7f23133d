package wasmhost

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

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

func benchRequests(b *testing.B, h http.Handler, method, path string) {
	b.Helper()
	rec := httptest.NewRecorder()
	body := bytes.NewReader(nil)
	req := httptest.NewRequest(method, path, body)
	b.ReportAllocs()
	for b.Loop() {
		rec.Body.Reset()
		rec.Code = 200
		body.Reset(nil)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
}

var ordersBenchPaths = []struct{ name, method, path string }{
	{"root", "GET", "/"},
	{"orders", "GET", "/orders"},
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
				b.Run(p.name, func(b *testing.B) { benchRequests(b, h, p.method, p.path) })
			}
		})
	}
}

func BenchmarkOrdersNative(b *testing.B) {
	h := sdk.NativeHandler(orders.New(ordersDB(b)))
	seedOrders(b, h)
	for _, p := range ordersBenchPaths {
		b.Run(p.name, func(b *testing.B) { benchRequests(b, h, p.method, p.path) })
	}
}
