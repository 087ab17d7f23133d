// Package prom serves the controller's /metrics in the Prometheus
// exposition format (github.com/prometheus/client_golang): the controller
// process and Go runtime, the embedded broker, metrics ingest, and the
// fleet.
//
// The fleet series are built at scrape time by a Collector from
// fleet.Snapshot: no per-device metric objects are registered or kept, so
// a device that disappears leaves no series behind, and the series count
// is what the snapshot holds, which the ingest bounds: registered (or seen)
// devices only, at most wire.MaxModules modules per device and two
// versions of each, versions that parse as semantic versions, and label
// values of device-supplied text (board, agent version, ...) cut to
// maxLabel bytes. Counters are the controller's accumulation of the
// increases it saw (fleet.Totals), so they never go down when a worker
// restarts; a restart of the controller starts them from the devices'
// own counters, which Prometheus's rate() treats as the reset it is.
//
//	edge_device_up{device}                            1 online, 0 offline
//	edge_device_info{device,agent_version,board,arch,engine}   1
//	edge_device_last_report_timestamp_seconds{device}
//	edge_agent_{rss,pss}_bytes, edge_agent_disk_{free,total}_bytes, edge_agent_events_queued{device}
//	edge_agent_cpu_seconds_total, edge_agent_broker_reconnects_total,
//	edge_agent_metrics_dropped_total, edge_agent_logs_dropped_total{device}
//	edge_agent_start_time_seconds{device}, edge_agent_broker_connected{device}
//	edge_module_info{device,module,version,state}    1: the serving version ("" when none serves)
//	edge_module_requests_total{device,module,version}
//	edge_module_responses_total{device,module,version,class}   class 1xx..5xx
//	edge_module_{traps,timeouts,worker_restarts,rejections,sql_calls,logs_dropped}_total
//	edge_module_{messages_delivered,dead_letters}_total        MQTT messages (issue 11)
//	edge_module_{sql,cpu}_seconds_total
//	edge_module_request_duration_seconds             histogram, wire.LatencyBuckets
//	edge_module_instances, edge_module_worker_{rss,pss}_bytes, edge_module_start_time_seconds
//	edge_ingest_reports_total{result}                applied|malformed|unknown|late|dropped
//	edge_ingest_reports_received_total, edge_ingest_reports_lost_total
//	edge_ingest_module_entries_capped_total, edge_ingest_counter_resets_total
//	edge_ingest_queue_length, edge_ingest_lag_seconds (histogram)
//	edge_devices, edge_devices_online                 the fleet in two numbers
//	edge_controller_leader, edge_controller_lease_token   replicas: who publishes
//	edge_broker_*                                    embedded broker (absent with an external one)
//	process_*, go_*                                  the controller process
//
// /metrics/controller serves all but the fleet series: the controller's
// health, cheap to scrape often whatever the fleet's size.
package prom

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgeplane/edge/control/broker"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/wire"
)

// maxLabel bounds a label value taken from what a device sent.
const maxLabel = 64

// Config says what to expose.
type Config struct {
	Fleet *fleet.Fleet
	// Broker returns the embedded broker's figures; nil with an external
	// broker.
	Broker func() broker.Stats
	Logger *slog.Logger
}

// NewRegistry returns a registry with every collector of the controller;
// without the fleet, only the controller's own (process, Go runtime,
// broker, ingest).
func NewRegistry(cfg Config, fleet bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		&ingestCollector{fleet: cfg.Fleet},
	)
	if fleet {
		reg.MustRegister(&fleetCollector{fleet: cfg.Fleet})
	}
	if cfg.Broker != nil {
		reg.MustRegister(&brokerCollector{stats: cfg.Broker})
	}
	return reg
}

// Handler serves /metrics (fleet true) or /metrics/controller: one scrape
// at a time, each bounded in time. The fleet's series cost 3–4 µs of CPU
// each to build and encode, ~50 per device with one module
// (docs/BENCHMARKS.md): a fleet of thousands is best scraped rarely, and
// the controller's own health on /metrics/controller often.
func Handler(cfg Config, fleet bool) http.Handler {
	return promhttp.HandlerFor(NewRegistry(cfg, fleet), promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 2,
		Timeout:             30 * time.Second,
	})
}

// label makes text from a device a bounded, valid label value.
func label(s string) string {
	if len(s) > maxLabel {
		s = s[:maxLabel]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// histogram turns a wire histogram (per-bucket counts, overflow last)
// into Prometheus's cumulative buckets.
func histogram(h wire.Histogram) (count uint64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(wire.LatencyBuckets))
	for i, le := range wire.LatencyBuckets {
		if i < len(h.Counts) {
			count += h.Counts[i]
		}
		buckets[le] = count
	}
	if n := len(wire.LatencyBuckets); n < len(h.Counts) {
		count += h.Counts[n]
	}
	return count, buckets
}
