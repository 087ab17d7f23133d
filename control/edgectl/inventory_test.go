package edgectl

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/server"
	"github.com/edgeplane/edge/tests/devsim"
	"github.com/edgeplane/edge/wire"
)

// realFleet is a real controller with one simulated device, pi-1, that
// serves orders 1.5.0 on 8081 after refusing 1.7.0, has sent metrics and
// answers log requests, and one registered device, pi-2, never seen.
type realFleet struct {
	control string
	dev     *devsim.Device
}

func startRealFleet(t *testing.T) *realFleet {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	ctx := context.Background()
	s, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	control := "http://" + s.HTTPAddr()
	t.Setenv("EDGE_TOKEN", s.NewAdminToken()) // edgectl reads it (config.go)
	creds, err := devsim.Register(ctx, control, s.NewAdminToken(), []string{"pi-1", "pi-2"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	sim := devsim.New(devsim.Config{Broker: s.MQTTAddr(), Labels: map[string]string{"site": "north"}, AgentVersion: "1.2.0", Board: "rpi4", Arch: "arm64"})
	d := sim.Add(creds[0])[0]
	d.Serve("orders", "1.5.0", 8081)
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.PublishEvent(ctx, wire.Event{Module: "orders", Version: "1.5.0", State: wire.StateRunning, Time: now.Add(-time.Minute)}))
	must(d.PublishEvent(ctx, wire.Event{Module: "orders", Version: "1.7.0", State: wire.StateRejected, Reason: "signature by unknown key", Time: now.Add(-30 * time.Second)}))
	st := d.Status()
	st.Time = now
	st.Modules[0].Attempt = &wire.ModuleAttempt{Version: "1.7.0", State: wire.StateRejected, Reason: "signature by unknown key", Time: now.Add(-30 * time.Second)}
	must(d.PublishStatus(ctx, st))
	for range 3 {
		must(d.Tick(ctx, 10*time.Second))
	}
	f := &realFleet{control: control, dev: d}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, _ := run(t, "device", "show", "pi-1", "--json", "--control", control)
		var det wire.DeviceDetail
		if code == ExitOK && json.Unmarshal([]byte(out), &det) == nil && det.Device.Metrics != nil && det.Device.Metrics.Seq == 3 && len(det.Errors) == 1 {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not take pi-1's reports: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// TestInventoryCommands runs devices, device show, modules, history and
// logs against a real controller and a device speaking the real protocol.
func TestInventoryCommands(t *testing.T) {
	f := startRealFleet(t)
	ctl := []string{"--control", f.control}
	cmd := func(args ...string) (int, string, string) { return run(t, append(args, ctl...)...) }

	code, out, errs := cmd("devices")
	if code != ExitOK {
		t.Fatalf("devices: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("devices printed %d lines, want a header and one per device:\n%s", len(lines), out)
	}
	wantLines(t, "devices header", lines[0], "DEVICE", "MODULE", "SERVING", "PORT", "STATE", "LAST ATTEMPT")
	wantLines(t, "devices pi-1", lines[1], "pi-1", "yes", "orders", "1.5.0", "8081", "running", "1.7.0 rejected: signature by unknown key")
	wantLines(t, "devices pi-2", lines[2], "pi-2", "no", "never")
	code, out, _ = cmd("devices", "--json")
	var devs []wire.Device
	if err := json.Unmarshal([]byte(out), &devs); code != ExitOK || err != nil || len(devs) != 2 ||
		devs[0].Status.Modules[0].Version != "1.5.0" || devs[0].Status.Modules[0].Attempt.Version != "1.7.0" {
		t.Errorf("devices --json: exit %d, %v: %s", code, err, out)
	}

	code, out, _ = cmd("device", "show", "pi-1")
	if code != ExitOK {
		t.Fatalf("device show: exit %d", code)
	}
	wantLines(t, "device show", out, "pi-1 (online", "edge-agent 1.2.0, arm64, board rpi4", "site=north", "LAST ATTEMPT",
		"1.7.0 rejected: signature by unknown key", "RECENT ERRORS", "REQUESTS", "broker      connected")
	if code, _, errs := cmd("device", "show", "nope"); code != ExitFailed || !strings.Contains(errs, "Not Found: device nope") {
		t.Errorf("device show nope: exit %d, %q", code, errs)
	}

	code, out, _ = cmd("modules")
	wantLines(t, "modules", out, "orders", "1.5.0 on 1 (pi-1)", "LATEST ATTEMPT NOT SERVING", "pi-1", "1.7.0 rejected")
	var ms []wire.ModuleSummary
	if code2, js, _ := cmd("modules", "--json"); code != ExitOK || code2 != ExitOK || json.Unmarshal([]byte(js), &ms) != nil || len(ms) != 1 || ms[0].Serving != 1 {
		t.Errorf("modules --json: %s", js)
	}

	code, out, errs = cmd("history", "orders", "--device", "pi-1", "--since", "10m")
	if code != ExitOK {
		t.Fatalf("history: exit %d: %s", code, errs)
	}
	wantLines(t, "history", out, "orders on pi-1, since 10m, 1m0s steps", "req/s", "REQ/S", "5XX/S", "P99")
	var h wire.History
	if code, js, _ := cmd("history", "orders", "--json"); code != ExitOK || json.Unmarshal([]byte(js), &h) != nil || len(h.Points) == 0 || h.Points[len(h.Points)-1].Requests <= 0 {
		t.Errorf("history --json of the fleet: exit %d: %s", code, js)
	}
	code, out, _ = cmd("history", "--device", "pi-1")
	wantLines(t, "agent history", out, "agent of pi-1", "CPU", "RSS")
	for _, tc := range []struct {
		args []string
		want int
		msg  string // in stderr
	}{
		{[]string{"history"}, ExitUsage, ""},
		{[]string{"history", "orders", "--step", "90s"}, ExitUsage, `step "90s": want whole minutes`},
		{[]string{"history", "orders", "--step", "1ns"}, ExitUsage, `step "1ns": want whole minutes`},
		{[]string{"history", "a/b"}, ExitUsage, ""},
		{[]string{"logs"}, ExitUsage, ""},
		{[]string{"logs", "pi-1", "orders", "extra"}, ExitUsage, ""},
		{[]string{"logs", "pi-1", "--max", "100000"}, ExitUsage, "--max 100000: want 1..500"},
		{[]string{"logs", "pi-1", "--max", "0"}, ExitUsage, "--max 0: want 1..500"}, // not "every line"
		{[]string{"logs", "pi-1", "--max", "-1"}, ExitUsage, "--max -1: want 1..500"},
		{[]string{"logs", "pi-2"}, ExitTimeout, ""}, // offline: 504
	} {
		if code, _, errs := cmd(tc.args...); code != tc.want || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d (%s), want %d and %q", tc.args, code, strings.TrimSpace(errs), tc.want, tc.msg)
		}
	}

	code, out, errs = cmd("logs", "pi-1", "orders")
	if code != ExitOK || !strings.Contains(out, "orders: ") {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	var all, b wire.LogBatch
	if code, js, _ := cmd("logs", "pi-1", "orders", "--json"); code != ExitOK || json.Unmarshal([]byte(js), &all) != nil || len(all.Lines) < 3 {
		t.Fatalf("logs --json: exit %d: %s", code, js)
	}
	// --max N is the newest N lines, as tail (it was the oldest N).
	if code, js, _ := cmd("logs", "pi-1", "orders", "--json", "--max", "2"); code != ExitOK || json.Unmarshal([]byte(js), &b) != nil ||
		len(b.Lines) != 2 || b.Lines[1] != all.Lines[len(all.Lines)-1] || b.Lines[0] != all.Lines[len(all.Lines)-2] {
		t.Errorf("logs --json --max 2: exit %d: got %s, want the last 2 of %d lines", code, js, len(all.Lines))
	}
	// A module the device does not hold: an error, not an empty answer.
	if code, out, errs := cmd("logs", "pi-1", "ordres"); code != ExitFailed || !strings.Contains(errs, "ordres is not deployed on pi-1") ||
		!strings.Contains(errs, "orders") {
		t.Errorf("logs of a module not deployed: exit %d, stdout %q, stderr %q; want 1 naming it and what the device runs", code, out, errs)
	}
}

// TestLogsFollow: logs -f prints the lines there are, then the new ones,
// until interrupted (exit 0).
func TestLogsFollow(t *testing.T) {
	f := startRealFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"logs", "pi-1", "orders", "-f", "--control", f.control}, &out, &errb)
	}()
	time.Sleep(500 * time.Millisecond)
	if err := f.dev.Tick(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(followEvery + time.Second)
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("logs -f: exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), "orders: "); n != 4 {
		t.Errorf("logs -f printed %d lines, want the 3 there were and the new one, once each:\n%s", n, out.String())
	}
}
