package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/edgeplane/edge/wire"
)

// Handler serves the agent's numbers in Prometheus's text format: the
// series of the controller's fleet metrics that describe one device
// (edge_agent_*, edge_module_*, edge_device_info), without the device
// label, sampled at each scrape from the same sources as the reports,
// plus process_* of the agent process (github.com/VictoriaMetrics/metrics;
// read from /proc, not runtime.ReadMemStats) and go_goroutines. modules gives each module's
// status (its serving version and state); dropped the reports not sent.
func Handler(c *Collector, modules func() []wire.ModuleStatus, dropped func() uint64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m := c.Collect(time.Now()) // the versions running now
		if dropped != nil {
			m.Agent.Dropped = dropped()
		}
		var status []wire.ModuleStatus
		if modules != nil {
			status = modules()
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		WritePrometheus(bw, &m, status)
		vm.WriteProcMetrics(bw)
		vm.WriteFDMetrics(bw)
		// The goroutine count without the rest of the go_* series, whose
		// runtime.ReadMemStats stops the world: a leak's first sign.
		fmt.Fprintf(bw, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
		bw.Flush()
	})
}

// family writes the HELP and TYPE lines of a metric family.
func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// labels formats {k="v",...} from pairs, escaping values as the text
// format wants.
func labels(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func boolValue(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// WritePrometheus writes m (and the modules' serving versions and states)
// as Prometheus series.
func WritePrometheus(w io.Writer, m *wire.Metrics, modules []wire.ModuleStatus) {
	a := &m.Agent
	gauge := func(name, help string, v float64) {
		family(w, name, "gauge", help)
		vm.WriteGaugeFloat64(w, name, v)
	}
	counter := func(name, help string, v float64) {
		family(w, name, "counter", help)
		vm.WriteCounterFloat64(w, name, v)
	}
	family(w, "edge_device_info", "gauge", "The agent's version, board, architecture and Wasm engine.")
	vm.WriteGaugeUint64(w, "edge_device_info"+labels("agent_version", a.Version, "board", a.Board, "arch", a.Arch, "engine", a.Engine), 1)
	gauge("edge_agent_start_time_seconds", "When the agent process started.", float64(a.Start.UnixNano())/1e9)
	gauge("edge_agent_rss_bytes", "Resident memory of the agent (supervisor) process.", float64(a.RSSBytes))
	gauge("edge_agent_pss_bytes", "Proportional set size of the agent process.", float64(a.PSSBytes))
	counter("edge_agent_cpu_seconds_total", "CPU time of the agent process (user + system).", a.CPUSeconds)
	gauge("edge_agent_disk_free_bytes", "Free bytes in the agent's data folder.", float64(a.DiskFree))
	gauge("edge_agent_disk_total_bytes", "Size of the file system of the agent's data folder.", float64(a.DiskTotal))
	gauge("edge_agent_broker_connected", "Whether the agent is connected to the broker.", float64(boolValue(a.Connected)))
	counter("edge_agent_broker_reconnects_total", "Broker connections the agent lost.", float64(a.Reconnects))
	counter("edge_agent_metrics_dropped_total", "Metrics reports the agent could not send (offline).", float64(a.Dropped))
	counter("edge_agent_logs_dropped_total", "Agent log lines over its own budget.", float64(a.LogsDropped))
	gauge("edge_agent_events_queued", "Events waiting in the agent's outbox.", float64(a.EventsQueued))

	if len(modules) > 0 {
		family(w, "edge_module_info", "gauge", "The version of a module serving (version \"\" while none serves) and its state.")
		for _, s := range modules {
			vm.WriteGaugeUint64(w, "edge_module_info"+labels("module", s.Name, "version", s.Version, "state", s.State), 1)
		}
	}
	writeModules(w, m.Modules)
}

// moduleSeries are the per-version series: name, type, help, value.
var moduleSeries = []struct {
	name, typ, help string
	value           func(*wire.ModuleMetrics) float64
}{
	{"edge_module_requests_total", "counter", "HTTP requests a module version answered.", func(e *wire.ModuleMetrics) float64 { return float64(e.Requests) }},
	{"edge_module_traps_total", "counter", "Guest traps (the instance was thrown away).", func(e *wire.ModuleMetrics) float64 { return float64(e.Traps) }},
	{"edge_module_timeouts_total", "counter", "Requests past their deadline.", func(e *wire.ModuleMetrics) float64 { return float64(e.Timeouts) }},
	{"edge_module_worker_restarts_total", "counter", "Worker process restarts of a module version.", func(e *wire.ModuleMetrics) float64 { return float64(e.WorkerRestarts) }},
	{"edge_module_rejections_total", "counter", "Manifests of the module the device refused.", func(e *wire.ModuleMetrics) float64 { return float64(e.Rejections) }},
	{"edge_module_sql_calls_total", "counter", "SQL host calls of a module version.", func(e *wire.ModuleMetrics) float64 { return float64(e.SQLCalls) }},
	{"edge_module_sql_seconds_total", "counter", "Time spent in SQL host calls.", func(e *wire.ModuleMetrics) float64 { return e.SQLSeconds }},
	{"edge_module_cpu_seconds_total", "counter", "CPU time of the module version's worker process.", func(e *wire.ModuleMetrics) float64 { return e.CPUSeconds }},
	{"edge_module_logs_dropped_total", "counter", "Module log lines over its budget.", func(e *wire.ModuleMetrics) float64 { return float64(e.LogsDropped) }},
	{"edge_module_messages_received_total", "counter", "MQTT messages queued for the module while this version served (since the agent started).", func(e *wire.ModuleMetrics) float64 { return float64(e.MessagesReceived) }},
	{"edge_module_messages_delivered_total", "counter", "Messages the guest acknowledged.", func(e *wire.ModuleMetrics) float64 { return float64(e.MessagesDelivered) }},
	{"edge_module_message_retries_total", "counter", "Message deliveries that failed and were retried.", func(e *wire.ModuleMetrics) float64 { return float64(e.MessageRetries) }},
	{"edge_module_dead_letters_total", "counter", "Messages given up: dropped by the guest, out of attempts, queue full, module removed.", func(e *wire.ModuleMetrics) float64 { return float64(e.DeadLetters) }},
	{"edge_module_messages_published_total", "counter", "Messages the module published.", func(e *wire.ModuleMetrics) float64 { return float64(e.MessagesPublished) }},
	{"edge_module_instances", "gauge", "Live guest instances of a module version.", func(e *wire.ModuleMetrics) float64 { return float64(e.Instances) }},
	{"edge_module_worker_rss_bytes", "gauge", "Resident memory of the module version's worker process.", func(e *wire.ModuleMetrics) float64 { return float64(e.RSSBytes) }},
	{"edge_module_worker_pss_bytes", "gauge", "Proportional set size of the worker process.", func(e *wire.ModuleMetrics) float64 { return float64(e.PSSBytes) }},
	{"edge_module_start_time_seconds", "gauge", "When the worker started.", func(e *wire.ModuleMetrics) float64 { return float64(e.Start.UnixNano()) / 1e9 }},
	{"edge_module_compile_seconds", "gauge", "Time the worker took to compile or load the module.", func(e *wire.ModuleMetrics) float64 { return e.CompileSeconds }},
}

func writeModules(w io.Writer, mods []wire.ModuleMetrics) {
	if len(mods) == 0 {
		return
	}
	for _, s := range moduleSeries {
		family(w, s.name, s.typ, s.help)
		for i := range mods {
			e := &mods[i]
			vm.WriteGaugeFloat64(w, s.name+labels("module", e.Name, "version", e.Version), s.value(e))
		}
	}
	family(w, "edge_module_responses_total", "counter", "HTTP responses of a module version by status class.")
	for i := range mods {
		e := &mods[i]
		for _, c := range []struct {
			class string
			n     uint64
		}{{"1xx", e.Responses1xx}, {"2xx", e.Responses2xx}, {"3xx", e.Responses3xx}, {"4xx", e.Responses4xx}, {"5xx", e.Responses5xx}} {
			vm.WriteCounterUint64(w, "edge_module_responses_total"+labels("module", e.Name, "version", e.Version, "class", c.class), c.n)
		}
	}
	const h = "edge_module_request_duration_seconds"
	family(w, h, "histogram", "Time to answer a request, as the worker's HTTP server saw it.")
	for i := range mods {
		e := &mods[i]
		if e.Latency.Validate() != nil {
			continue
		}
		var cum uint64
		for j, c := range e.Latency.Counts {
			cum += c
			le := "+Inf"
			if j < len(wire.LatencyBuckets) {
				le = strconv.FormatFloat(wire.LatencyBuckets[j], 'g', -1, 64)
			}
			vm.WriteCounterUint64(w, h+"_bucket"+labels("module", e.Name, "version", e.Version, "le", le), cum)
		}
		vm.WriteCounterFloat64(w, h+"_sum"+labels("module", e.Name, "version", e.Version), e.Latency.Sum)
		vm.WriteCounterUint64(w, h+"_count"+labels("module", e.Name, "version", e.Version), cum)
	}
}
