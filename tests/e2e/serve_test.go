package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/edgeplane/edge/tests/harness"
)

var (
	agentReady  = regexp.MustCompile(`serving .* on (http://[0-9.:]+)`)
	nativeReady = regexp.MustCompile(`serving on (http://[0-9.:]+)`)
)

// order mirrors the service's JSON.
type order struct {
	OrderID         int64   `json:"order_id"`
	ProductID       int64   `json:"product_id"`
	Quantity        int64   `json:"quantity"`
	Amount          float64 `json:"amount"`
	Shipping        float64 `json:"shipping"`
	Tax             float64 `json:"tax"`
	ShippingAddress string  `json:"shipping_address"`
}

type step struct {
	method, path, body string
	status             int
	// want is the exact body, or for /orders the ids expected in order.
	want string
	ids  []int64
}

// seedWorkflow is the article's curl workflow: init, create_orders with five
// orders, list, delete id 2, list, update order 3, list.
func seedWorkflow(t *testing.T) []step {
	ordersJSON := readFile(t, "deploy/demo/orders.json")
	update := readFile(t, "deploy/demo/update_order.json")
	ok := `{"status":true}`
	return []step{
		{method: "GET", path: "/init", status: 200, want: ok},
		{method: "POST", path: "/create_orders", body: ordersJSON, status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 2, 3, 4, 5}},
		{method: "GET", path: "/delete_order?id=2", status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 3, 4, 5}},
		{method: "POST", path: "/update_order", body: update, status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 3, 4, 5}},
	}
}

// runWorkflow runs steps against base and returns the bodies it got.
func runWorkflow(t *testing.T, base string, steps []step) []string {
	t.Helper()
	var bodies []string
	for _, s := range steps {
		status, body := call(t, s.method, base+s.path, s.body)
		bodies = append(bodies, body)
		if status != s.status {
			t.Fatalf("%s %s = %d %q, want %d", s.method, s.path, status, body, s.status)
		}
		if s.want != "" && body != s.want {
			t.Errorf("%s %s body = %q, want %q", s.method, s.path, body, s.want)
		}
		if s.ids != nil {
			var got []order
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s %s: body %q is not a JSON array of orders: %v", s.method, s.path, body, err)
			}
			var ids []int64
			for _, o := range got {
				ids = append(ids, o.OrderID)
			}
			if !reflect.DeepEqual(ids, s.ids) {
				t.Errorf("%s %s ids = %v, want %v", s.method, s.path, ids, s.ids)
			}
		}
	}
	// The last listing shows order 3 as updated.
	var final []order
	json.Unmarshal([]byte(bodies[len(bodies)-1]), &final)
	want := order{OrderID: 3, ProductID: 12, Quantity: 2, Amount: 56, Shipping: 15, Tax: 2, ShippingAddress: "123 Main St"}
	for _, o := range final {
		if o.OrderID == 3 && o != want {
			t.Errorf("order 3 after update = %+v, want %+v", o, want)
		}
	}
	return bodies
}

// startAgent runs edge-agent serve on the order service and returns its URL.
func startAgent(t *testing.T, dsn string, extra ...string) (*proc, string) {
	args := append([]string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--db", dsn, "--data", sharedState(t)}, extra...)
	return start(t, agentReady, nil, bin(t, "edge-agent"), args...)
}

var (
	sharedOnce sync.Once
	sharedDir  string
)

// sharedState is a --data folder for serve that the tests of this process
// share, so that each module is compiled once rather than once per test
// (a cold compile of orders.wasm takes seconds on a loaded machine). The
// agents that use it are started one after another, never at once (see
// wazero issue #2547 in RATIONALE.md).
func sharedState(t *testing.T) string {
	sharedOnce.Do(func() {
		d, err := os.MkdirTemp("", "edge-e2e-state")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = d
	})
	return sharedDir
}

func startNative(t *testing.T, dsn string) (*proc, string) {
	return start(t, nativeReady, nil, bin(t, "orders-native"), "--http", "127.0.0.1:0", "--db", dsn)
}

// TestSeedWorkflowSQLite runs the workflow on the Wasm build under the agent
// and on the native build, each with its own SQLite file, and requires
// byte-identical answers: the native build is the same source.
func TestSeedWorkflowSQLite(t *testing.T) {
	_, wasmURL := startAgent(t, "sqlite:"+filepath.Join(t.TempDir(), "wasm.db"))
	_, nativeURL := startNative(t, "sqlite:"+filepath.Join(t.TempDir(), "native.db"))
	steps := seedWorkflow(t)
	wasm := runWorkflow(t, wasmURL, steps)
	native := runWorkflow(t, nativeURL, steps)
	for i := range steps {
		if wasm[i] != native[i] {
			t.Errorf("%s %s: wasm %q, native %q", steps[i].method, steps[i].path, wasm[i], native[i])
		}
	}
}

// TestSeedWorkflowMySQL runs the workflow against the machine's MariaDB, each
// build in a database of its own so parallel test packages cannot collide.
func TestSeedWorkflowMySQL(t *testing.T) {
	for _, build := range []string{"wasm", "native"} {
		t.Run(build, func(t *testing.T) {
			dsn := mysqlDatabase(t)
			var base string
			if build == "wasm" {
				_, base = startAgent(t, dsn)
			} else {
				_, base = startNative(t, dsn)
			}
			runWorkflow(t, base, seedWorkflow(t))
		})
	}
}

// TestDatabaseURLEnv checks the seed's way of naming the database.
func TestDatabaseURLEnv(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "env.db")
	args := []string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "state")}
	_, base := start(t, agentReady, []string{"DATABASE_URL=" + dsn}, bin(t, "edge-agent"), args...)
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("GET /init with DATABASE_URL = %d %q", status, body)
	}
	if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:")); err != nil {
		t.Errorf("DATABASE_URL database not created: %v", err)
	}
}

// TestDatabaseDown: a MySQL binding to a closed port starts, answers 503
// with a JSON error, and keeps serving the endpoints that need no database.
func TestDatabaseDown(t *testing.T) {
	_, base := startAgent(t, "mysql://u:p@127.0.0.1:1/db")
	status, body := call(t, "GET", base+"/orders", "")
	if status != 503 || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /orders with the database down = %d %q, want 503 with a JSON error", status, body)
	}
	if status, _ := call(t, "GET", base+"/", ""); status != 200 {
		t.Errorf("GET / with the database down = %d, want 200", status)
	}
}

// TestDemoScript runs make demo's script once through (DEMO_ONESHOT).
func TestDemoScript(t *testing.T) {
	bin(t, "edge-agent") // builds every program unless EDGE_BIN is set
	cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "demo.sh"))
	cmd.Env = append(os.Environ(), "DEMO_ONESHOT=1", "BIN="+harness.BinDir(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}
	// The script deploys through edge-control and edgectl push: its
	// progress ends with the device running the module.
	// Then the telemetry module: readings over MQTT from a sensor device,
	// an alert above the threshold, the window in key-value state and the
	// order count from a call to the order service (5 orders by then).
	for _, want := range []string{`{"status":true}`, `"shipping_address":"123 Main St"`, "(HTTP 400)", "demo-1: running",
		`alert received:`, `"value":35.5}`, `"sensor-1/t1":{"count":4,"window":4,"min":21.5,"max":35.5`, `"orders":5}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
