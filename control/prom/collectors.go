package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeplane/edge/control/broker"
	"github.com/edgeplane/edge/control/fleet"
)

var (
	dev    = []string{"device"}
	devMod = []string{"device", "module", "version"}

	deviceUp     = desc("edge_device_up", "Whether the device is connected (its retained status says online).", dev...)
	deviceInfo   = desc("edge_device_info", "The device's agent version, board, architecture and Wasm engine.", "device", "agent_version", "board", "arch", "engine")
	deviceReport = desc("edge_device_last_report_timestamp_seconds", "When the controller received the device's latest metrics report.", dev...)

	agentRSS        = desc("edge_agent_rss_bytes", "Resident memory of the agent (supervisor) process.", dev...)
	agentPSS        = desc("edge_agent_pss_bytes", "Proportional set size of the agent process.", dev...)
	agentCPU        = desc("edge_agent_cpu_seconds_total", "CPU time of the agent process (user + system).", dev...)
	agentDiskFree   = desc("edge_agent_disk_free_bytes", "Free bytes in the agent's data folder.", dev...)
	agentDiskTotal  = desc("edge_agent_disk_total_bytes", "Size of the file system of the agent's data folder.", dev...)
	agentReconnects = desc("edge_agent_broker_reconnects_total", "Broker connections the agent lost.", dev...)
	agentConnected  = desc("edge_agent_broker_connected", "Whether the agent was connected when it sampled its latest report.", dev...)
	agentDropped    = desc("edge_agent_metrics_dropped_total", "Metrics reports the agent could not send (offline).", dev...)
	agentLogsDrop   = desc("edge_agent_logs_dropped_total", "Agent log lines over its own budget.", dev...)
	agentEvents     = desc("edge_agent_events_queued", "Events waiting in the agent's outbox.", dev...)
	agentStart      = desc("edge_agent_start_time_seconds", "When the agent process started (the agent's clock).", dev...)

	moduleInfo      = desc("edge_module_info", "The version of a module serving on a device (version \"\" while none serves) and its state.", "device", "module", "version", "state")
	moduleRequests  = desc("edge_module_requests_total", "HTTP requests a module version answered.", devMod...)
	moduleResponses = desc("edge_module_responses_total", "HTTP responses of a module version by status class.", "device", "module", "version", "class")
	moduleTraps     = desc("edge_module_traps_total", "Guest traps (the instance was thrown away).", devMod...)
	moduleTimeouts  = desc("edge_module_timeouts_total", "Requests past their deadline.", devMod...)
	moduleRestarts  = desc("edge_module_worker_restarts_total", "Worker process restarts of a module version.", devMod...)
	moduleRejects   = desc("edge_module_rejections_total", "Manifests of the module the device refused.", devMod...)
	moduleSQLCalls  = desc("edge_module_sql_calls_total", "SQL host calls of a module version.", devMod...)
	moduleSQLTime   = desc("edge_module_sql_seconds_total", "Time spent in SQL host calls.", devMod...)
	moduleCPU       = desc("edge_module_cpu_seconds_total", "CPU time of the module version's worker process.", devMod...)
	moduleLogsDrop  = desc("edge_module_logs_dropped_total", "Module log lines over its budget.", devMod...)
	moduleDelivered = desc("edge_module_messages_delivered_total", "MQTT messages a module version's guest acknowledged.", devMod...)
	moduleDead      = desc("edge_module_dead_letters_total", "MQTT messages given up for a module version: dropped by the guest, out of attempts, queue full, module removed.", devMod...)
	moduleLatency   = desc("edge_module_request_duration_seconds", "Time to answer a request, as the worker's HTTP server saw it.", devMod...)
	moduleInstances = desc("edge_module_instances", "Live guest instances of a module version.", devMod...)
	moduleRSS       = desc("edge_module_worker_rss_bytes", "Resident memory of the module version's worker process.", devMod...)
	modulePSS       = desc("edge_module_worker_pss_bytes", "Proportional set size of the worker process.", devMod...)
	moduleStart     = desc("edge_module_start_time_seconds", "When the worker started (the agent's clock).", devMod...)

	classes = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
)

// fleetCollector builds the fleet series from a snapshot at each scrape.
type fleetCollector struct{ fleet *fleet.Fleet }

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{deviceUp, deviceInfo, deviceReport, agentRSS, agentPSS, agentCPU, agentDiskFree,
		agentDiskTotal, agentReconnects, agentConnected, agentDropped, agentLogsDrop, agentEvents, agentStart,
		moduleInfo, moduleRequests, moduleResponses, moduleTraps, moduleTimeouts, moduleRestarts, moduleRejects,
		moduleSQLCalls, moduleSQLTime, moduleCPU, moduleLogsDrop, moduleDelivered, moduleDead, moduleLatency, moduleInstances, moduleRSS, modulePSS, moduleStart} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.fleet.Snapshot().Devices {
		collectDevice(ch, &d)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func collectDevice(ch chan<- prometheus.Metric, d *fleet.DeviceSnapshot) {
	id := d.ID
	gauge(ch, deviceUp, boolean(d.Online), id)
	version, board, arch, engine := d.Agent.Version, d.Agent.Board, d.Agent.Arch, d.Agent.Engine
	if st := d.Status; st != nil {
		version, board, arch, engine = st.AgentVersion, st.Board, st.Arch, st.Engine
	}
	if version != "" || arch != "" {
		gauge(ch, deviceInfo, 1, id, label(version), label(board), label(arch), label(engine))
	}
	if st := d.Status; st != nil {
		for _, m := range st.Modules {
			gauge(ch, moduleInfo, 1, id, m.Name, label(m.Version), label(m.State))
		}
	}
	if d.Reported.IsZero() {
		return
	}
	a := &d.Agent
	gauge(ch, deviceReport, float64(d.Reported.UnixNano())/1e9, id)
	gauge(ch, agentRSS, float64(a.RSSBytes), id)
	gauge(ch, agentPSS, float64(a.PSSBytes), id)
	counter(ch, agentCPU, d.Totals.CPUSeconds, id)
	gauge(ch, agentDiskFree, float64(a.DiskFree), id)
	gauge(ch, agentDiskTotal, float64(a.DiskTotal), id)
	counter(ch, agentReconnects, float64(d.Totals.Reconnects), id)
	gauge(ch, agentConnected, boolean(a.Connected), id)
	counter(ch, agentDropped, float64(d.Totals.MetricsDropped), id)
	counter(ch, agentLogsDrop, float64(d.Totals.LogsDropped), id)
	gauge(ch, agentEvents, float64(a.EventsQueued), id)
	if !a.Start.IsZero() {
		gauge(ch, agentStart, float64(a.Start.UnixNano())/1e9, id)
	}
	for i := range d.Series {
		collectSeries(ch, id, &d.Series[i])
	}
}

func collectSeries(ch chan<- prometheus.Metric, id string, s *fleet.SeriesSnapshot) {
	l := []string{id, s.Module, s.Version}
	t := &s.Totals
	counter(ch, moduleRequests, float64(t.Requests), l...)
	for i, n := range t.Responses {
		counter(ch, moduleResponses, float64(n), id, s.Module, s.Version, classes[i])
	}
	counter(ch, moduleTraps, float64(t.Traps), l...)
	counter(ch, moduleTimeouts, float64(t.Timeouts), l...)
	counter(ch, moduleRestarts, float64(t.WorkerRestarts), l...)
	counter(ch, moduleRejects, float64(t.Rejections), l...)
	counter(ch, moduleSQLCalls, float64(t.SQLCalls), l...)
	counter(ch, moduleSQLTime, t.SQLSeconds, l...)
	counter(ch, moduleCPU, t.CPUSeconds, l...)
	counter(ch, moduleLogsDrop, float64(t.LogsDropped), l...)
	counter(ch, moduleDelivered, float64(t.MessagesDelivered), l...)
	counter(ch, moduleDead, float64(t.DeadLetters), l...)
	count, buckets := histogram(t.Latency)
	ch <- prometheus.MustNewConstHistogram(moduleLatency, count, t.Latency.Sum, buckets, l...)
	gauge(ch, moduleInstances, float64(s.Last.Instances), l...)
	gauge(ch, moduleRSS, float64(s.Last.RSSBytes), l...)
	gauge(ch, modulePSS, float64(s.Last.PSSBytes), l...)
	if !s.Last.Start.IsZero() {
		gauge(ch, moduleStart, float64(s.Last.Start.UnixNano())/1e9, l...)
	}
}

var (
	ingestReports  = desc("edge_ingest_reports_total", "Metrics reports by what became of them: applied, malformed, unknown (device neither registered nor seen), late (older than the device's latest), dropped (queue full: the controller is behind).", "result")
	ingestReceived = desc("edge_ingest_reports_received_total", "Metrics reports taken from MQTT.")
	ingestLost     = desc("edge_ingest_reports_lost_total", "Reports that never arrived (gaps in the devices' sequence numbers).")
	ingestCapped   = desc("edge_ingest_module_entries_capped_total", "Module entries of reports left out by the label bounds.")
	ingestResets   = desc("edge_ingest_counter_resets_total", "Module counters that restarted (worker restarts).")
	ingestQueue    = desc("edge_ingest_queue_length", "Reports waiting to be applied.")
	ingestLag      = desc("edge_ingest_lag_seconds", "Time from a report's arrival to its being applied.")
	devicesKnown   = desc("edge_devices", "Devices registered or seen.")
	devicesOnline  = desc("edge_devices_online", "Devices whose retained status says online.")
	leader         = desc("edge_controller_leader", "1 while this controller holds the leader lease (publishes desired states, drives rollouts); replicas that do not hold it 0.")
	leaseToken     = desc("edge_controller_lease_token", "Fencing token of the leader lease this controller holds (0: not leader).")
)

type ingestCollector struct{ fleet *fleet.Fleet }

func (c *ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ingestReports, ingestReceived, ingestLost, ingestCapped, ingestResets, ingestQueue, ingestLag, devicesKnown, devicesOnline, leader, leaseToken} {
		ch <- d
	}
}

func (c *ingestCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fleet.IngestStats()
	for _, r := range []struct {
		result string
		n      uint64
	}{{"applied", s.Applied}, {"malformed", s.Malformed}, {"unknown", s.Unknown}, {"late", s.Late}, {"dropped", s.Dropped}} {
		counter(ch, ingestReports, float64(r.n), r.result)
	}
	counter(ch, ingestReceived, float64(s.Received))
	counter(ch, ingestLost, float64(s.Lost))
	counter(ch, ingestCapped, float64(s.Capped))
	counter(ch, ingestResets, float64(s.Resets))
	gauge(ch, ingestQueue, float64(s.Queued))
	count, buckets := histogram(s.Lag)
	ch <- prometheus.MustNewConstHistogram(ingestLag, count, s.Lag.Sum, buckets)
	known, online := c.fleet.DeviceCounts()
	gauge(ch, devicesKnown, float64(known))
	gauge(ch, devicesOnline, float64(online))
	tok := c.fleet.LeaseToken()
	gauge(ch, leaseToken, float64(tok))
	if tok != 0 {
		gauge(ch, leader, 1)
	} else {
		gauge(ch, leader, 0)
	}
}

var (
	brokerClients   = desc("edge_broker_clients_connected", "Clients connected to the embedded broker.")
	brokerReceived  = desc("edge_broker_messages_received_total", "PUBLISH packets the embedded broker received.")
	brokerSent      = desc("edge_broker_messages_sent_total", "PUBLISH packets the embedded broker sent.")
	brokerDropped   = desc("edge_broker_messages_dropped_total", "Messages the embedded broker dropped for subscribers too slow to take them.")
	brokerInflight  = desc("edge_broker_inflight_dropped_total", "In-flight QoS 1/2 messages the embedded broker dropped.")
	brokerBytesIn   = desc("edge_broker_received_bytes_total", "Bytes the embedded broker received.")
	brokerBytesOut  = desc("edge_broker_sent_bytes_total", "Bytes the embedded broker sent.")
	brokerRetained  = desc("edge_broker_retained_messages", "Retained messages the embedded broker holds.")
	brokerSubscribe = desc("edge_broker_subscriptions", "Subscriptions on the embedded broker.")
)

type brokerCollector struct{ stats func() broker.Stats }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{brokerClients, brokerReceived, brokerSent, brokerDropped, brokerInflight, brokerBytesIn, brokerBytesOut, brokerRetained, brokerSubscribe} {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge(ch, brokerClients, float64(s.ClientsConnected))
	counter(ch, brokerReceived, float64(s.MessagesReceived))
	counter(ch, brokerSent, float64(s.MessagesSent))
	counter(ch, brokerDropped, float64(s.MessagesDropped))
	counter(ch, brokerInflight, float64(s.InflightDropped))
	counter(ch, brokerBytesIn, float64(s.BytesReceived))
	counter(ch, brokerBytesOut, float64(s.BytesSent))
	gauge(ch, brokerRetained, float64(s.Retained))
	gauge(ch, brokerSubscribe, float64(s.Subscriptions))
}
