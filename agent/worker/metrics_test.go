package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestLatencyBucketsAgree: the worker's integer buckets put every
// duration where wire.Histogram.Observe (the contract) puts it, at each
// bound and a nanosecond on either side.
func TestLatencyBucketsAgree(t *testing.T) {
	for _, b := range boundNanos {
		for _, d := range []time.Duration{time.Duration(b - 1), time.Duration(b), time.Duration(b + 1)} {
			m := newRequestMetrics(time.Time{})
			m.observe(200, d)
			want := wire.NewHistogram()
			want.Observe(d)
			got := m.snapshot(nil, 0).Latency
			for i := range want.Counts {
				if got.Counts[i] != want.Counts[i] {
					t.Fatalf("%v (%d ns): worker bucket counts %v, wire's %v", d, int64(d), got.Counts, want.Counts)
				}
			}
		}
	}
}

func TestRequestClasses(t *testing.T) {
	m := newRequestMetrics(time.Unix(1, 0))
	for _, code := range []int{200, 204, 301, 404, 413, 500, 503, 999} {
		m.observe(code, time.Millisecond)
	}
	s := m.snapshot(nil, 2*time.Second)
	got := []uint64{s.Requests, s.Responses1xx, s.Responses2xx, s.Responses3xx, s.Responses4xx, s.Responses5xx, s.Latency.Count()}
	want := []uint64{8, 0, 2, 1, 2, 3, 8}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("requests, 1xx..5xx, histogram = %v, want %v", got, want)
		}
	}
	if s.CompileSeconds != 2 || !s.Start.Equal(time.Unix(1, 0)) || s.Latency.Sum != 0.008 {
		t.Errorf("compile %v, start %v, sum %v", s.CompileSeconds, s.Start, s.Latency.Sum)
	}
	if all, server := m.answered(); all != 8 || server != 3 {
		t.Errorf("answered = %d, %d; want 8, 3", all, server)
	}
}

type lines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// beats runs w's heartbeat loop while during runs (in a synctest
// bubble), then ends it and returns the heartbeats it wrote.
func beats(t *testing.T, during func(w *Worker)) []Heartbeat {
	t.Helper()
	w, err := New(Config{Module: "x", Name: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out lines
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.beat(ctx, &out, func() {}); close(done) }()
	during(w)
	cancel()
	<-done
	var hbs []Heartbeat
	sc := bufio.NewScanner(&out.b)
	for sc.Scan() {
		var hb Heartbeat
		if err := json.Unmarshal(sc.Bytes(), &hb); err != nil {
			t.Fatal(err)
		}
		hbs = append(hbs, hb)
	}
	return hbs
}

// TestMetricsFreshWhenBusy: the beat after a request carries the metrics
// that count it (at most one HeartbeatInterval later), not the beat up to
// MetricsEvery later: the agent's /metrics scrape shows current counts
// (F5: 50 requests later a scrape still said 1).
func TestMetricsFreshWhenBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hbs := beats(t, func(w *Worker) {
			time.Sleep(250 * time.Millisecond) // between the beats at 0.2 and 0.3 s
			for range 50 {
				w.reqs.observe(200, time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // the beat at 0.3 s
			synctest.Wait()
		})
		var got []uint64 // requests of each beat with metrics, before the final one
		for _, hb := range hbs {
			if hb.Metrics != nil && !hb.Final {
				got = append(got, hb.Metrics.Requests)
			}
		}
		// The first beat's metrics (0), then the beat at 0.3 s (50); none in
		// between, nothing having changed.
		if len(got) != 2 || got[0] != 0 || got[1] != 50 {
			t.Errorf("requests in the beats with metrics: %v; want [0 50]", got)
		}
	})
}

// TestMetricsOncePerSecond: heartbeats go every 100 ms; an idle worker's
// carry the metrics once a second, and in the final one.
func TestMetricsOncePerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hbs := beats(t, func(*Worker) { time.Sleep(3050 * time.Millisecond) })
		withMetrics := 0
		for _, hb := range hbs {
			if hb.Metrics != nil {
				withMetrics++
			}
		}
		// 31 beats (0, 0.1 s, ... 3.0 s) and the final one; metrics at 0,
		// 1, 2, 3 s and in the final.
		last := hbs[len(hbs)-1]
		if len(hbs) != 32 || withMetrics != 5 || !last.Final || last.Metrics == nil {
			t.Errorf("%d beats, %d with metrics, last %+v; want 32, 5, final with metrics", len(hbs), withMetrics, last)
		}
	})
}

// TestReadyBeatsAtOnce: the heartbeat that says ready goes out when the
// worker becomes ready, not at the next tick (the supervisor waits for it
// before it probes and switches).
func TestReadyBeatsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hbs := beats(t, func(w *Worker) {
			time.Sleep(30 * time.Millisecond) // between ticks
			w.ready.Store(true)
			w.beatNow()
			synctest.Wait()
		})
		var got []bool
		for _, hb := range hbs {
			if !hb.Final {
				got = append(got, hb.Ready)
			}
		}
		// The beat at 0 (not ready) and the one at 30 ms (ready).
		if len(got) != 2 || got[0] || !got[1] {
			t.Errorf("heartbeats before the final one, ready: %v; want [false true]", got)
		}
	})
}
