package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/tests/loadgen"
)

// TestPushRustModule deploys the Rust order service with edgectl push like
// any module: a device serving the Go module gets orders-rs.wasm as its
// next version under load without one failed request, keeps its orders,
// and then answers the seed workflow exactly as the Go module did.
func TestPushRustModule(t *testing.T) {
	rsWasm := harness.RustBin(t, "orders-rs.wasm")
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "rs")...)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "rs", port); code != 0 {
		t.Fatalf("push the Go module 1.0.0 = %d\n%s", code, out)
	}
	steps := seedWorkflow(t)
	goBodies := runWorkflow(t, base, steps)
	seeded := getOrders(t, base)

	ctx, cancel := context.WithCancel(context.Background())
	load := make(chan loadgen.Result, 1)
	go func() {
		load <- loadgen.Run(ctx, loadgen.Config{Method: "GET", URL: base + "/orders", Concurrency: 4, Duration: 5 * time.Minute})
	}()
	time.Sleep(200 * time.Millisecond)
	out, _, code := f.push(t, rsWasm, "1.1.0", "rs", port)
	cancel()
	res := <-load
	if code != 0 {
		t.Fatalf("push the Rust module 1.1.0 = %d\n%s", code, out)
	}
	t.Logf("load during Go 1.0.0 -> Rust 1.1.0: %s", res)
	if res.Failures != 0 || res.Requests == 0 {
		t.Errorf("%d of %d requests failed during the switch to Rust: %v", res.Failures, res.Requests+res.Failures, res.FirstErr)
	}
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after the switch to Rust /orders = %q, want the Go module's %q", got, seeded)
	}
	rsBodies := runWorkflow(t, base, steps)
	for i := range steps {
		if rsBodies[i] != goBodies[i] {
			t.Errorf("%s %s: Rust %q, Go %q", steps[i].method, steps[i].path, rsBodies[i], goBodies[i])
		}
	}
}
