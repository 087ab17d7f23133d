package wasmhost

import (
	"context"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
)

// BenchmarkServeEcho: one warm call on the echo guest, per deadline mode.
func BenchmarkServeEcho(b *testing.B) {
	for _, mode := range []DeadlineMode{DeadlineInterrupt, DeadlineFast} {
		b.Run(mode.String(), func(b *testing.B) {
			m := load(b, newTestEngine(b, EngineCompiler), "echo", Config{PoolSize: 1, Deadline: mode})
			req := &abi.Request{Method: "POST", URI: "/orders", Body: []byte(`{"order_id":1,"quantity":2}`)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Serve(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
