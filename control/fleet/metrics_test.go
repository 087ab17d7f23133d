package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)

// clock is a settable time for the fleet.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestFleet(t testing.TB, dir string) (*Fleet, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: t0}
	f := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), Now: c.now})
	if err := f.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, st, c
}

// report is a device's metrics report with one module version.
type report struct {
	seq              uint64
	at               time.Time // agent clock
	agentStart       time.Time
	workerStart      time.Time
	requests, errors uint64
	cpu              float64
}

func (r report) metrics(device string) wire.Metrics {
	h := wire.NewHistogram()
	h.Counts[4] = r.requests // 5–10 ms
	h.Sum = float64(r.requests) * 0.007
	return wire.Metrics{Device: device, Time: r.at, Seq: r.seq,
		Agent: wire.AgentMetrics{Start: r.agentStart, Version: "1.0.0", Arch: "amd64", RSSBytes: 10 << 20, CPUSeconds: r.cpu},
		Modules: []wire.ModuleMetrics{{Name: "orders", Version: "1.0.0", Start: r.workerStart,
			Requests: r.requests, Responses2xx: r.requests - r.errors, Responses5xx: r.errors, Latency: h, RSSBytes: 40 << 20}}}
}

// ingest runs one report through the same path as MQTT (decode, checks,
// apply) on the fleet's clock.
func ingest(t *testing.T, f *Fleet, m wire.Metrics) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f.ingestMetrics(context.Background(), rawReport{device: m.Device, payload: b, received: f.now()})
}

func series(f *Fleet, device, module, version string) *Series {
	f.metrics.mu.RLock()
	defer f.metrics.mu.RUnlock()
	d := f.metrics.devices[device]
	if d == nil {
		return nil
	}
	return d.series[seriesKey{module, version}]
}

// TestIngestCounters: totals grow by the increases between reports of one
// worker, restart from the new value after a worker restart (a new
// Start), and ignore late, duplicate and malformed reports; gaps in Seq
// count as lost.
func TestIngestCounters(t *testing.T) {
	f, st, c := newTestFleet(t, t.TempDir())
	ctx := context.Background()
	if err := st.SetCredential(ctx, "pi-1", []byte("h"), t0); err != nil {
		t.Fatal(err)
	}
	agent := t0.Add(-time.Hour)
	w1, w2 := t0.Add(-30*time.Minute), t0.Add(25*time.Second)
	steps := []struct {
		name string
		r    report
		want uint64 // total requests after
	}{
		{"first", report{seq: 1, at: t0, agentStart: agent, workerStart: w1, requests: 100, errors: 10, cpu: 5}, 100},
		{"increase", report{seq: 2, at: t0.Add(10 * time.Second), agentStart: agent, workerStart: w1, requests: 160, errors: 12, cpu: 6}, 160},
		{"duplicate", report{seq: 2, at: t0.Add(10 * time.Second), agentStart: agent, workerStart: w1, requests: 160, errors: 12, cpu: 6}, 160},
		{"late", report{seq: 1, at: t0, agentStart: agent, workerStart: w1, requests: 100, errors: 10, cpu: 5}, 160},
		{"gap of two", report{seq: 5, at: t0.Add(20 * time.Second), agentStart: agent, workerStart: w1, requests: 200, errors: 12, cpu: 7}, 200},
		{"worker restart", report{seq: 6, at: t0.Add(30 * time.Second), agentStart: agent, workerStart: w2, requests: 30, errors: 0, cpu: 8}, 230},
		{"older agent process", report{seq: 9, at: t0.Add(35 * time.Second), agentStart: agent.Add(-time.Hour), workerStart: w2, requests: 999, cpu: 1}, 230},
		{"agent restart", report{seq: 1, at: t0.Add(40 * time.Second), agentStart: t0.Add(35 * time.Second), workerStart: t0.Add(36 * time.Second), requests: 7, cpu: 0.5}, 237},
	}
	for _, s := range steps {
		c.add(time.Second)
		ingest(t, f, s.r.metrics("pi-1"))
		got := series(f, "pi-1", "orders", "1.0.0")
		if got == nil || got.Totals.Requests != s.want {
			t.Fatalf("%s: series %+v, want %d requests in total", s.name, got, s.want)
		}
	}
	// Malformed: bad JSON, another device's report, a bad histogram.
	for _, p := range []string{`{"device":`, `{"device":"pi-2","seq":1,"agent":{}}`,
		`{"device":"pi-1","seq":99,"agent":{},"modules":[{"name":"orders","version":"1.0.0","latency":{"counts":[1]}}]}`} {
		f.ingestMetrics(ctx, rawReport{device: "pi-1", payload: []byte(p), received: f.now()})
	}
	// From a device nobody registered and that never said anything.
	ingest(t, f, report{seq: 1, at: t0, agentStart: agent, workerStart: w1, requests: 5}.metrics("stranger"))
	s := f.IngestStats()
	want := IngestStats{Applied: 5, Late: 3, Lost: 2, Malformed: 3, Unknown: 1, Resets: 2}
	if s.Applied != want.Applied || s.Late != want.Late || s.Lost != want.Lost || s.Malformed != want.Malformed || s.Unknown != want.Unknown || s.Resets != want.Resets {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
	if n := s.Lag.Count(); n != 5 {
		t.Errorf("lag observations = %d, want one per applied report", n)
	}
	errs := series(f, "pi-1", "orders", "1.0.0").Totals.Responses[4]
	if errs != 12 {
		t.Errorf("5xx total = %d, want 12", errs)
	}
	f.metrics.mu.RLock()
	agentCPU := f.metrics.devices["pi-1"].agent.CPUSeconds
	f.metrics.mu.RUnlock()
	if math.Abs(agentCPU-(8+0.5)) > 1e-9 {
		t.Errorf("agent CPU total = %v, want 8.5 (5+1+1+1 then 0.5 after the restart)", agentCPU)
	}
}

// TestIngestBounds: whatever a device sends, it keeps at most
// wire.MaxModules module names (its desired ones first) and two versions
// of each (the serving one first), and versions that are not semantic
// versions are left out.
func TestIngestBounds(t *testing.T) {
	f, st, c := newTestFleet(t, t.TempDir())
	if err := st.SetCredential(context.Background(), "junk-1", []byte("h"), t0); err != nil {
		t.Fatal(err)
	}
	f.inv.setDesired(&wire.DesiredState{Device: "junk-1"}) // nothing desired: names in order
	f.inv.mu.Lock()
	f.inv.desired["junk-1"] = map[string]desiredModule{"zz-wanted": {version: "1.0.0"}}
	f.inv.mu.Unlock()
	h := wire.NewHistogram()
	for round := range 20 {
		m := wire.Metrics{Device: "junk-1", Seq: uint64(round + 1), Time: t0.Add(time.Duration(round) * 10 * time.Second), Agent: wire.AgentMetrics{Start: t0.Add(-time.Hour)}}
		for i := range 2 * wire.MaxModules {
			// 21 names with three versions each (one bad), new each round.
			name := fmt.Sprintf("m%02d", i%21)
			if i%21 == 20 {
				name = "zz-wanted"
			}
			v := fmt.Sprintf("%d.%d.0", round, i)
			if i%3 == 0 {
				v = "not-a-version"
			}
			m.Modules = append(m.Modules, wire.ModuleMetrics{Name: name, Version: v, Start: t0, Requests: 1, Latency: h})
		}
		c.add(10 * time.Second)
		ingest(t, f, m)
	}
	f.metrics.mu.RLock()
	d := f.metrics.devices["junk-1"]
	names := map[string]int{}
	for k := range d.series {
		names[k.module]++
	}
	f.metrics.mu.RUnlock()
	if len(names) > wire.MaxModules || len(d.series) > wire.MaxModules*versionsPerModule {
		t.Errorf("%d names, %d series kept; want at most %d and %d", len(names), len(d.series), wire.MaxModules, wire.MaxModules*versionsPerModule)
	}
	for n, v := range names {
		if v > versionsPerModule {
			t.Errorf("module %s: %d versions kept, want at most %d", n, v, versionsPerModule)
		}
	}
	if names["zz-wanted"] == 0 {
		t.Errorf("the desired module was left out: %v", names)
	}
	if f.IngestStats().Capped == 0 {
		t.Error("no entry counted as capped")
	}

	// keep itself: a table of what it prefers.
	mk := func(name, version string, start time.Time) wire.ModuleMetrics {
		return wire.ModuleMetrics{Name: name, Version: version, Start: start}
	}
	kept, dropped := keep([]wire.ModuleMetrics{
		mk("a", "1.0.0", t0), mk("a", "1.1.0", t0.Add(time.Minute)), mk("a", "0.9.0", t0.Add(2*time.Minute)),
		mk("a", "1.0.0", t0), mk("b", "1.0.0+build.1", t0), mk("b", "x", t0),
	}, nil, map[string]string{"a": "1.0.0"})
	got := ""
	for _, k := range kept {
		got += k.Name + "@" + k.Version + " "
	}
	if want := "a@0.9.0 a@1.0.0 b@1.0.0+build.1 "; got != want || dropped != 3 {
		t.Errorf("keep = %q, %d dropped; want %q (serving 1.0.0 and the newest start), 3 dropped", got, dropped, want)
	}
}

// TestHistoryFromReports: rates are increases over the time they cover by
// the agent's clock; closed minutes are stored with the fleet's sum and
// the latest report, the minute in progress is answered from memory, and
// a new fleet on the same store continues from the stored report.
func TestHistoryFromReports(t *testing.T) {
	dir := t.TempDir()
	f, st, c := newTestFleet(t, dir)
	ctx := context.Background()
	for _, id := range []string{"pi-1", "pi-2"} {
		if err := st.SetCredential(ctx, id, []byte("h"), t0); err != nil {
			t.Fatal(err)
		}
	}
	agent, worker := t0.Add(-time.Hour), t0.Add(-time.Hour)
	// Every 10 s for a minute: pi-1 answers 5 requests/s (1 in 10 a 5xx),
	// pi-2 answers 1 request/s.
	for i := range 7 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		n := uint64(i) * 50
		ingest(t, f, report{seq: uint64(i + 1), at: at, agentStart: agent, workerStart: worker, requests: 1000 + n, errors: 100 + n/10, cpu: float64(i)}.metrics("pi-1"))
		ingest(t, f, report{seq: uint64(i + 1), at: at, agentStart: agent, workerStart: worker, requests: 10 * uint64(i)}.metrics("pi-2"))
		c.add(10 * time.Second)
	}
	// t0 is 12:00:05: reports at :05..:55 fell in minute 12:00, the last
	// one at 12:01:05.
	if err := f.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	h, err := f.History(ctx, "pi-1", "orders", t0.Add(-time.Hour), 60)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Points) != 2 {
		t.Fatalf("points = %+v, want the stored minute and the one in progress", h.Points)
	}
	for i, p := range h.Points {
		if math.Abs(p.Requests-5) > 1e-9 || math.Abs(p.Errors-0.5) > 1e-9 || p.P99 <= 0.005 || p.P99 > 0.01 || p.RSSBytes != 40<<20 {
			t.Errorf("pi-1 point %d = %+v, want 5 req/s, 0.5 errors/s, p99 in 5–10 ms, 40 MiB", i, p)
		}
	}
	fl, err := f.History(ctx, "", "orders", t0.Add(-time.Hour), 60)
	if err != nil {
		t.Fatal(err)
	}
	if len(fl.Points) != 2 || math.Abs(fl.Points[0].Requests-6) > 1e-9 || math.Abs(fl.Points[1].Requests-6) > 1e-9 {
		t.Errorf("fleet points = %+v, want 6 req/s in both minutes (5 + 1)", fl.Points)
	}
	ag, err := f.History(ctx, "pi-1", "", t0.Add(-time.Hour), 60)
	if err != nil {
		t.Fatal(err)
	}
	if len(ag.Points) != 2 || math.Abs(ag.Points[0].CPU-0.1) > 1e-9 || ag.Points[0].RSSBytes != 10<<20 || ag.Points[0].Requests != 0 {
		t.Errorf("agent points = %+v, want 0.1 cores, 10 MiB, no requests", ag.Points)
	}
	// The latest report was stored with the minute: a controller started
	// on the same store continues from it.
	if err := f.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	f2 := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), Now: c.now})
	if err := f2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(70 * time.Second)
	ingest(t, f2, report{seq: 8, at: at, agentStart: agent, workerStart: worker, requests: 1000 + 350, errors: 135}.metrics("pi-1"))
	if s := series(f2, "pi-1", "orders", "1.0.0"); s == nil || s.Totals.Requests != 1350 {
		t.Errorf("after a controller restart: %+v, want the stored 1300 plus the 50 since", s)
	}
	if f2.IngestStats().Resets != 0 {
		t.Errorf("a controller restart counted as a counter reset")
	}
}

// TestHistoryNoSpikes: a version whose worker the controller did not
// follow (it left one report and came back, or a new version entry
// appears with a worker that started long ago) is a baseline, not an
// hour of requests in one minute; a worker that restarted since the last
// report counts what it did since it started.
func TestHistoryNoSpikes(t *testing.T) {
	f, st, c := newTestFleet(t, t.TempDir())
	ctx := context.Background()
	if err := st.SetCredential(ctx, "pi-1", []byte("h"), t0); err != nil {
		t.Fatal(err)
	}
	agent, worker := t0.Add(-2*time.Hour), t0.Add(-2*time.Hour)
	rep := func(seq uint64, at time.Time, requests uint64, start time.Time, with bool) wire.Metrics {
		m := report{seq: seq, at: at, agentStart: agent, workerStart: start, requests: requests}.metrics("pi-1")
		if !with {
			m.Modules = nil
		}
		return m
	}
	ingest(t, f, rep(1, t0, 100000, worker, true))                                 // baseline
	ingest(t, f, rep(2, t0.Add(10*time.Second), 100050, worker, true))             // +50 in 10 s
	ingest(t, f, rep(3, t0.Add(20*time.Second), 0, worker, false))                 // the entry left out once
	ingest(t, f, rep(4, t0.Add(30*time.Second), 100150, worker, true))             // back: a baseline again
	ingest(t, f, rep(5, t0.Add(40*time.Second), 20, t0.Add(35*time.Second), true)) // restarted 5 s ago: +20
	c.add(time.Minute)
	h, err := f.History(ctx, "pi-1", "orders", t0.Add(-time.Hour), 3600)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Points) != 1 {
		t.Fatalf("points %+v", h.Points)
	}
	// 70 requests over 10 s + 5 s.
	if got := h.Points[0].Requests; math.Abs(got-70.0/15) > 1e-9 {
		t.Errorf("rate = %v req/s, want %v (no spike from the baselines)", got, 70.0/15)
	}
}
