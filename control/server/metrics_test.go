package server

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgeplane/edge/wire"
)

// scrape reads the controller's /metrics and parses it as Prometheus
// does.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp := get(t, s, "/metrics")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// waitUp waits until the controller applied a status of device (statuses
// and metrics take different paths: the reports may be applied first),
// and returns the scrape that shows it.
func waitUp(t *testing.T, s *Server, device string) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	eventually(t, device+"'s status applied", func() bool {
		fams = scrape(t, s)
		return value(sample(fams, "edge_device_up", map[string]string{"device": device})) == 1
	})
	return fams
}

// sample finds the metric of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

// deviceSeries counts the series of every family that carry device=id.
func deviceSeries(fams map[string]*dto.MetricFamily, id string) int {
	n := 0
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "device" && l.GetValue() == id {
					n++
				}
			}
		}
	}
	return n
}

// agentReport is a metrics report as an agent sends it: one module
// version with requests, 1 in 10 a 5xx, all in the 5–10 ms bucket.
func agentReport(id string, seq uint64, at, agentStart, workerStart time.Time, requests uint64) wire.Metrics {
	h := wire.NewHistogram()
	h.Counts[4] = requests
	h.Sum = float64(requests) * 0.007
	return wire.Metrics{Device: id, Seq: seq, Time: at,
		Agent: wire.AgentMetrics{Start: agentStart, Version: "1.2.0", Board: "rpi4", Arch: "arm64", Engine: "compiler",
			RSSBytes: 12 << 20, CPUSeconds: float64(seq), DiskFree: 1 << 30, Connected: true},
		Modules: []wire.ModuleMetrics{{Name: "orders", Version: "1.0.0", Start: workerStart, Requests: requests,
			Responses2xx: requests - requests/10, Responses5xx: requests / 10, Latency: h, Instances: 2, RSSBytes: 50 << 20}}}
}

// waitApplied waits until the controller applied n reports in total.
func waitApplied(t *testing.T, s *Server, n float64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	eventually(t, fmt.Sprintf("%v reports applied", n), func() bool {
		fams = scrape(t, s)
		return value(sample(fams, "edge_ingest_reports_total", map[string]string{"result": "applied"})) >= n
	})
	return fams
}

// TestMetricsExposition publishes real reports as a registered device
// through the embedded broker and checks /metrics against them: counters
// accumulate increases across a worker restart, late and malformed
// reports change nothing and are counted, the serving version and the
// device are described, and the histogram has the fixed buckets.
func TestMetricsExposition(t *testing.T) {
	s := startServer(t, nil)
	pw := register(t, s, "pi-1")
	register(t, s, "pi-2") // registered, never connected
	d := connectDevice(t, "tcp://"+s.MQTTAddr(), "pi-1", pw)
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: time.Now(), AgentVersion: "1.2.0", Arch: "arm64", Board: "rpi4", Engine: "compiler",
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning, Port: 8081}}})
	agent, w1, w2 := time.Now().Add(-time.Hour), time.Now().Add(-time.Minute), time.Now()
	at := time.Now()
	d.publish(wire.KindMetrics, false, agentReport("pi-1", 1, at, agent, w1, 100))
	d.publish(wire.KindMetrics, false, agentReport("pi-1", 2, at.Add(10*time.Second), agent, w1, 250))
	d.publish(wire.KindMetrics, false, agentReport("pi-1", 2, at.Add(10*time.Second), agent, w1, 250)) // duplicate
	d.publish(wire.KindMetrics, false, []byte(`{"device":"pi-1","seq":`))                              // malformed
	d.publish(wire.KindMetrics, false, agentReport("pi-1", 3, at.Add(20*time.Second), agent, w2, 30))  // worker restarted
	waitApplied(t, s, 3)
	fams := waitUp(t, s, "pi-1")

	mod := map[string]string{"device": "pi-1", "module": "orders", "version": "1.0.0"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edge_module_requests_total", mod, 250 + 30},
		{"edge_module_responses_total", map[string]string{"device": "pi-1", "class": "5xx"}, 25 + 3},
		{"edge_module_responses_total", map[string]string{"device": "pi-1", "class": "2xx"}, 225 + 27},
		{"edge_module_instances", mod, 2},
		{"edge_module_worker_rss_bytes", mod, 50 << 20},
		{"edge_module_info", map[string]string{"device": "pi-1", "module": "orders", "version": "1.0.0", "state": "running"}, 1},
		{"edge_device_up", map[string]string{"device": "pi-1"}, 1},
		{"edge_device_up", map[string]string{"device": "pi-2"}, 0},
		{"edge_device_info", map[string]string{"device": "pi-1", "agent_version": "1.2.0", "board": "rpi4", "arch": "arm64", "engine": "compiler"}, 1},
		{"edge_agent_rss_bytes", map[string]string{"device": "pi-1"}, 12 << 20},
		{"edge_agent_cpu_seconds_total", map[string]string{"device": "pi-1"}, 3},
		{"edge_agent_disk_free_bytes", map[string]string{"device": "pi-1"}, 1 << 30},
		{"edge_ingest_reports_total", map[string]string{"result": "late"}, 1},
		{"edge_ingest_reports_total", map[string]string{"result": "malformed"}, 1},
		{"edge_ingest_counter_resets_total", nil, 1},
	} {
		if got := value(sample(fams, tc.name, tc.labels)); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	h := sample(fams, "edge_module_request_duration_seconds", mod)
	if h == nil || h.Histogram == nil {
		t.Fatal("no latency histogram")
	}
	if h.Histogram.GetSampleCount() != 280 || len(h.Histogram.Bucket) != len(wire.LatencyBuckets)+1 {
		t.Errorf("histogram: %d samples in %d buckets, want 280 in %d and +Inf", h.Histogram.GetSampleCount(), len(h.Histogram.Bucket), len(wire.LatencyBuckets))
	}
	for _, b := range h.Histogram.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.01 {
			want = 280
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines", "edge_broker_clients_connected",
		"edge_broker_messages_received_total", "edge_broker_messages_dropped_total", "edge_ingest_lag_seconds", "edge_ingest_queue_length"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	if got := value(sample(fams, "edge_broker_clients_connected", nil)); got < 2 {
		t.Errorf("broker clients = %v, want the device and the controller", got)
	}
	if known, online := value(sample(fams, "edge_devices", nil)), value(sample(fams, "edge_devices_online", nil)); known != 2 || online != 1 {
		t.Errorf("edge_devices %v, online %v; want 2 and 1", known, online)
	}

	// /metrics/controller: the controller's own health, no fleet series.
	resp := get(t, s, "/metrics/controller")
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	ctl, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"edge_ingest_reports_total", "edge_devices_online", "edge_broker_clients_connected", "process_resident_memory_bytes"} {
		if ctl[name] == nil {
			t.Errorf("/metrics/controller lacks %s", name)
		}
	}
	for name := range ctl {
		if strings.HasPrefix(name, "edge_device_") || strings.HasPrefix(name, "edge_module_") || strings.HasPrefix(name, "edge_agent_") {
			t.Errorf("/metrics/controller serves the fleet series %s", name)
		}
	}
}

// TestMetricsSeriesBounded: a device that sends junk (many modules it was
// never given, a new set of versions in every report, versions that are
// not versions, text where a board name goes) adds a bounded number of
// series: at most wire.MaxModules modules with two versions each, the
// desired module among them.
func TestMetricsSeriesBounded(t *testing.T) {
	s := startServer(t, nil)
	pw := register(t, s, "junk-1")
	d := connectDevice(t, "tcp://"+s.MQTTAddr(), "junk-1", pw)
	blob := moduleBytes(1 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	sg := newSigner(t)
	env := sg.sign(t, "zz-wanted", "1.0.0", blob, wire.Targets{Nodes: []string{"junk-1"}})
	wantCode(t, "deploy", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, nil), 201)
	d.publish(wire.KindStatus, true, wire.Status{Device: "junk-1", Online: true, Time: time.Now(), Board: strings.Repeat("b", 10000), Arch: "x"})

	h := wire.NewHistogram()
	start := time.Now().Add(-time.Hour)
	const rounds = 30
	for r := range rounds {
		m := wire.Metrics{Device: "junk-1", Seq: uint64(r + 1), Time: start.Add(time.Duration(r) * time.Second),
			Agent: wire.AgentMetrics{Start: start, Version: strings.Repeat("v", 5000), Board: strings.Repeat("b", 5000)}}
		for i := range 2 * wire.MaxModules {
			name, v := fmt.Sprintf("junk%02d", i%40), fmt.Sprintf("%d.%d.0", r, i)
			if i == 0 {
				name = "zz-wanted"
			}
			if i%5 == 0 {
				v = strings.Repeat("x", 40)
			}
			m.Modules = append(m.Modules, wire.ModuleMetrics{Name: name, Version: v, Start: start, Requests: uint64(r), Latency: h})
		}
		d.publish(wire.KindMetrics, false, m)
	}
	fams := waitApplied(t, s, rounds)
	versions := map[string]int{}
	for _, m := range fams["edge_module_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.Label {
			l[p.GetName()] = p.GetValue()
		}
		if l["device"] == "junk-1" {
			versions[l["module"]]++
		}
	}
	if len(versions) > wire.MaxModules {
		t.Errorf("%d modules exposed, want at most %d", len(versions), wire.MaxModules)
	}
	for m, n := range versions {
		if n > 2 {
			t.Errorf("module %s: %d versions exposed, want at most 2", m, n)
		}
	}
	// The desired module's junk version is not a version: dropped; its
	// name is kept first whenever it comes with a valid one.
	// Per series: requests, 5 classes, traps, timeouts, restarts,
	// rejections, sql calls, sql seconds, cpu, logs dropped, histogram,
	// instances, rss, pss, start = 19; per device 14 more at most.
	limit := wire.MaxModules*2*19 + wire.MaxModules + 20
	if n := deviceSeries(fams, "junk-1"); n > limit {
		t.Errorf("%d series for one device, want at most %d", n, limit)
	}
	if got := value(sample(fams, "edge_ingest_module_entries_capped_total", nil)); got <= 0 {
		t.Errorf("capped entries = %v, want some", got)
	}
	for _, m := range fams["edge_device_info"].GetMetric() {
		for _, l := range m.Label {
			if len(l.GetValue()) > 64 {
				t.Errorf("label %s of %d bytes, want at most 64", l.GetName(), len(l.GetValue()))
			}
		}
	}
}
