package worker

import (
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/wire"
)

// MetricsEvery is how often at least a heartbeat carries the worker's
// metrics. A beat carries them too whenever a counter changed since the
// last ones sent (sameCounters), so the supervisor's copy, and with it the
// agent's /metrics scrape, is at most one HeartbeatInterval (100 ms) old
// while the worker is busy, and an idle worker's beat stays small. The
// final heartbeat always carries them.
const MetricsEvery = time.Second

// sameCounters reports whether a and b (nil: none sent yet) hold the same
// counters and gauges: what a beat compares before it carries metrics.
// The latency histogram changes only with the response classes.
func sameCounters(a, b *wire.ModuleMetrics) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Requests == b.Requests && a.Responses1xx == b.Responses1xx &&
		a.Responses2xx == b.Responses2xx && a.Responses3xx == b.Responses3xx &&
		a.Responses4xx == b.Responses4xx && a.Responses5xx == b.Responses5xx &&
		a.Traps == b.Traps && a.Timeouts == b.Timeouts && a.Instances == b.Instances &&
		a.SQLCalls == b.SQLCalls && a.SQLSeconds == b.SQLSeconds &&
		a.LogsDropped == b.LogsDropped && a.CompileSeconds == b.CompileSeconds
}

// boundNanos are wire.LatencyBuckets in nanoseconds, so a request is put in
// its bucket with integer comparisons. A bound b in seconds becomes the
// largest duration whose Seconds() is still <= b, so the bucket is the one
// wire.Histogram.Observe would choose.
var boundNanos = func() []int64 {
	out := make([]int64, len(wire.LatencyBuckets))
	for i, b := range wire.LatencyBuckets {
		n := int64(b * 1e9)
		for time.Duration(n+1).Seconds() <= b {
			n++
		}
		for n > 0 && time.Duration(n).Seconds() > b {
			n--
		}
		out[i] = n
	}
	return out
}()

// requestMetrics count the client requests a worker answered, measured
// around the whole request in its HTTP handler. Every field is an atomic:
// a request costs three atomic adds and no allocation; each heartbeat reads
// them (every 100 ms).
type requestMetrics struct {
	start    time.Time
	classes  [6]atomic.Uint64 // by status/100: 1xx .. 5xx (index 0 unused)
	buckets  []atomic.Uint64  // len(wire.LatencyBuckets)+1, the last one the overflow
	sumNanos atomic.Uint64
}

func newRequestMetrics(start time.Time) *requestMetrics {
	return &requestMetrics{start: start, buckets: make([]atomic.Uint64, len(boundNanos)+1)}
}

// observe counts one answered request with its final status and latency.
func (m *requestMetrics) observe(status int, d time.Duration) {
	c := status / 100
	if c < 1 || c > 5 { // net/http allows 100..999; 6xx-9xx count as server errors
		c = 5
	}
	m.classes[c].Add(1)
	n := int64(d)
	i := 0
	for i < len(boundNanos) && n > boundNanos[i] {
		i++
	}
	m.buckets[i].Add(1)
	if n > 0 {
		m.sumNanos.Add(uint64(n))
	}
}

// answered returns the responses written and those with status >= 500.
func (m *requestMetrics) answered() (all, server uint64) {
	for i := 1; i < len(m.classes); i++ {
		all += m.classes[i].Load()
	}
	return all, m.classes[5].Load()
}

// snapshot fills the worker's part of a wire.ModuleMetrics: the request
// counters, and from the module (nil while it loads) traps, timeouts,
// instances, SQL and dropped logs. Name and Version, restarts, rejections
// and the process's memory and CPU are the supervisor's to fill.
func (m *requestMetrics) snapshot(st *wasmhost.Stats, load time.Duration) *wire.ModuleMetrics {
	mm := &wire.ModuleMetrics{
		Start:          m.start,
		Responses1xx:   m.classes[1].Load(),
		Responses2xx:   m.classes[2].Load(),
		Responses3xx:   m.classes[3].Load(),
		Responses4xx:   m.classes[4].Load(),
		Responses5xx:   m.classes[5].Load(),
		Latency:        wire.NewHistogram(),
		CompileSeconds: load.Seconds(),
	}
	// Requests is the sum of the classes read above, so the two always
	// agree within one report; the histogram is read after and may count
	// a request more (a consumer sees that at the next report).
	mm.Requests = mm.Responses1xx + mm.Responses2xx + mm.Responses3xx + mm.Responses4xx + mm.Responses5xx
	for i := range m.buckets {
		mm.Latency.Counts[i] = m.buckets[i].Load()
	}
	mm.Latency.Sum = time.Duration(m.sumNanos.Load()).Seconds()
	if st != nil {
		mm.Traps, mm.Timeouts, mm.Instances = st.Traps, st.Timeouts, st.Instances
		mm.SQLCalls, mm.SQLSeconds, mm.LogsDropped = st.SQLCalls, st.SQLTime.Seconds(), st.LogsDropped
	}
	return mm
}
