package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestFleetMetrics is the "Done when" of issue 8: two real agents serving
// real traffic, and within 30 s of the traffic ending the controller's
// Prometheus /metrics counts exactly what the load generator sent to each
// device, `edgectl devices --json` names the serving version of both, and a
// push by label reached a freshly started labelled agent that had never
// received a desired state. (The dashboard's Chromium test against a real
// agent is TestDashboardRealAgent.)
func TestFleetMetrics(t *testing.T) {
	f := startFleet(t)
	north := append(f.device(t, "fm-north"), "--label", "site=north", "--metrics-interval", "1s")
	south := append(f.device(t, "fm-south"), "--label", "site=south", "--metrics-interval", "1s")
	start(t, agentRunning, nil, bin(t, "edge-agent"), north...)
	start(t, agentRunning, nil, bin(t, "edge-agent"), south...)
	for _, id := range []string{"fm-north", "fm-south"} {
		eventually(t, id+" online", func() bool {
			var d wire.Device
			status, body := call(t, "GET", f.control+wire.APIPrefix+"/devices/"+id, "")
			return status == 200 && json.Unmarshal([]byte(body), &d) == nil && d.Online
		})
	}

	ports := map[string]int{"fm-north": freePort(t), "fm-south": freePort(t)}
	key := filepath.Join(f.keyDir, "edge.key")
	// By label: fm-north has only ever said hello.
	if out, errOut, code := edgectl(t, "push", bin(t, "orders.wasm"), "--control", f.control, "--key", key,
		"--name", "orders", "--version", "1.0.0", "--label", "site=north", "--db", "sqlite",
		"--port", fmt.Sprint(ports["fm-north"]), "--wait", "2m"); code != 0 {
		t.Fatalf("push --label site=north to a fresh labelled agent = exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "fm-south", ports["fm-south"]); code != 0 {
		t.Fatalf("push to fm-south = exit %d\n%s", code, out)
	}

	base := func(id string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[id]) }
	sent := map[string]map[int]int{"fm-north": load(t, base("fm-north")+"/", 120), "fm-south": load(t, base("fm-south")+"/", 80)}
	for k, v := range load(t, base("fm-south")+"/missing", 20) {
		sent["fm-south"][k] += v
	}
	if sent["fm-north"][200] != 120 || sent["fm-south"][200] != 80 || sent["fm-south"][404] != 20 {
		t.Fatalf("load generator got %v, want fm-north 120×200, fm-south 80×200 and 20×404", sent)
	}
	done := time.Now()

	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"edge_module_requests_total", map[string]string{"device": "fm-north", "module": "orders", "version": "1.0.0"}, 120},
		{"edge_module_requests_total", map[string]string{"device": "fm-south", "module": "orders", "version": "1.0.0"}, 100},
		{"edge_module_responses_total", map[string]string{"device": "fm-north", "module": "orders", "version": "1.0.0", "class": "2xx"}, 120},
		{"edge_module_responses_total", map[string]string{"device": "fm-south", "module": "orders", "version": "1.0.0", "class": "2xx"}, 80},
		{"edge_module_responses_total", map[string]string{"device": "fm-south", "module": "orders", "version": "1.0.0", "class": "4xx"}, 20},
		{"edge_module_request_duration_seconds_count", map[string]string{"device": "fm-north", "module": "orders", "version": "1.0.0"}, 120},
		{"edge_device_up", map[string]string{"device": "fm-south"}, 1},
	}
	var body string
	deadline := done.Add(30 * time.Second)
	for {
		var status int
		status, body = call(t, "GET", f.control+"/metrics", "")
		missing := 0
		for _, w := range want {
			if v, ok := sample(body, w.name, w.labels); status != 200 || !ok || v != w.value {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				v, ok := sample(body, w.name, w.labels)
				t.Errorf("controller /metrics: %s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value)
			}
			t.Fatalf("not within 30 s of the traffic's end")
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("controller /metrics matched the load generator %v after the traffic ended", time.Since(done).Round(time.Millisecond))

	out, errOut, code := edgectl(t, "devices", "--control", f.control, "--json")
	if code != 0 {
		t.Fatalf("edgectl devices --json = %d\n%s", code, errOut)
	}
	var devs []wire.Device
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("edgectl devices --json: %v\n%s", err, out)
	}
	serving := map[string]string{}
	for _, d := range devs {
		if d.Status != nil {
			for _, m := range d.Status.Modules {
				if m.Name == "orders" && m.State == wire.StateRunning {
					serving[d.ID] = m.Version + fmt.Sprintf(" on %d", m.Port)
				}
			}
		}
	}
	for id, p := range ports {
		if want := fmt.Sprintf("1.0.0 on %d", p); serving[id] != want {
			t.Errorf("edgectl devices --json: %s serves %q, want %q\n%s", id, serving[id], want, out)
		}
	}
}

// sample finds one sample of a Prometheus text exposition by metric name
// and a subset of its labels.
func sample(exposition, name string, labels map[string]string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		matched := 0
		for _, kv := range strings.Split(set, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if uq, err := strconv.Unquote(v); err == nil && labels[k] == uq {
				matched++
			}
		}
		if matched == len(labels) {
			f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
			return f, err == nil
		}
	}
	return 0, false
}
