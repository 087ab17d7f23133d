package supervisor

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/logring"
	"github.com/edgeplane/edge/wire"
)

// TestModuleMetricsAcrossSwitch: the metrics of a version come from its
// worker's heartbeats with the worker's memory and CPU; during and after a
// switch the version that stopped is reported once more with its final
// counters (for the report that covers it), then only the serving one.
// The switch closes ServingChanged, and both workers' lines reach the
// module's log ring.
func TestModuleMetricsAcrossSwitch(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	s.cfg.Args = []string{"worker"} // info level: "worker ready" is logged
	s.cfg.Logs = logring.NewSet()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	changed := s.ServingChanged()
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("ServingChanged not closed by the first deploy")
	}
	for range 10 {
		if code, err := get(http.DefaultClient, base+"/"); err != nil || code != 200 {
			t.Fatalf("GET /: %d %v", code, err)
		}
	}
	var v1 wire.ModuleMetrics
	waitUntil(t, "10 requests on 1.0.0", func() bool {
		ms := s.ModuleMetrics(time.Time{})
		if len(ms) == 1 && ms[0].Requests == 10 {
			v1 = ms[0]
			return true
		}
		return false
	})
	if v1.Name != "orders" || v1.Version != "1.0.0" || v1.RSSBytes <= 0 || v1.PSSBytes <= 0 || v1.CPUSeconds <= 0 ||
		v1.Instances < 1 || v1.Latency.Count() != 10 || v1.Responses2xx != 10 || v1.CompileSeconds <= 0 {
		t.Errorf("1.0.0 metrics %+v", v1)
	}

	since := time.Now()
	if err := deploy(t, s, manifest("2.0.0", port, "/"), copyWasm(t, "v2.wasm")); err != nil {
		t.Fatal(err)
	}
	ms := s.ModuleMetrics(since)
	if len(ms) != 2 || ms[0].Version != "1.0.0" || ms[1].Version != "2.0.0" {
		t.Fatalf("after the switch, since before it: %+v, want 1.0.0 (ended) and 2.0.0", ms)
	}
	if ms[0].Requests != 10 || !ms[0].Start.Equal(v1.Start) {
		t.Errorf("1.0.0's final counters: %d requests, start %v; want 10 since %v", ms[0].Requests, ms[0].Start, v1.Start)
	}
	if ms := s.ModuleMetrics(time.Now()); len(ms) != 1 || ms[0].Version != "2.0.0" || ms[0].RSSBytes <= 0 {
		t.Errorf("since now: %+v, want 2.0.0 only", ms)
	}
	b := s.cfg.Logs.Answer(wire.LogRequest{ID: "x", Module: "orders"})
	var text []string
	versions := map[string]bool{}
	for _, l := range b.Lines {
		text = append(text, l.Version+" "+l.Level+" "+l.Msg)
		if strings.HasPrefix(l.Msg, "worker ready") {
			versions[l.Version] = true
		}
	}
	if !versions["1.0.0"] || !versions["2.0.0"] {
		t.Errorf("module log ring lacks \"worker ready\" of both versions:\n%s", strings.Join(text, "\n"))
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
