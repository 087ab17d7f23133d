package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgeplane/edge/wire"
)

// TestPrometheusExposition parses the agent's /metrics with Prometheus's
// own text parser and checks the series a dashboard reads.
func TestPrometheusExposition(t *testing.T) {
	lat := wire.NewHistogram()
	for _, d := range []time.Duration{300 * time.Microsecond, 2 * time.Millisecond, 2 * time.Millisecond, 20 * time.Second} {
		lat.Observe(d)
	}
	c := NewCollector(Sources{
		Start:   time.Unix(1700000000, 0),
		Agent:   wire.AgentMetrics{Version: "1.2.3", Board: "rpi4", Arch: "arm64", Engine: "compiler"},
		DataDir: t.TempDir(),
		Modules: func(time.Time) []wire.ModuleMetrics {
			return []wire.ModuleMetrics{{Name: "orders", Version: "1.0.0", Requests: 4, Responses2xx: 3, Responses5xx: 1, Latency: lat, Instances: 2}}
		},
		Broker: func() (bool, uint64) { return true, 3 },
	})
	status := func() []wire.ModuleStatus {
		return []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning}, {Name: "new\"one", State: wire.StateFetching}}
	}
	srv := httptest.NewServer(Handler(c, status, func() uint64 { return 5 }))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("Prometheus cannot parse it: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	mod := map[string]string{"module": "orders", "version": "1.0.0"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edge_device_info", map[string]string{"board": "rpi4", "arch": "arm64", "agent_version": "1.2.3"}, 1},
		{"edge_agent_broker_connected", nil, 1},
		{"edge_agent_broker_reconnects_total", nil, 3},
		{"edge_agent_metrics_dropped_total", nil, 5},
		{"edge_agent_start_time_seconds", nil, 1700000000},
		{"edge_module_requests_total", mod, 4},
		{"edge_module_responses_total", map[string]string{"module": "orders", "class": "5xx"}, 1},
		{"edge_module_instances", mod, 2},
		{"edge_module_request_duration_seconds", mod, 4},
		{"edge_module_info", map[string]string{"module": "new\"one", "state": "fetching"}, 1},
	} {
		if got := value(tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	h := fams["edge_module_request_duration_seconds"].Metric[0].Histogram
	var prev uint64
	for _, b := range h.Bucket {
		if b.GetCumulativeCount() < prev {
			t.Errorf("bucket le=%v count %d below the previous %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
		if b.GetUpperBound() == 0.001 && prev != 1 || b.GetUpperBound() == 0.0025 && prev != 3 {
			t.Errorf("bucket le=%v = %d", b.GetUpperBound(), prev)
		}
	}
	if h.GetSampleSum() != lat.Sum || value("edge_agent_rss_bytes", nil) <= 0 {
		t.Errorf("sum %v, want %v; or no agent RSS", h.GetSampleSum(), lat.Sum)
	}
	if !strings.Contains(string(body), "process_cpu_seconds_user_total") && !strings.Contains(string(body), "process_cpu_seconds_total") {
		t.Errorf("no process metrics")
	}
	if value("go_goroutines", nil) <= 0 {
		t.Errorf("no go_goroutines")
	}
}
