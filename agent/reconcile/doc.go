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
//	         ┌─────▼─────┐ reject (signature, target, replay or
//	         │   check   │─older epoch, quarantined, size, blob ref)─▶ rejected
//	         └─────┬─────┘                                      ──────┤
//	 same version  │ newer version (or epoch)                         │
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
//	         └─────┬─────┘  (that manifest quarantined; a fault of    │
//	               │         the device's configuration: failed,      │
//	               │         retried, never quarantined)              │
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
// # Quarantine and configuration faults
//
// What is quarantined is a manifest (store.RunKey: the module's bytes
// with its version and settings), never a digest: the same binary with a
// corrected configuration, or under a new version, is a new attempt. A
// Deployer error wrapping ErrConfig (a database binding the device does
// not define, a port another program holds) is the device's fault: it is
// reported failed with its reason, retried, and nothing is quarantined or
// rolled back, the committed version included. The operator clears a
// module's quarantine through the desired state (QuarantineClear), which
// only removes refusals.
//
// # Operator rollbacks
//
// A manifest one epoch above the floor (edgectl rollback) may name an
// older version: it is installed like an upgrade and raises the floor to
// (epoch, version), so replays of anything signed before it are refused
// (package verify). When it names the version serving already (the agent
// had rolled back to it by itself), it is committed without a restart.
//
// # Modules that leave the desired state
//
// A module no longer in the desired state (edgectl undeploy, a cancel or
// a rollout that removed it) is stopped and forgotten, whether it ran,
// was rejected or failed, or only its committed version is stored: its
// versions go, so Prune removes their bytes, and it leaves the status
// (the controller's confirmation). Its replay floor and quarantine stay,
// and so does its data folder (DATA/modules/NAME). While an entry of the
// desired state cannot be read at all nothing is stopped: it might be
// that module.
//
// A rejection changes nothing in the store or in what runs. Each step is
// reported as a wire.Event with the deployment id through the durable
// outbox; the same event is reported once per process, not on every
// duplicate delivery.
package reconcile
