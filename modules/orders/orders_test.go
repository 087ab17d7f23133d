//go:build !wasip1

package orders_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

// The demo's data: orders.json and update_order.json of microservice-rust-mysql.
const (
	seedOrders = `[
 {"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"},
 {"order_id":2,"product_id":15,"quantity":3,"amount":256.0,"shipping":30.0,"tax":16.0,"shipping_address":"1234 NW Bobcat"},
 {"order_id":3,"product_id":11,"quantity":5,"amount":536.0,"shipping":50.0,"tax":24.0,"shipping_address":"20 Havelock"},
 {"order_id":4,"product_id":8,"quantity":8,"amount":126.0,"shipping":20.0,"tax":12.0,"shipping_address":"224 Pandan Loop"},
 {"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}
]`
	seedUpdate = `{"order_id":3,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":5.0,"shipping_address":"8366 Elizabeth St."}`

	o1  = `{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`
	o2  = `{"order_id":2,"product_id":15,"quantity":3,"amount":256.0,"shipping":30.0,"tax":16.0,"shipping_address":"1234 NW Bobcat"}`
	o3  = `{"order_id":3,"product_id":11,"quantity":5,"amount":536.0,"shipping":50.0,"tax":24.0,"shipping_address":"20 Havelock"}`
	o4  = `{"order_id":4,"product_id":8,"quantity":8,"amount":126.0,"shipping":20.0,"tax":12.0,"shipping_address":"224 Pandan Loop"}`
	o5  = `{"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}`
	o3u = `{"order_id":3,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":5.0,"shipping_address":"8366 Elizabeth St."}`

	statusTrue = `{"status":true}`
)

// openSQLite opens a fresh SQLite file the way the native server does.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := dbbind.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "orders.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newHandler(t *testing.T, db *sql.DB) http.Handler {
	t.Helper()
	return sdk.NativeHandler(orders.New(db, orders.WithLog(func(l sdk.Level, msg string) {
		t.Logf("service log (level %d): %s", l, msg)
	})))
}

type step struct {
	name       string
	method     string
	target     string
	body       string
	wantStatus int
	wantBody   string // exact, unless wantError
	wantError  bool   // a JSON {"error":"..."} body
	wantAllow  string
}

func (s step) run(t *testing.T, h http.Handler) {
	t.Helper()
	req := httptest.NewRequest(s.method, s.target, strings.NewReader(s.body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	got := rec.Body.String()
	if rec.Code != s.wantStatus {
		t.Fatalf("%s %s: status %d (body %s), want %d", s.method, s.target, rec.Code, got, s.wantStatus)
	}
	if s.wantError {
		var e struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: body %q, want a JSON error object (%v)", s.method, s.target, got, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q, want application/json", s.method, s.target, ct)
		}
	} else if got != s.wantBody {
		t.Fatalf("%s %s: body\n%s\nwant\n%s", s.method, s.target, got, s.wantBody)
	}
	if got := rec.Header().Get("Allow"); got != s.wantAllow {
		t.Errorf("%s %s: Allow %q, want %q", s.method, s.target, got, s.wantAllow)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers": "api,Keep-Alive,User-Agent,Content-Type",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s %s: %s = %q, want %q", s.method, s.target, k, got, want)
		}
	}
}

func list(orders ...string) string { return "[" + strings.Join(orders, ",") + "]" }

// TestSeedWorkflow replays the demo's curl session.
func TestSeedWorkflow(t *testing.T) {
	h := newHandler(t, openSQLite(t))
	for _, s := range []step{
		{name: "init", method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
		{name: "create five", method: "POST", target: "/create_orders", body: seedOrders, wantStatus: 200, wantBody: statusTrue},
		{name: "list five", method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o1, o2, o3, o4, o5)},
		{name: "delete 2", method: "GET", target: "/delete_order?id=2", wantStatus: 200, wantBody: statusTrue},
		{name: "list without 2", method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o1, o3, o4, o5)},
		{name: "update 3", method: "POST", target: "/update_order", body: seedUpdate, wantStatus: 200, wantBody: statusTrue},
		{name: "list with 3 updated", method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o1, o3u, o4, o5)},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, h) })
	}
}

// TestEndpoints runs each endpoint alone on a fresh database.
func TestEndpoints(t *testing.T) {
	tests := []struct {
		name  string
		setup []step
		check step
	}{
		{name: "root", check: step{method: "GET", target: "/", wantStatus: 200, wantBody: orders.Endpoints}},
		{name: "echo", check: step{method: "POST", target: "/echo", body: "hello\x00world", wantStatus: 200, wantBody: "hello\x00world"}},
		{name: "echo empty", check: step{method: "POST", target: "/echo", wantStatus: 200, wantBody: ""}},
		{name: "init twice", setup: []step{{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}},
			check: step{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}},
		{name: "orders empty", setup: []step{{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}},
			check: step{method: "GET", target: "/orders", wantStatus: 200, wantBody: "[]"}},
		{name: "create_order", setup: []step{
			{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_order", body: o4, wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_order", body: o1, wantStatus: 200, wantBody: statusTrue},
		}, check: step{method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o1, o4)}},
		{name: "create_orders empty array", setup: []step{
			{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_orders", body: ` [ ] `, wantStatus: 200, wantBody: statusTrue},
		}, check: step{method: "GET", target: "/orders", wantStatus: 200, wantBody: "[]"}},
		{name: "fractional amounts and unicode address", setup: []step{
			{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_order", body: `{"order_id":7,"product_id":1,"quantity":1,"amount":0.1,"shipping":1e-7,"tax":-2.5,"shipping_address":"Straße \"7\" <b>"}`, wantStatus: 200, wantBody: statusTrue},
		}, check: step{method: "GET", target: "/orders", wantStatus: 200,
			wantBody: `[{"order_id":7,"product_id":1,"quantity":1,"amount":0.1,"shipping":1e-7,"tax":-2.5,"shipping_address":"Straße \"7\" \u003cb\u003e"}]`}},
		{name: "unknown fields are ignored", setup: []step{
			{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_order", body: `{"note":{"x":[1,2]},` + o1[1:], wantStatus: 200, wantBody: statusTrue},
		}, check: step{method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o1)}},
		{name: "address of exactly 256 characters", setup: []step{
			{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue},
			{method: "POST", target: "/create_order", body: withAddress(strings.Repeat("é", 256)), wantStatus: 200, wantBody: statusTrue},
		}, check: step{method: "GET", target: "/orders", wantStatus: 200, wantBody: list(withAddress(strings.Repeat("é", 256)))}},
		{name: "update missing order succeeds as in the demo", setup: []step{{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}},
			check: step{method: "POST", target: "/update_order", body: seedUpdate, wantStatus: 200, wantBody: statusTrue}},
		{name: "delete missing order succeeds as in the demo", setup: []step{{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}},
			check: step{method: "GET", target: "/delete_order?id=99", wantStatus: 200, wantBody: statusTrue}},
		// The recorder keeps the body; net/http drops it on the wire (see
		// the sdk's TestServeMuxHead and tests/conformance).
		{name: "head on a GET endpoint runs it", check: step{method: "HEAD", target: "/", wantStatus: 200, wantBody: orders.Endpoints}},
		{name: "options on a known path", check: step{method: "OPTIONS", target: "/orders", wantStatus: 200, wantBody: ""}},
		{name: "options on an unknown path", check: step{method: "OPTIONS", target: "/nowhere", wantStatus: 200, wantBody: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, openSQLite(t))
			for _, s := range tt.setup {
				s.run(t, h)
			}
			tt.check.run(t, h)
		})
	}
}

func withAddress(addr string) string {
	b, _ := json.Marshal(addr)
	return `{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":` + string(b) + `}`
}

// TestBadInput sends each kind of bad request the demo crashed on, and
// checks that nothing was written to the database.
func TestBadInput(t *testing.T) {
	bad := func(method, target, body string) step {
		return step{method: method, target: target, body: body, wantStatus: 400, wantError: true}
	}
	tests := []struct {
		name string
		step step
	}{
		{"malformed JSON (truncated)", bad("POST", "/create_order", `{"order_id":1,`)},
		{"empty body", bad("POST", "/create_order", ``)},
		{"not JSON at all", bad("POST", "/create_order", `order_id=1`)},
		{"quantity is a string", bad("POST", "/create_order", strings.Replace(o1, `"quantity":2`, `"quantity":"abc"`, 1))},
		{"quantity has a fraction", bad("POST", "/create_order", strings.Replace(o1, `"quantity":2`, `"quantity":2.5`, 1))},
		{"amount is a string", bad("POST", "/create_order", strings.Replace(o1, `"amount":56.0`, `"amount":"56"`, 1))},
		{"tax is null", bad("POST", "/create_order", strings.Replace(o1, `"tax":2.0`, `"tax":null`, 1))},
		{"shipping_address is a number", bad("POST", "/create_order", strings.Replace(o1, `"Mataderos 2312"`, `2312`, 1))},
		{"order_id over 32 bits", bad("POST", "/create_order", strings.Replace(o1, `"order_id":1`, `"order_id":2147483648`, 1))},
		{"missing field tax", bad("POST", "/create_order", strings.Replace(o1, `"tax":2.0,`, ``, 1))},
		{"field given twice", bad("POST", "/create_order", strings.Replace(o1, `"tax":2.0`, `"tax":2.0,"tax":3.0`, 1))},
		{"address of 257 characters", bad("POST", "/create_order", withAddress(strings.Repeat("a", 257)))},
		{"data after the object", bad("POST", "/create_order", o1+` {}`)},
		{"array where an object is expected", bad("POST", "/create_order", `[`+o1+`]`)},
		{"object where an array is expected", bad("POST", "/create_orders", o1)},
		{"one bad order in the array", bad("POST", "/create_orders", `[`+o1+`,{"order_id":"x"}]`)},
		{"update with malformed JSON", bad("POST", "/update_order", `{"order_id":3`)},
		{"update with a missing field", bad("POST", "/update_order", `{"order_id":3}`)},
		{"delete without id", bad("GET", "/delete_order", ``)},
		{"delete with empty id", bad("GET", "/delete_order?id=", ``)},
		{"delete with non-integer id", bad("GET", "/delete_order?id=abc", ``)},
		{"delete with fractional id", bad("GET", "/delete_order?id=1.5", ``)},
		{"wrong method on /create_order", step{method: "GET", target: "/create_order", wantStatus: 405, wantError: true, wantAllow: "POST"}},
		{"wrong method on /orders", step{method: "POST", target: "/orders", body: "[]", wantStatus: 405, wantError: true, wantAllow: "GET, HEAD"}},
		{"wrong method on /delete_order", step{method: "DELETE", target: "/delete_order?id=1", wantStatus: 405, wantError: true, wantAllow: "GET, HEAD"}},
		{"unknown path", step{method: "GET", target: "/order", wantStatus: 404, wantError: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, openSQLite(t))
			step{method: "GET", target: "/init", wantStatus: 200, wantBody: statusTrue}.run(t, h)
			step{method: "POST", target: "/create_order", body: o5, wantStatus: 200, wantBody: statusTrue}.run(t, h)
			tt.step.run(t, h)
			step{method: "GET", target: "/orders", wantStatus: 200, wantBody: list(o5)}.run(t, h)
		})
	}
}

// TestDatabaseErrors checks the two classes of database failure.
func TestDatabaseErrors(t *testing.T) {
	t.Run("no table yet gives 500", func(t *testing.T) {
		h := newHandler(t, openSQLite(t))
		step{method: "GET", target: "/orders", wantStatus: 500, wantError: true}.run(t, h)
		step{method: "POST", target: "/create_order", body: o1, wantStatus: 500, wantError: true}.run(t, h)
	})
	t.Run("unreachable database gives 503", func(t *testing.T) {
		// Port 1 on loopback refuses connections: a MySQL server that is down.
		db, err := sql.Open("mysql", "edge:edge@tcp(127.0.0.1:1)/orders?timeout=2s")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		h := newHandler(t, db)
		for _, s := range []step{
			{method: "GET", target: "/init", wantStatus: 503, wantError: true},
			{method: "GET", target: "/orders", wantStatus: 503, wantError: true},
			{method: "POST", target: "/create_orders", body: seedOrders, wantStatus: 503, wantError: true},
			{method: "POST", target: "/update_order", body: seedUpdate, wantStatus: 503, wantError: true},
			{method: "GET", target: "/delete_order?id=1", wantStatus: 503, wantError: true},
			// The service keeps serving what needs no database.
			{method: "GET", target: "/", wantStatus: 200, wantBody: orders.Endpoints},
		} {
			s.run(t, h)
		}
	})
}
