package wire

import (
	"errors"
	"fmt"
	"time"
)

// Metrics is an agent's periodic report on MetricsTopic (QoS 0): sent every
// metrics interval (10 s by default) and at once when the set of serving
// module versions changes. Reports are dropped, not queued, while the agent
// is offline; each dropped report is counted in AgentMetrics.Dropped, which
// the next report carries.
//
// Counters are cumulative since the Start of whatever counts them: the
// agent process for AgentMetrics, the worker process for a ModuleMetrics. A
// report with a different Start means the counters were reset (a restart);
// a consumer computes a rate from the difference of two reports with the
// same Start, and treats a new Start as a reset.
type Metrics struct {
	Device string    `json:"device"`
	Time   time.Time `json:"time"` // when sampled, by the agent's clock
	// Seq numbers the reports of one agent process from 1, so a consumer
	// sees gaps and reordering (QoS 0).
	Seq     uint64          `json:"seq"`
	Agent   AgentMetrics    `json:"agent"`
	Modules []ModuleMetrics `json:"modules,omitempty"`
}

// AgentMetrics describe the agent process (the supervisor) and its board.
type AgentMetrics struct {
	Start        time.Time `json:"start"` // process start
	Version      string    `json:"version"`
	Board        string    `json:"board,omitempty"`
	Arch         string    `json:"arch"`
	Engine       string    `json:"engine,omitempty"` // "compiler" or "interpreter"
	RSSBytes     int64     `json:"rss_bytes"`        // /proc/self/smaps_rollup
	PSSBytes     int64     `json:"pss_bytes"`
	CPUSeconds   float64   `json:"cpu_seconds"`     // user + system, cumulative
	DiskFree     int64     `json:"disk_free_bytes"` // in the agent's data folder
	DiskTotal    int64     `json:"disk_total_bytes"`
	Connected    bool      `json:"broker_connected"`
	Reconnects   uint64    `json:"broker_reconnects"` // connections lost since Start
	Dropped      uint64    `json:"metrics_dropped"`   // reports not sent since Start
	LogsDropped  uint64    `json:"logs_dropped"`      // log lines over the agent's own budget
	EventsQueued int       `json:"events_queued"`     // events waiting in the outbox
}

// ModuleMetrics are one module version's counters since its worker
// started. During a blue/green switch both versions are reported.
type ModuleMetrics struct {
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Start   time.Time `json:"start"` // worker start: a new Start resets the counters

	Requests     uint64 `json:"requests"` // HTTP requests answered
	Responses1xx uint64 `json:"responses_1xx,omitempty"`
	Responses2xx uint64 `json:"responses_2xx"`
	Responses3xx uint64 `json:"responses_3xx,omitempty"`
	Responses4xx uint64 `json:"responses_4xx"`
	Responses5xx uint64 `json:"responses_5xx"`
	Traps        uint64 `json:"traps"`    // guest traps (instance thrown away)
	Timeouts     uint64 `json:"timeouts"` // requests past their deadline
	// Latency of whole requests as the worker's HTTP server saw them.
	Latency Histogram `json:"latency"`

	Instances      int     `json:"instances"`       // live guest instances now
	WorkerRestarts uint64  `json:"worker_restarts"` // of this version, since the agent started
	CompileSeconds float64 `json:"compile_seconds"` // compile or cache load of this worker
	Rejections     uint64  `json:"rejections"`      // manifests of this module refused since the agent started
	SQLCalls       uint64  `json:"sql_calls"`
	SQLSeconds     float64 `json:"sql_seconds"` // time spent in SQL host calls
	LogsDropped    uint64  `json:"logs_dropped"`

	RSSBytes   int64   `json:"rss_bytes"` // the worker process
	PSSBytes   int64   `json:"pss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`

	// Messaging of this version (what happened while it served), since
	// the agent started, like WorkerRestarts: messages queued for it,
	// acknowledged by the guest, retried, dead letters (dropped by the
	// guest, out of attempts, queue full, module removed), and messages
	// it published.
	MessagesReceived  uint64 `json:"messages_received,omitempty"`
	MessagesDelivered uint64 `json:"messages_delivered,omitempty"`
	MessageRetries    uint64 `json:"message_retries,omitempty"`
	DeadLetters       uint64 `json:"dead_letters,omitempty"`
	MessagesPublished uint64 `json:"messages_published,omitempty"`
}

// LatencyBuckets are the upper bounds, in seconds, of the request latency
// histogram every agent reports: fixed, so histograms of different devices
// and versions merge by adding their counts. A request of d seconds falls in
// the first bucket i with d <= LatencyBuckets[i], or in the overflow bucket.
var LatencyBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Histogram is a latency histogram with the bounds LatencyBuckets. Counts
// are per bucket (not cumulative), len(LatencyBuckets)+1 long, the last one
// counting what exceeded every bound.
type Histogram struct {
	Counts []uint64 `json:"counts"`
	Sum    float64  `json:"sum"` // seconds
}

// ErrHistogram is wrapped by Histogram.Validate errors.
var ErrHistogram = errors.New("bad histogram")

// NewHistogram returns an empty histogram with the right number of buckets.
func NewHistogram() Histogram {
	return Histogram{Counts: make([]uint64, len(LatencyBuckets)+1)}
}

// Observe adds one observation of d.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += s
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Add adds o's counts to h (both valid).
func (h *Histogram) Add(o Histogram) {
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Sum += o.Sum
}

// Quantile estimates the q-quantile (0 < q < 1) in seconds by linear
// interpolation within the bucket, as Prometheus's histogram_quantile does;
// observations in the overflow bucket count as the highest bound. It is 0
// without observations.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(LatencyBuckets) {
				return LatencyBuckets[len(LatencyBuckets)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = LatencyBuckets[i-1]
			}
			return lo + (LatencyBuckets[i]-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return LatencyBuckets[len(LatencyBuckets)-1]
}

// Validate checks the bucket count and the sum.
func (h *Histogram) Validate() error {
	if len(h.Counts) != len(LatencyBuckets)+1 {
		return fmt.Errorf("%w: %d buckets, want %d", ErrHistogram, len(h.Counts), len(LatencyBuckets)+1)
	}
	if h.Sum < 0 || h.Sum != h.Sum {
		return fmt.Errorf("%w: sum %v", ErrHistogram, h.Sum)
	}
	return nil
}

// Validate checks a report as it arrives from the network: the device id,
// the module count (MaxModules) and every histogram.
func (m *Metrics) Validate() error {
	if err := ValidateDeviceID(m.Device); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if len(m.Modules) > 2*MaxModules { // two versions of each during a switch
		return fmt.Errorf("metrics: %d module entries, at most %d", len(m.Modules), 2*MaxModules)
	}
	for i := range m.Modules {
		mm := &m.Modules[i]
		if err := ValidateModuleName(mm.Name); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if err := mm.Latency.Validate(); err != nil {
			return fmt.Errorf("metrics: module %s@%s: %w", mm.Name, mm.Version, err)
		}
	}
	return nil
}
