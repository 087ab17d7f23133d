package worker

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// BenchmarkObserve is what the per-request metrics cost: two clock reads
// and the counters, from as many goroutines as the worker has Ps.
func BenchmarkObserve(b *testing.B) {
	m := newRequestMetrics(time.Now())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			began := time.Now()
			m.observe(200, time.Since(began))
		}
	})
}

// BenchmarkBeatMetrics is what a busy worker's heartbeat adds now that it
// carries the metrics on every beat after a change (10 a second): the
// snapshot, the comparison and the JSON of the metrics. An idle beat pays
// only the snapshot and the comparison (BenchmarkBeatIdle).
func BenchmarkBeatMetrics(b *testing.B) {
	m := newRequestMetrics(time.Now())
	enc := json.NewEncoder(io.Discard)
	var last *wire.ModuleMetrics
	for i := 0; b.Loop(); i++ {
		m.observe(200, time.Millisecond)
		s := m.snapshot(nil, 0)
		if !sameCounters(s, last) {
			last = s
		}
		enc.Encode(Heartbeat{Ready: true, Metrics: s})
	}
}

// BenchmarkBeatIdle: the snapshot and the comparison of a beat that
// carries no metrics.
func BenchmarkBeatIdle(b *testing.B) {
	m := newRequestMetrics(time.Now())
	last := m.snapshot(nil, 0)
	for b.Loop() {
		if s := m.snapshot(nil, 0); !sameCounters(s, last) {
			b.Fatal("changed")
		}
	}
}

// BenchmarkBeatMetricsDecode is the supervisor's side of a beat that
// carries the metrics: decoding it.
func BenchmarkBeatMetricsDecode(b *testing.B) {
	m := newRequestMetrics(time.Now())
	m.observe(200, time.Millisecond)
	line, err := json.Marshal(Heartbeat{Ready: true, Metrics: m.snapshot(nil, 0)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		var hb Heartbeat
		if err := json.Unmarshal(line, &hb); err != nil {
			b.Fatal(err)
		}
	}
}
