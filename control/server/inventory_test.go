package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// TestTruthfulInventory: the API shows per module the version that
// serves, its port and state, and the last attempt with its reason when
// it differs, whether the agent reports in the contract's terms or, like
// agents before it, names the last attempt in Version; events newer than
// the status move the serving version and last_good at once.
func TestTruthfulInventory(t *testing.T) {
	s := startServer(t, nil)
	pw := register(t, s, "pi-1")
	d := connectDevice(t, "tcp://"+s.MQTTAddr(), "pi-1", pw)
	blob := moduleBytes(1 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	sg := newSigner(t)
	var dep wire.Deployment
	env := sg.sign(t, "orders", "1.5.0", blob, wire.Targets{Nodes: []string{"pi-1"}})
	wantCode(t, "deploy 1.5.0", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, &dep), 201)

	t0 := time.Now().UTC().Add(-time.Minute)
	ev := func(version, state, reason string, at time.Time) wire.Event {
		return wire.Event{Device: "pi-1", Deployment: dep.ID, Module: "orders", Version: version, State: state, Reason: reason, Time: at}
	}
	d.publish(wire.KindEvents, false, ev("1.5.0", wire.StateRunning, "", t0))
	d.publish(wire.KindEvents, false, ev("1.7.0", wire.StateRejected, "signature by unknown key", t0.Add(time.Second)))
	// An agent before the contract: Version is the attempt.
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: t0.Add(2 * time.Second), Generation: 2,
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.7.0", State: wire.StateRejected, Error: "signature by unknown key (serving 1.5.0)", Since: t0.Add(time.Second)}}})

	module := func() wire.ModuleStatus {
		var got wire.Device
		eventually(t, "status stored", func() bool {
			return call(t, s, "GET", "/api/v1/devices/pi-1", nil, &got) == 200 && got.Status != nil && got.Status.Generation >= 2 && len(got.Status.Modules) == 1
		})
		return got.Status.Modules[0]
	}
	var m wire.ModuleStatus
	eventually(t, "the event-derived view", func() bool { m = module(); return m.Version == "1.5.0" })
	if m.State != wire.StateRunning || m.Port != 8081 || m.Attempt == nil || m.Attempt.Version != "1.7.0" ||
		m.Attempt.State != wire.StateRejected || !strings.Contains(m.Attempt.Reason, "unknown key") {
		t.Errorf("old-style status shown as %+v (attempt %+v), want 1.5.0 running on 8081 with the rejected 1.7.0 attempt", m, m.Attempt)
	}

	// The contract's own form passes through.
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: t0.Add(3 * time.Second), Generation: 3,
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.5.0", State: wire.StateRunning, Port: 9000, LastGood: "1.4.0",
			Attempt: &wire.ModuleAttempt{Version: "1.7.0", State: wire.StateRejected, Reason: "bad"}}}})
	eventually(t, "new status", func() bool { m = module(); return m.Port == 9000 })
	if m.Version != "1.5.0" || m.LastGood != "1.4.0" || m.Attempt == nil || m.Attempt.Reason != "bad" {
		t.Errorf("contract status shown as %+v", m)
	}

	// 1.8.0 reaches running after that status: it serves now, 1.5.0 is
	// last-good, and no attempt is left.
	d.publish(wire.KindEvents, false, ev("1.8.0", wire.StateCompiling, "", t0.Add(4*time.Second)))
	eventually(t, "attempt in progress", func() bool { m = module(); return m.Attempt != nil && m.Attempt.Version == "1.8.0" })
	if m.Version != "1.5.0" || m.Attempt.State != wire.StateCompiling {
		t.Errorf("during the 1.8.0 compile: %+v", m)
	}
	d.publish(wire.KindEvents, false, ev("1.8.0", wire.StateRunning, "", t0.Add(5*time.Second)))
	eventually(t, "1.8.0 serving", func() bool { m = module(); return m.Version == "1.8.0" })
	if m.LastGood != "1.5.0" || m.Attempt != nil || m.State != wire.StateRunning {
		t.Errorf("after 1.8.0 reached running: %+v, want last_good 1.5.0 and no attempt", m)
	}

	// The detail carries the events, the failed ones apart, and the
	// module summary counts the serving version.
	var det wire.DeviceDetail
	wantCode(t, "detail", call(t, s, "GET", "/api/v1/devices/pi-1/detail", nil, &det), 200)
	if len(det.Events) != 4 || det.Events[0].Version != "1.8.0" || len(det.Errors) != 1 || det.Errors[0].Version != "1.7.0" {
		t.Errorf("detail events %+v errors %+v", det.Events, det.Errors)
	}
	var mods []wire.ModuleSummary
	wantCode(t, "modules", call(t, s, "GET", "/api/v1/modules", nil, &mods), 200)
	if len(mods) != 1 || mods[0].Name != "orders" || mods[0].Targeted != 1 || mods[0].Serving != 1 ||
		len(mods[0].Versions) != 1 || mods[0].Versions[0].Version != "1.8.0" || mods[0].Versions[0].Devices[0] != "pi-1" {
		t.Errorf("modules = %+v", mods)
	}
	wantCode(t, "detail of an unknown device", call(t, s, "GET", "/api/v1/devices/nope/detail", nil, nil), 404)
}

// TestHistoryAPI: the trend of a module on a device, of the device's
// agent and of the module across the fleet, from real reports; the
// minute in progress is part of it.
func TestHistoryAPI(t *testing.T) {
	s := startServer(t, nil)
	pw := register(t, s, "pi-1")
	d := connectDevice(t, "tcp://"+s.MQTTAddr(), "pi-1", pw)
	agent := time.Now().Add(-time.Hour)
	at := time.Now()
	// 20 requests/s for 30 s by the agent's clock, 1 in 10 a 5xx.
	for i := range 4 {
		d.publish(wire.KindMetrics, false, agentReport("pi-1", uint64(i+1), at.Add(time.Duration(i)*10*time.Second), agent, agent, 1000+uint64(i)*200))
	}
	waitApplied(t, s, 4)
	get := func(q string) wire.History {
		var h wire.History
		wantCode(t, "history "+q, call(t, s, "GET", "/api/v1/history?"+q, nil, &h), 200)
		return h
	}
	// A whole hour in one step: the reports may straddle a minute.
	for _, q := range []string{"device=pi-1&module=orders&since=1h&step=1h", "module=orders&since=1h&step=3600"} {
		h := get(q)
		if len(h.Points) == 2 {
			t.Skipf("%s: the reports straddled an hour boundary", q)
		}
		if len(h.Points) != 1 || math.Abs(h.Points[0].Requests-20) > 1e-6 || math.Abs(h.Points[0].Errors-2) > 1e-6 || h.Points[0].P99 <= 0.005 {
			t.Errorf("%s: %+v, want one point of 20 req/s, 2 errors/s", q, h.Points)
		}
	}
	h := get("device=pi-1&since=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) + "&step=3600")
	if len(h.Points) != 1 || h.Points[0].RSSBytes != 12<<20 || math.Abs(h.Points[0].CPU-0.1) > 1e-6 || h.Points[0].Requests != 0 {
		t.Errorf("agent history %+v, want 12 MiB and 0.1 cores", h.Points)
	}
	if h := get("device=pi-1&module=orders"); len(h.Points) == 0 || h.Step != 60 {
		t.Errorf("default history: %+v, want minute points of the last hour", h)
	}
	// The step refused is the one sent, not its conversion ("step 0s").
	for _, step := range []string{"1ns", "90", "90s", "1m30s"} {
		code, msg := callErr(t, s, "GET", "/api/v1/history?device=pi-1&step="+step, nil)
		if want := fmt.Sprintf("step %q: want whole minutes", step); code != 400 || !strings.Contains(msg, want) {
			t.Errorf("step=%s: %d %q, want 400 and %q", step, code, msg, want)
		}
	}
	for _, tc := range []struct{ q, why string }{
		{"", "neither device nor module"},
		{"device=pi-1&step=90", "step not whole minutes"},
		{"device=pi-1&since=yesterday", "since unreadable"},
		{"device=pi-1&since=3d&step=60", "minute steps beyond a day"},
		{"device=a/b", "bad device id"},
	} {
		if code := call(t, s, "GET", "/api/v1/history?"+tc.q, nil, nil); code != 400 {
			t.Errorf("%s (%q): status %d, want 400", tc.why, tc.q, code)
		}
	}
	if code := call(t, s, "GET", "/api/v1/history?device=nope", nil, nil); code != 404 {
		t.Errorf("unknown device: status %d, want 404", code)
	}
}

// answerLogs makes d answer every log request with lines, after delay.
func answerLogs(t *testing.T, d *device, delay time.Duration, lines int) {
	t.Helper()
	tok := d.c.Subscribe(wire.DeviceTopic(d.id, wire.KindLogReq), 1, func(_ paho.Client, m paho.Message) {
		var req wire.LogRequest
		if err := wire.Decode(m.Payload(), &req); err != nil {
			t.Errorf("device %s: bad log request %q: %v", d.id, m.Payload(), err)
			return
		}
		b := wire.LogBatch{Device: d.id, ID: req.ID, Module: req.Module, Lines: []wire.LogLine{}}
		for i := range lines {
			b.Lines = append(b.Lines, wire.LogLine{Time: time.Now(), Level: "INFO", Msg: fmt.Sprintf("%s line %d of %s", d.id, i, req.Module)})
		}
		go func() {
			time.Sleep(delay)
			p, _ := json.Marshal(b)
			d.c.Publish(wire.DeviceTopic(d.id, wire.KindLogs), 1, false, p)
		}()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe logreq: %v", tok.Error())
	}
}

// TestLogsAPI: the controller asks a device over MQTT and answers with its
// lines; a device that does not answer costs 504 after the wait, an
// offline one 504 at once; a silent device does not hold up another;
// requests waiting for one device are bounded (429).
func TestLogsAPI(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	online := func(d *device) {
		d.publish(wire.KindStatus, true, wire.Status{Device: d.id, Online: true, Time: time.Now()})
	}
	talker := connectDevice(t, broker, "talker", register(t, s, "talker"))
	silent := connectDevice(t, broker, "silent", register(t, s, "silent"))
	register(t, s, "away")
	online(talker)
	online(silent)
	answerLogs(t, talker, 0, 3)
	eventually(t, "both online", func() bool {
		var ds []wire.Device
		call(t, s, "GET", "/api/v1/devices", nil, &ds)
		n := 0
		for _, d := range ds {
			if d.Online {
				n++
			}
		}
		return n == 2
	})

	var b wire.LogBatch
	wantCode(t, "logs", call(t, s, "GET", "/api/v1/devices/talker/logs?module=orders&max=10", nil, &b), 200)
	if b.Device != "talker" || len(b.Lines) != 3 || !strings.Contains(b.Lines[0].Msg, "of orders") {
		t.Errorf("logs = %+v", b)
	}

	start := time.Now()
	code, msg := callErr(t, s, "GET", "/api/v1/devices/away/logs", nil)
	if code != 504 || !strings.Contains(msg, "offline") || time.Since(start) > 3*time.Second {
		t.Errorf("offline device: %d %q after %s, want 504 naming it offline at once", code, msg, time.Since(start))
	}

	// Four requests wait for the silent device; a fifth is refused; the
	// talker still answers meanwhile.
	var wg sync.WaitGroup
	codes := make(chan int, 4)
	for range 4 {
		wg.Go(func() {
			c, _ := callErr(t, s, "GET", "/api/v1/devices/silent/logs", nil)
			codes <- c
		})
	}
	time.Sleep(500 * time.Millisecond) // the four are waiting (they wait 5 s)
	if c, msg := callErr(t, s, "GET", "/api/v1/devices/silent/logs", nil); c != 429 {
		t.Errorf("fifth request to a silent device: %d %q, want 429", c, msg)
	}
	quick := time.Now()
	wantCode(t, "talker while silent waits", call(t, s, "GET", "/api/v1/devices/talker/logs", nil, &b), 200)
	if took := time.Since(quick); took > 3*time.Second {
		t.Errorf("talker answered after %s while requests waited for the silent device", took)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 504 {
			t.Errorf("silent device: status %d, want 504", c)
		}
	}
	for _, tc := range []struct{ path, why string }{
		{"/api/v1/devices/talker/logs?max=0", "max 0"},
		{"/api/v1/devices/talker/logs?max=100000", "max over the limit"},
		{"/api/v1/devices/talker/logs?module=a/b", "bad module"},
		{"/api/v1/devices/talker/logs?since=soon", "bad since"},
	} {
		if code := call(t, s, "GET", tc.path, nil, nil); code != 400 {
			t.Errorf("%s: status %d, want 400", tc.why, code)
		}
	}
	if code := call(t, s, "GET", "/api/v1/devices/nope/logs", nil, nil); code != 404 {
		t.Errorf("unknown device: status %d, want 404", code)
	}
}
