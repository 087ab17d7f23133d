package store

import (
	"context"

	"errors"
	"math"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

func minuteRow(device, module string, at time.Time, requests int64) HistoryRow {
	c := Counts{Seconds: 60, Requests: requests, R2xx: requests - requests/10, R5xx: requests / 10, CPU: 3, RSSSum: 2 * 100 << 20, RSSN: 2}
	c.Latency[3] = requests // 2.5–5 ms
	return HistoryRow{Device: device, Module: module, Time: at, Counts: c}
}

func countRows(t *testing.T, s *Store, step int64) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM history WHERE step = ?`, step).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHistoryPoints: rows of one minute written twice (a restart) are
// summed, a coarser step sums its minutes, and rates are counts over the
// seconds covered.
func TestHistoryPoints(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		base := t0.Truncate(time.Hour)
		rows := []HistoryRow{
			minuteRow("pi-1", "orders", base, 600),
			minuteRow("pi-1", "orders", base.Add(time.Minute), 1200),
			minuteRow("pi-1", "orders", base.Add(2*time.Minute), 60),
			minuteRow("pi-2", "orders", base, 999), // another device
			minuteRow("pi-1", "other", base, 999),  // another module
			minuteRow("pi-1", "", base, 0),         // the agent
			minuteRow("", "orders", base, 600+999), // the fleet
		}
		if err := s.FlushMetrics(ctx, rows, nil, base.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// The same minute again, half of it (a restart within the minute).
		half := minuteRow("pi-1", "orders", base.Add(2*time.Minute), 60)
		half.Seconds = 30
		if err := s.FlushMetrics(ctx, []HistoryRow{half}, nil, base.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		now := base.Add(3 * time.Minute)
		got, err := s.History(ctx, "pi-1", "orders", base, StepMinute, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			at       time.Time
			requests float64
		}{{base, 10}, {base.Add(time.Minute), 20}, {base.Add(2 * time.Minute), 120.0 / 90}}
		if len(got) != len(want) {
			t.Fatalf("got %d points, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			p := got[i].Point(got[i].Time)
			if !p.Time.Equal(w.at) || math.Abs(p.Requests-w.requests) > 1e-9 {
				t.Errorf("point %d = %s %.3f req/s, want %s %.3f", i, p.Time, p.Requests, w.at, w.requests)
			}
			if math.Abs(p.Errors-p.Requests/10) > 0.02 {
				t.Errorf("point %d: %.3f errors/s, want about a tenth of %.3f", i, p.Errors, p.Requests)
			}
			if p.P50 <= 0.0025 || p.P50 > 0.005 || p.P99 <= p.P50 || p.P99 > 0.005 {
				t.Errorf("point %d: p50 %v p99 %v, want within the 2.5–5 ms bucket", i, p.P50, p.P99)
			}
			if p.RSSBytes != 100<<20 || math.Abs(p.CPU-got[i].CPU/got[i].Seconds) > 1e-9 {
				t.Errorf("point %d: rss %d cpu %v", i, p.RSSBytes, p.CPU)
			}
		}
		// Five-minute steps sum their minutes.
		got, err = s.History(ctx, "pi-1", "orders", base, 5*StepMinute, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Requests != 600+1200+60+60 || got[0].Seconds != 210 {
			t.Errorf("5-minute step = %+v, want one point of 1920 requests over 210 s", got)
		}
		// The fleet and the agent are series of their own.
		for _, tc := range []struct {
			device, module string
			requests       int64
		}{{"", "orders", 1599}, {"pi-1", "", 0}, {"pi-2", "orders", 999}, {"pi-9", "orders", -1}} {
			got, err := s.History(ctx, tc.device, tc.module, base, StepMinute, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.requests < 0 {
				if len(got) != 0 {
					t.Errorf("%q/%q: %d points, want none", tc.device, tc.module, len(got))
				}
				continue
			}
			if len(got) != 1 || got[0].Requests != tc.requests {
				t.Errorf("%q/%q = %+v, want one point of %d requests", tc.device, tc.module, got, tc.requests)
			}
		}
	})
}

// TestHistoryRollupAndRetention: closed 15-minute windows are summed into
// 15-minute points exactly once, answer beyond the day of 1-minute points,
// and both resolutions are pruned past their retention.
func TestHistoryRollupAndRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		base := t0.Truncate(time.Hour) // a window boundary
		var rows []HistoryRow
		for i := range 20 { // minutes 0..19: one full window and 5 minutes of the next
			rows = append(rows, minuteRow("pi-1", "orders", base.Add(time.Duration(i)*time.Minute), 60))
		}
		if err := s.FlushMetrics(ctx, rows, nil, base.Add(20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, s, StepQuarter); n != 1 {
			t.Fatalf("%d quarter rows after 20 minutes, want 1", n)
		}
		// Flushing again (nothing new) must not roll the window up twice.
		if err := s.FlushMetrics(ctx, nil, nil, base.Add(21*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, s, StepQuarter); n != 1 {
			t.Fatalf("%d quarter rows after a second flush, want 1", n)
		}
		var q Counts
		if err := s.db.QueryRow(`SELECT seconds, requests FROM history WHERE step = ?`, StepQuarter).Scan(&q.Seconds, &q.Requests); err != nil {
			t.Fatal(err)
		}
		if q.Seconds != 900 || q.Requests != 900 {
			t.Errorf("quarter point = %v s, %d requests; want 900, 900", q.Seconds, q.Requests)
		}

		// Two days later: the minutes are gone, the quarter answers.
		later := base.Add(48 * time.Hour)
		if err := s.FlushMetrics(ctx, []HistoryRow{minuteRow("pi-1", "orders", later, 120)}, nil, later.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, s, StepMinute); n != 1 {
			t.Errorf("%d minute rows two days later, want only the new one", n)
		}
		// The window of minutes 15..19 was complete only once time passed it:
		// rolled up now, before its minutes were pruned.
		if n := countRows(t, s, StepQuarter); n != 2 {
			t.Errorf("%d quarter rows two days later, want 2", n)
		}
		got, err := s.History(ctx, "pi-1", "orders", base, StepQuarter, later.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Requests != 900 || got[1].Requests != 300 || got[2].Requests != 120 {
			t.Errorf("history over two days = %+v, want quarters of 900 and 300 then the new minute's 120", got)
		}
		// Fifteen days later everything older than two weeks is gone; the
		// new minute lives on in its quarter.
		end := base.Add(15 * 24 * time.Hour)
		if err := s.FlushMetrics(ctx, nil, nil, end); err != nil {
			t.Fatal(err)
		}
		if n, q := countRows(t, s, StepMinute), countRows(t, s, StepQuarter); n != 0 || q != 1 {
			t.Errorf("after 15 days: %d minute rows, %d quarter rows; want 0 and 1", n, q)
		}
	})
}

func TestHistoryRangeRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		now := t0
		for _, tc := range []struct {
			name  string
			since time.Time
			step  int64
		}{
			{"zero step", now.Add(-time.Hour), 0},
			{"step not whole minutes", now.Add(-time.Hour), 90},
			{"too many points", now.Add(-24 * time.Hour), 30},
			{"minute steps beyond a day", now.Add(-3 * 24 * time.Hour), 5 * StepMinute},
		} {
			if _, err := s.History(context.Background(), "pi-1", "orders", tc.since, tc.step, now); !errors.Is(err, ErrHistoryRange) {
				t.Errorf("%s: History = %v, want ErrHistoryRange", tc.name, err)
			}
		}
	})
}

// TestFlushLatest: the latest reports are stored with the history, and a
// device that never sent a status appears with them.
func TestFlushLatest(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		m := &wire.Metrics{Device: "pi-1", Seq: 7, Agent: wire.AgentMetrics{Version: "1.0.0", RSSBytes: 42}}
		if err := s.FlushMetrics(ctx, nil, []LatestMetrics{{Metrics: m, Received: t0}}, t0); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, "pi-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.Metrics == nil || d.Metrics.Seq != 7 || d.Metrics.Agent.RSSBytes != 42 || !d.LastSeen.Equal(t0) {
			t.Errorf("device = %+v, metrics %+v", d, d.Metrics)
		}
	})
}
