// Package metrics assembles the agent's wire.Metrics report, publishes it
// to the controller on an interval and when what serves changes, and
// serves the same numbers in Prometheus's text format on the agent's
// admin endpoint.
//
// # Where the numbers come from
//
//	worker      requests, responses by class, latency histogram (around the
//	            whole HTTP request), traps, timeouts, live instances, SQL
//	            calls and time, compile/load time, dropped guest logs:
//	            atomics on the request path, carried to the supervisor in
//	            the heartbeat, every 100 ms while they change, once a
//	            second while not (agent/worker): a scrape's are at most
//	            0.1 s old
//	supervisor  per version: worker restarts; per worker: RSS and PSS
//	            (/proc/PID/smaps_rollup), CPU (/proc/PID/stat), read when a
//	            report is made (agent/supervisor)
//	reconciler  rejections per module (agent/reconcile)
//	agent       its uptime, version, board, arch, engine, its own RSS, PSS
//	            and CPU, the data folder's free and total space (statfs),
//	            the broker connection and the connections lost, events
//	            waiting in the outbox, its own dropped log lines
//
// Counters are cumulative since the Start of what counts them (the agent
// process, or the worker process: a restarted worker starts from zero
// with a new Start), so a consumer computes rates from differences and
// sees a reset as a new Start.
//
// # Publishing
//
// Publisher sends a report every interval (10 s by default; 0 disables),
// and at once, at most once a second, when the set of serving module
// versions changes. Reports go at QoS 0 and are never queued: one made
// while offline is counted in AgentMetrics.Dropped, which the next report
// carries. Seq numbers every report made, sent or not, from 1. A report
// covers every version that ran since the previous report that was sent:
// a version that stopped in between is reported with its final counters.
package metrics
