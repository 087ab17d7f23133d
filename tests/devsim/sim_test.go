package devsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgeplane/edge/control/server"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

func startControl(t *testing.T) *server.Server {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hc = harness.Client(s.NewAdminToken())
	t.Setenv("EDGE_TOKEN", s.NewAdminToken()) // for edgectl.Run
	return s
}

// hc sends the admin token of the controller the test started.
var hc *http.Client

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// applied reads how many reports the controller applied.
func applied(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams["edge_ingest_reports_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "result" && l.GetValue() == "applied" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestSimulatedFleet: a short run of 20 simulated devices against a real
// controller: registered and connected with their own credentials, every
// report applied, each device online and serving, a push of a new version
// followed through events to the serving version, log requests answered.
func TestSimulatedFleet(t *testing.T) {
	s := startControl(t)
	base := "http://" + s.HTTPAddr()
	ctx := context.Background()
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim-%02d", i)
	}
	creds, err := Register(ctx, base, s.NewAdminToken(), ids, 4)
	if err != nil {
		t.Fatal(err)
	}
	sim := New(Config{Broker: s.MQTTAddr(), Interval: 200 * time.Millisecond, RequestRate: 50})
	devs := sim.Add(creds...)
	for _, d := range devs {
		d.Serve("orders", "1.0.0", 8080)
	}
	if err := sim.Connect(ctx, devs, 8); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sim.Run(runCtx); close(done) }()
	time.Sleep(time.Second)
	stop()
	<-done
	st := sim.Stats()
	if st.Published < 40 || st.Failed != 0 {
		t.Fatalf("published %d reports, %d failed; want at least 40 and none failed", st.Published, st.Failed)
	}
	deadline := time.Now().Add(10 * time.Second)
	for applied(t, base) < float64(st.Published) {
		if time.Now().After(deadline) {
			t.Fatalf("controller applied %v of %d reports", applied(t, base), st.Published)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var devices []wire.Device
	getJSON(t, base+"/api/v1/devices", &devices)
	if len(devices) != len(ids) {
		t.Fatalf("%d devices listed, want %d", len(devices), len(ids))
	}
	for _, d := range devices {
		if !d.Online || d.Metrics == nil || d.Status == nil || len(d.Status.Modules) != 1 || d.Status.Modules[0].Version != "1.0.0" {
			t.Errorf("device %s: online %v, metrics %v, status %+v", d.ID, d.Online, d.Metrics != nil, d.Status)
		}
	}

	// Logs are answered from the device's ring.
	var b wire.LogBatch
	getJSON(t, base+"/api/v1/devices/sim-03/logs?module=orders", &b)
	if len(b.Lines) == 0 || !strings.HasPrefix(b.Lines[0].Msg, "orders: ") {
		t.Errorf("logs of sim-03 = %+v", b)
	}

	// A dropped device's Will marks it offline.
	devs[0].Drop()
	deadline = time.Now().Add(10 * time.Second)
	for {
		var d wire.Device
		getJSON(t, base+"/api/v1/devices/"+devs[0].ID, &d)
		if !d.Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dropped device still online")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
