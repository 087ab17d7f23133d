package rust

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/tests/harness"
)

// BenchmarkProbe measures the JSON work of the order service in a Rust
// guest with the SDK's reader and writer against serde_json: the two
// builds of serde-probe/ (see its README.md) named by EDGE_PROBE_HAND and
// EDGE_PROBE_SERDE. POST /decode reads the demo's five orders; GET /encode
// writes them. Fast deadline mode, so the numbers are the guest code's own
// and not the interrupt checks' (which tax both builds' loops alike).
func BenchmarkProbe(b *testing.B) {
	body := []byte(harness.ReadFile(b, "deploy/demo/orders.json"))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, build := range []struct{ name, env string }{{"hand", "EDGE_PROBE_HAND"}, {"serde", "EDGE_PROBE_SERDE"}} {
		b.Run(build.name, func(b *testing.B) {
			path := os.Getenv(build.env)
			if path == "" {
				b.Skipf("%s not set: build serde-probe (tests/rust/serde-probe/README.md)", build.env)
			}
			wasm, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			e, err := wasmhost.NewEngine(wasmhost.EngineConfig{Kind: wasmhost.EngineCompiler, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			m, err := e.Load(context.Background(), wasm, wasmhost.Config{Name: build.name, PoolSize: 1, Deadline: wasmhost.DeadlineFast})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close(context.Background()) })
			for _, r := range []abi.Request{
				{Method: "GET", URI: "/nothing"}, // the cost of a call: 404 from the guest
				{Method: "POST", URI: "/decode", Body: body},
				{Method: "GET", URI: "/encode"},
			} {
				b.Run(r.URI[1:], func(b *testing.B) {
					want := map[string]int{"/nothing": 404}[r.URI]
					if want == 0 {
						want = 200
					}
					for b.Loop() {
						resp, err := m.Serve(context.Background(), &r)
						if err != nil || resp.Status != want || bytes.Equal(resp.Body, []byte("0")) {
							b.Fatalf("%s %s: %d %q %v", r.Method, r.URI, resp.Status, resp.Body, err)
						}
					}
				})
			}
		})
	}
}
