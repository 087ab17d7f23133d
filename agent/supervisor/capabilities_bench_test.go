package supervisor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// BenchmarkModuleCall: what a module-to-module call costs, against a
// direct function call in the guest. Two worker processes of the
// capabilities guest: a calls b's /ping through the call import (the
// caller's host sends the request to b's listener, b's host serves it);
// "direct" is a's loop calling the same handler code as a Go function.
// guest-ns/call is one call timed inside the guest (Bench-Ns): the
// client's own requests to a are not counted (ns/op counts them).
// docs/BENCHMARKS.md has the figures.
//
//	go test -run '^$' -bench BenchmarkModuleCall -benchtime 2000x ./agent/supervisor
func BenchmarkModuleCall(b *testing.B) {
	s := newSupervisorB(b)
	pa, pb := freePort(b), freePort(b)
	ma := capManifest("a", "1.0.0", pa, nil, "b")
	mb := capManifest("b", "1.0.0", pb, nil)
	for _, m := range []*wire.Manifest{ma, mb} {
		m.Limits.DeadlineMS = 120_000
		if err := s.Deploy(b.Context(), m, copyCapWasm(b, m.Name+".wasm"), nil); err != nil {
			b.Fatal(err)
		}
	}
	a := fmt.Sprintf("http://127.0.0.1:%d", pa)
	// A request makes at most 30 calls (the host allows 32 per request);
	// the guest times its loop, the client's requests are not counted.
	run := func(b *testing.B, query string) {
		benchGet(b, a+"/bench?n=30"+query) // warm: connections, instances
		var ns int64
		for left := b.N; left > 0; left -= 30 {
			ns += benchGet(b, a+"/bench?n="+strconv.Itoa(min(left, 30))+query)
		}
		b.ReportMetric(float64(ns)/float64(b.N), "guest-ns/call")
	}
	b.Run("direct", func(b *testing.B) { run(b, "") })
	b.Run("call", func(b *testing.B) { run(b, "&module=b") })
	b.Run("client", func(b *testing.B) { // a client's GET of b's /ping, for scale
		c := &http.Client{}
		u := fmt.Sprintf("http://127.0.0.1:%d/ping", pb)
		for b.Loop() {
			resp, err := c.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// benchGet runs one /bench request and returns its Bench-Ns.
func benchGet(b *testing.B, u string) int64 {
	b.Helper()
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	ns, _ := strconv.ParseInt(resp.Header.Get("Bench-Ns"), 10, 64)
	return ns
}

func newSupervisorB(b *testing.B) *Supervisor {
	s, err := New(Config{Exe: agentBin, Args: []string{"worker", "--log-level", "warn"},
		DataDir: b.TempDir(), CacheDir: b.TempDir(), ListenHost: "127.0.0.1", Grace: -1, ReadyTimeout: 2 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	return s
}
