package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/edgeplane/edge/wire"
)

// metricName finds the names of series in a PromQL expression: the
// controller's (edge_), its process's and Go runtime's.
var metricName = regexp.MustCompile(`\b(?:edge|process|go)_[a-zA-Z0-9_:]+\b`)

// TestGrafanaDashboard: every series the sample dashboard in
// deploy/grafana reads exists in the controller's exposition (with a
// device reporting), and the dashboard is well-formed for an import.
func TestGrafanaDashboard(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "grafana", "edge-fleet.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID, Title string
		Panels     []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Name, Query string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard uid %q title %q, %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	exprs := map[string]string{} // expression → where
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs[q.Expr] = "panel " + p.Title
		}
	}
	for _, v := range dash.Templating.List {
		if v.Name != "datasource" {
			exprs[v.Query] = "variable " + v.Name
		}
	}

	s := startServer(t, nil)
	pw := register(t, s, "pi-1")
	d := connectDevice(t, "tcp://"+s.MQTTAddr(), "pi-1", pw)
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: time.Now(),
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning}}})
	d.publish(wire.KindMetrics, false, agentReport("pi-1", 1, time.Now(), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour), 10))
	waitApplied(t, s, 1)
	fams := waitUp(t, s, "pi-1")

	used := 0
	for expr, where := range exprs {
		for _, name := range metricName.FindAllString(expr, -1) {
			used++
			family := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && fams[base].GetType() == dto.MetricType_HISTOGRAM {
					family = base
				}
			}
			if fams[family] == nil {
				t.Errorf("%s reads %s, which /metrics does not serve", where, name)
			}
		}
	}
	if used < 15 {
		t.Errorf("found only %d series names in the dashboard's queries", used)
	}
}
