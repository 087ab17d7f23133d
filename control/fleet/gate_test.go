package fleet

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

var gateT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// report is one agent report of module "orders" with the given versions.
type verCounts struct {
	version        string
	start          time.Time
	requests, errs uint64
	latency        time.Duration // every request took this long
}

func gateReport(device string, seq uint64, at time.Time, vs ...verCounts) *wire.Metrics {
	m := &wire.Metrics{Device: device, Time: at, Seq: seq, Agent: wire.AgentMetrics{Start: gateT0.Add(-time.Hour)}}
	for _, v := range vs {
		h := wire.NewHistogram()
		for range v.requests {
			h.Observe(v.latency)
		}
		m.Modules = append(m.Modules, wire.ModuleMetrics{Name: "orders", Version: v.version, Start: v.start,
			Requests: v.requests, Responses5xx: v.errs, Responses2xx: v.requests - v.errs, Latency: h})
	}
	return m
}

func TestGateAccumulates(t *testing.T) {
	w1 := gateT0.Add(-10 * time.Minute) // worker of 1.0.0
	w2 := gateT0.Add(time.Minute)       // worker of 1.1.0, started by the rollout
	w3 := gateT0.Add(3 * time.Minute)   // 1.1.0 restarted
	g := &gateAcc{}
	obs := func(m *wire.Metrics) { g.observe("orders", m, gateT0) }
	obs(gateReport("a", 1, gateT0, verCounts{"1.0.0", w1, 1000, 5, time.Millisecond})) // baseline only
	obs(gateReport("a", 2, gateT0.Add(90*time.Second),
		verCounts{"1.0.0", w1, 1100, 5, time.Millisecond}, // +100
		verCounts{"1.1.0", w2, 40, 2, time.Millisecond}))  // first seen, started after: whole
	obs(gateReport("a", 3, gateT0.Add(2*time.Minute), verCounts{"1.1.0", w2, 100, 4, time.Millisecond})) // +60
	obs(gateReport("a", 2, gateT0.Add(90*time.Second), verCounts{"1.1.0", w2, 40, 2, time.Millisecond})) // late, ignored
	obs(gateReport("a", 4, gateT0.Add(4*time.Minute), verCounts{"1.1.0", w3, 30, 1, time.Millisecond}))  // reset: +30
	obs(gateReport("a", 5, gateT0.Add(5*time.Minute), verCounts{"1.1.0", w2, 500, 0, time.Millisecond})) // older worker, late: ignored
	// Another agent process: its first report of the new version counts
	// as a reset too.
	m := gateReport("a", 1, gateT0.Add(6*time.Minute), verCounts{"1.1.0", gateT0.Add(5 * time.Minute), 10, 0, time.Millisecond})
	m.Agent.Start = gateT0.Add(5 * time.Minute)
	obs(m)

	all := func(va *versionAcc) counts { return va.All }
	newS := g.sample([]string{"a"}, func(v string) bool { return v == "1.1.0" }, all)
	if newS.Requests != 40+60+30+10 || newS.Errors != 2+2+1 {
		t.Errorf("1.1.0: %d requests, %d errors; want 140, 5", newS.Requests, newS.Errors)
	}
	oldS := g.sample([]string{"a"}, func(v string) bool { return v == "1.0.0" }, all)
	if oldS.Requests != 100 || oldS.Errors != 0 {
		t.Errorf("1.0.0: %d requests, %d errors; want 100 (the difference, not the total), 0", oldS.Requests, oldS.Errors)
	}
	if newS.P99 <= 0.0005 || newS.P99 > 0.001 {
		t.Errorf("p99 %v, want within the 0.5-1 ms bucket", newS.P99)
	}
	g.resetSoak()
	if s := g.sample([]string{"a"}, func(string) bool { return true }, func(va *versionAcc) counts { return va.Soak }); s.Requests != 0 {
		t.Errorf("after resetSoak the window holds %d requests", s.Requests)
	}
}

func TestGateVerdicts(t *testing.T) {
	cfg := wire.Gate{SoakMillis: time.Minute.Milliseconds(), MaxErrorRate: 0.01, MaxP99Ratio: 1.5, MinRequests: 100, LowTraffic: wire.LowTrafficFail}
	start := gateT0.Add(-10 * time.Minute)
	newStart := gateT0.Add(-30 * time.Second) // after the first report seen: started by the rollout
	type dev struct {
		id       string
		ver      string
		req, err uint64
		lat      time.Duration
	}
	// build observes a baseline report at gateT0 (old version everywhere), then
	// one at gateT0+30s with the given counters on top.
	build := func(devs ...dev) *gateAcc {
		g := &gateAcc{}
		for _, d := range devs {
			g.observe("orders", gateReport(d.id, 1, gateT0.Add(-time.Minute), verCounts{"1.0.0", start, 0, 0, d.lat}), gateT0)
		}
		g.resetSoak()
		for _, d := range devs {
			st := start
			if d.ver == "1.1.0" {
				st = newStart
			}
			g.observe("orders", gateReport(d.id, 2, gateT0.Add(30*time.Second), verCounts{d.ver, st, d.req, d.err, d.lat}), gateT0)
		}
		return g
	}
	in := func(now time.Duration, cfg wire.Gate) gateInput {
		return gateInput{cfg: cfg, version: "1.1.0", updated: []string{"a"}, notYet: []string{"b", "c"},
			targets: []string{"a", "b", "c"}, soakStart: gateT0, now: gateT0.Add(now)}
	}
	lowPass := cfg
	lowPass.LowTraffic = wire.LowTrafficPass
	tests := []struct {
		name    string
		g       *gateAcc
		in      gateInput
		verdict string
		reason  string
	}{
		{"healthy, soaking", build(dev{"a", "1.1.0", 200, 0, 2 * time.Millisecond}, dev{"b", "1.0.0", 300, 0, 2 * time.Millisecond}),
			in(30*time.Second, cfg), wire.GateWaiting, "soaking until"},
		{"healthy, soaked", build(dev{"a", "1.1.0", 200, 0, 2 * time.Millisecond}, dev{"b", "1.0.0", 300, 0, 2 * time.Millisecond}),
			in(time.Minute, cfg), wire.GatePass, "within the thresholds"},
		{"5xx burst fails before the soak ends", build(dev{"a", "1.1.0", 200, 100, time.Millisecond}, dev{"b", "1.0.0", 300, 0, time.Millisecond}),
			in(30*time.Second, cfg), wire.GateFail, "5xx share of the new version 50.0%"},
		{"the old version's own error rate is allowed", build(dev{"a", "1.1.0", 200, 10, time.Millisecond}, dev{"b", "1.0.0", 300, 15, time.Millisecond}),
			in(time.Minute, cfg), wire.GatePass, ""},
		{"slow new version", build(dev{"a", "1.1.0", 200, 0, 200 * time.Millisecond}, dev{"b", "1.0.0", 300, 0, 2 * time.Millisecond}),
			in(30*time.Second, cfg), wire.GateFail, "p99 latency"},
		{"slower within one bucket is not told apart", build(dev{"a", "1.1.0", 200, 0, 2400 * time.Microsecond}, dev{"b", "1.0.0", 300, 0, 1100 * time.Microsecond}),
			in(time.Minute, cfg), wire.GatePass, ""},
		{"low traffic fails", build(dev{"a", "1.1.0", 20, 0, time.Millisecond}, dev{"b", "1.0.0", 300, 0, time.Millisecond}),
			in(time.Minute, cfg), wire.GateFail, "fewer than the 100 needed"},
		{"low traffic passes when told", build(dev{"a", "1.1.0", 20, 0, time.Millisecond}, dev{"b", "1.0.0", 300, 0, time.Millisecond}),
			in(time.Minute, lowPass), wire.GatePass, "low traffic: pass"},
		{"low traffic waits for the soak", build(dev{"a", "1.1.0", 20, 20, time.Millisecond}),
			in(30*time.Second, cfg), wire.GateWaiting, ""},
		{"no baseline: absolute threshold", build(dev{"a", "1.1.0", 200, 4, time.Millisecond}),
			in(time.Minute, cfg), wire.GateFail, "no baseline"},
	}
	for _, tt := range tests {
		f := tt.g.evaluate(tt.in)
		if f.Verdict != tt.verdict || !strings.Contains(f.Reason, tt.reason) {
			t.Errorf("%s: %s %q, want %s %q", tt.name, f.Verdict, f.Reason, tt.verdict, tt.reason)
		}
	}
}

// TestGateSeesOutages (F7): the wave's only device was down for a third of
// its soak (agent killed, restarted 8 s... later): its reports showed no
// 5xx and a fine p99, and the gate passed it. Now an updated device that
// goes offline holds the gate; when it is back, or when its agent or the
// module's worker restarted (counters reset), the soak starts again from
// then, and the gate's line says so; away longer than the soak fails.
func TestGateSeesOutages(t *testing.T) {
	cfg := wire.Gate{SoakMillis: time.Minute.Milliseconds(), MaxErrorRate: 0.01, MaxP99Ratio: 1.5, MinRequests: 100, LowTraffic: wire.LowTrafficFail}
	oldStart, newStart := gateT0.Add(-time.Hour), gateT0.Add(-30*time.Second)
	// soaked: device a serves 1.1.0 from before the soak (gateT0), with
	// 500 healthy requests reported at +50s.
	soaked := func() *gateAcc {
		g := &gateAcc{}
		g.observe("orders", gateReport("a", 1, gateT0.Add(-time.Minute), verCounts{"1.0.0", oldStart, 0, 0, time.Millisecond}), gateT0.Add(-time.Minute))
		g.observe("orders", gateReport("a", 2, gateT0.Add(-10*time.Second), verCounts{"1.1.0", newStart, 10, 0, time.Millisecond}), gateT0.Add(-10*time.Second))
		g.resetSoak()
		g.observe("orders", gateReport("a", 3, gateT0.Add(50*time.Second), verCounts{"1.1.0", newStart, 510, 0, time.Millisecond}), gateT0.Add(50*time.Second))
		return g
	}
	in := func(now time.Duration) gateInput {
		return gateInput{cfg: cfg, version: "1.1.0", updated: []string{"a"}, targets: []string{"a"}, soakStart: gateT0, now: gateT0.Add(now)}
	}
	if f := soaked().evaluate(in(time.Minute)); f.Verdict != wire.GatePass {
		t.Fatalf("no outage: %s %q, want pass", f.Verdict, f.Reason)
	}

	// Offline from +10s to +30s (its Last Will, then its status again).
	g := soaked()
	g.presence("a", false, gateT0.Add(10*time.Second))
	if f := g.evaluate(in(20 * time.Second)); f.Verdict != wire.GateWaiting || !strings.Contains(f.Reason, "a offline since 12:00:10") {
		t.Errorf("while offline: %s %q, want waiting, naming the outage", f.Verdict, f.Reason)
	}
	g.presence("a", true, gateT0.Add(30*time.Second))
	for _, tt := range []struct {
		now     time.Duration
		verdict string
	}{{time.Minute, wire.GateWaiting}, {80 * time.Second, wire.GateWaiting}, {90 * time.Second, wire.GatePass}} {
		f := g.evaluate(in(tt.now))
		if f.Verdict != tt.verdict || !strings.Contains(f.Reason, "soak restarted at 12:00:30: a offline from 12:00:10 for 20s") {
			t.Errorf("back at +30s, at +%s: %s %q, want %s saying the soak restarted", tt.now, f.Verdict, f.Reason, tt.verdict)
		}
	}

	// Offline from +10s and not back: fails once away longer than the soak.
	g = soaked()
	g.presence("a", false, gateT0.Add(10*time.Second))
	if f := g.evaluate(in(65 * time.Second)); f.Verdict != wire.GateWaiting {
		t.Errorf("offline 55s of a 1m soak: %s %q, want waiting", f.Verdict, f.Reason)
	}
	if f := g.evaluate(in(71 * time.Second)); f.Verdict != wire.GateFail || !strings.Contains(f.Reason, "away longer than the 1m0s soak") {
		t.Errorf("offline 61s of a 1m soak: %s %q, want fail", f.Verdict, f.Reason)
	}

	// Low traffic, told to pass: the line says the soak restarted too.
	g = soaked()
	g.presence("a", false, gateT0.Add(10*time.Second))
	g.presence("a", true, gateT0.Add(30*time.Second))
	lp := in(90 * time.Second)
	lp.cfg.MinRequests, lp.cfg.LowTraffic = 10000, wire.LowTrafficPass
	if f := g.evaluate(lp); f.Verdict != wire.GatePass || !strings.Contains(f.Reason, "soak (soak restarted at 12:00:30") {
		t.Errorf("low traffic after a return: %s %q, want pass saying the soak restarted", f.Verdict, f.Reason)
	}

	// No status seen offline, but the agent restarted at +20s (a new
	// agent Start, new worker counters): the soak restarts from then.
	g = soaked()
	m := gateReport("a", 1, gateT0.Add(25*time.Second), verCounts{"1.1.0", gateT0.Add(21 * time.Second), 100, 0, time.Millisecond})
	m.Agent.Start = gateT0.Add(20 * time.Second)
	g.observe("orders", m, gateT0.Add(25*time.Second))
	if f := g.evaluate(in(time.Minute)); f.Verdict != wire.GateWaiting || !strings.Contains(f.Reason, "soak restarted at 12:00:25: a agent restarted") {
		t.Errorf("agent restarted: %s %q, want waiting with the soak restarted", f.Verdict, f.Reason)
	}
	// Only the module's worker restarted (same agent): the same.
	g = soaked()
	g.observe("orders", gateReport("a", 4, gateT0.Add(40*time.Second), verCounts{"1.1.0", gateT0.Add(35 * time.Second), 50, 0, time.Millisecond}), gateT0.Add(40*time.Second))
	if f := g.evaluate(in(time.Minute)); f.Verdict != wire.GateWaiting || !strings.Contains(f.Reason, "orders 1.1.0 counters restarted at 12:00:35") {
		t.Errorf("worker restarted: %s %q, want waiting with the soak restarted", f.Verdict, f.Reason)
	}
}

// FuzzGateObserve feeds the gate metrics reports as a device may send
// them (anything wire.Decode and Validate accept, in any order): it must
// never panic, and a window never holds more than the whole rollout.
func FuzzGateObserve(f *testing.F) {
	good, _ := json.Marshal(gateReport("a", 1, gateT0, verCounts{"1.0.0", gateT0.Add(-time.Minute), 10, 1, time.Millisecond}))
	later, _ := json.Marshal(gateReport("a", 2, gateT0.Add(time.Second), verCounts{"1.0.0", gateT0.Add(-time.Minute), 5, 3, time.Millisecond},
		verCounts{"1.1.0", gateT0, 7, 7, time.Second}))
	f.Add(good, later)
	f.Add(later, good)
	f.Add([]byte(`{"device":"a","seq":1,"modules":[{"name":"orders","version":"x","latency":{"counts":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]}}]}`), good)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		g := &gateAcc{}
		g.resetSoak()
		for _, raw := range [][]byte{a, b, a} {
			var m wire.Metrics
			if wire.Decode(raw, &m) != nil || m.Validate() != nil {
				continue
			}
			g.observe("orders", &m, gateT0)
		}
		for _, d := range g.Devices {
			for v, va := range d.Versions {
				if va.Soak.Requests > va.All.Requests || va.Soak.Errors > va.All.Errors {
					t.Fatalf("version %s: window %+v exceeds the whole %+v", v, va.Soak, va.All)
				}
			}
		}
		g.evaluate(gateInput{cfg: wire.Gate{SoakMillis: 1, MinRequests: 1, MaxP99Ratio: 1.5, MaxErrorRate: 0.01},
			version: "1.1.0", updated: []string{"a"}, targets: []string{"a"}, soakStart: gateT0, now: gateT0.Add(time.Hour)})
	})
}
