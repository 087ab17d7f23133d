// Package reconcile drives the agent toward its desired state: per module
// it verifies the signed manifest, fetches and checks the bytes into the
// store, and hands a verified, stored module to a Deployer (the process
// supervisor: compile, start beside the old version, probe, switch, roll
// back). It is level-triggered and idempotent: the same desired state
// applied twice, out-of-order generations, reconnects and restarts all
// converge, and a boot with no broker reconciles from the store alone.
//
// # Per-module state machine
//
//	          desired module
//	               │
//	         ┌─────▼─────┐ reject (signature, target, replay,
//	         │   check   │─quarantined, size, blob ref)──▶ rejected ──┐
//	         └─────┬─────┘                                            │
//	 same version  │ newer version                                    │
//	┌──────────────┤                                                  │
//	│        ┌─────▼─────┐ stalled / no broker                        │
//	│        │  fetching │──────────────────────▶ retry later ───────┤
//	│        └─────┬─────┘  (chunks kept on disk: resume)             │
//	│        ┌─────▼─────┐ digest / size / gzip                       │
//	│        │ verifying │──────────────────────▶ rejected ──────────┤
//	│        └─────┬─────┘                                            │
//	│     put blob, stage envelope                                    │
//	│        ┌─────▼─────┐ probe fails                                │
//	└───────▶│  Deploy   │──────────▶ failed / rolled_back ──────────┤
//	         └─────┬─────┘  (digest quarantined)                      │
//	        commit │ (last-good ← current, replay floor ↑), prune     │
//	         ┌─────▼─────┐                                            │
//	         │  running  │◀── ensure current: the committed version ──┘
//	         └───────────┘    keeps (or starts) serving
//
// The same version and digest as the one serving, under a new deployment
// id (pushed again, or after a controller restart), is reported running at
// once under that id ("already running"): the controller keys progress by
// deployment, and it would otherwise stay pending.
//
// # Crash loops
//
// The Deployer reports a running version whose worker keeps crashing
// (supervisor.Config.OnUnhealthy → Unhealthy). If it is the committed
// version and a last-known-good version is stored, Run starts last-good
// through the Deployer (blue/green, like a deploy), then quarantines the
// crashing digest and makes last-good current (store.Rollback), and
// reports rolled_back ("crash loop: N crashes in 1m ..."). Last-good is
// started before the store changes, so a failure there leaves the store
// naming the crashing version, which keeps restarting with back-off.
// Without a last-known-good version the report is failed and the
// Deployer keeps restarting it.
//
// The status (Status, Modules) tells what serves as the Deployer sees it
// (version, digest, port, the deployment that installed it) and, apart as
// Attempt, the latest deployment of the module when it is not that
// version, with its reason; it is published on every step.
//
// A rejection changes nothing in the store or in what runs. Each step is
// reported as a wire.Event with the deployment id through the durable
// outbox; the same event is reported once per process, not on every
// duplicate delivery.
package reconcile
