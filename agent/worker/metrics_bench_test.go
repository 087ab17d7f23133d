package worker

import (
	"testing"
	"time"
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
