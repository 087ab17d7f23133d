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
// A rejection changes nothing in the store or in what runs. Each step is
// reported as a wire.Event with the deployment id through the durable
// outbox; the same event is reported once per process, not on every
// duplicate delivery.
package reconcile
