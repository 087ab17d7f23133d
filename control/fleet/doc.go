// Package fleet is the controller's logic between the HTTP API, the state
// store and MQTT: it turns a signed deployment into per-device desired
// state, serves module chunks to agents that ask for them, and ingests what
// agents report.
//
// # Level-triggered desired state
//
// The controller never sends commands. For each device it keeps one
// complete wire.DesiredState with a generation that grows with every change,
// and publishes it retained with QoS 1 on the device's desired topic. An
// agent that was offline, restarted, or received a message twice simply
// reconciles toward the latest state it sees; the generation lets it ignore
// an older one. The publisher never sends a device a generation older than
// one it sent before, so the retained message is always the newest
// generation (publish.go), and every desired state is re-published whenever
// the controller (re)connects, so a broker that lost its retained messages
// converges again.
//
// # Why the controller never signs
//
// Manifests are signed on the operator's machine (edgectl). The controller
// only reads the manifest payload to learn what to deliver where; it may
// check signatures against keys it is given (--trust), as an early, friendly
// refusal, but agents verify on their own. A compromised controller or
// broker can therefore withhold or replay updates, never make a board run
// unsigned code.
//
// # Deployment progress
//
//	pending ──▶ fetching ──▶ verifying ──▶ compiling ──▶ starting ──▶ probing ──▶ running
//	   │            │             │             │             │            │
//	   ├────────────┴─────────────┴──── rejected | failed | rolled_back ◀──┤
//	   └── superseded (a newer push) | timed_out (deadline) | cancelled ◀──┘
//
// Progress comes from the agent's events and, level-triggered again, from
// the module states in its retained status. Two terminal states come from
// the controller itself: superseded, when a newer deployment of the module
// replaces an unfinished one in a device's desired state, and timed_out,
// which a sweeper sets at the deployment's deadline (Config.DeployTimeout
// after its creation, stored with it, so a restart does not reset it) for
// every device still short of a terminal state. A device whose stored
// blob the controller cannot serve (a chunk fails its hash, the file is
// gone) fails at its first fetch. A deployment is done when every targeted
// device is in a terminal state: by its deadline at the latest.
//
// removed is the third: RemoveDevice ends a device's unfinished part in
// every deployment at once, and a deployment created later for targets
// chosen before (a rollout's next wave, its rollback) records the removed
// device removed without sending it anything. removed counts as done and
// not as a failure (wire.Failed): a wave soaks, a rollback ends, without
// the device.
//
// cancelled is the operator's (CancelDeployment): a device that had not
// finished gets back, in its desired state, the entry the deployment
// replaced (kept per device when the deployment was created), or loses
// the module where the deployment installed it; a device that finished is
// left as it is (going back from a version that runs is a rollback).
// Undeploy (undeploy.go) removes a module from the desired state of the
// devices a push's targets select, and ends an unfinished deployment of
// it there cancelled too.
//
// # Targeting
//
// A manifest's nodes must be known devices (registered, or reported once)
// unless the request allows unregistered targets; label targets match each
// known device's effective labels: the central ones (SetLabels, carried to
// the agent in its desired state) under the agent's own, which win
// (wire.MergeLabels). Both refusals (an unknown node, labels matching
// nothing) are ErrUnknownDevice / ErrNoTargets, answered 400 before
// anything is stored.
//
// # Staged rollouts
//
// CreateRollout resolves the targets once, in a stated order (devices
// online at creation first, then by id), and splits them into cumulative
// waves ("1,10%,50%,100%": wire.WaveEnds; a percentage rounds up; waves
// that add no device are dropped; the last must reach everyone). The rollout is a
// document in the store, advanced by one loop (runRollouts, every
// Config.RolloutTick and at once after a change), so a restarted
// controller goes on where it stopped, gate figures included:
//
//	               create
//	                 │
//	      ┌──────▶ deploying ── a device of a started wave ends rejected, failed,
//	      │          │          rolled back, timed out or superseded ───────┐
//	      │          │ every device of the wave runs the version            │
//	      │          ▼                                                      │
//	      │       soaking ───── the gate fails (or a device as above) ──────┤
//	      │          │                                                      ▼
//	      │          │ the gate passes at the end of the soak         rolling_back
//	      └── more ──┤                                                      │
//	          waves  │ last wave                        every rollback deployment done
//	                 ▼                                                      ▼
//	             succeeded                        rolled_back | aborted | rollback_failed
//
//	pause: deploying or soaking ──▶ paused; resume: back where it was (a
//	soaking wave soaks again in full); abort: any live state but
//	rolling_back ──▶ rolling_back, ending aborted; abort while
//	rolling_back ──▶ aborted at once (the way out of a rollback that
//	waits for a device: its deployments go on alone to their deadline).
//
// A wave is pending, deploying, soaking, then passed or failed; one still
// deploying or soaking when the rollout starts going back ends failed,
// or aborted on the operator's abort (endLiveWaves), so no wave of an
// ended rollout says it soaks. Waves never started stay pending.
//
// Each wave is a deployment with a fixed id (d-ROLLOUT-wN), so a loop
// interrupted between creating it and saving the rollout finds it again.
// Going back needs no key: the controller publishes the operator's
// rollback statements, signed with the push (edgectl push --waves), one
// per version the targets served when the rollout began, to the devices
// of the waves started so far whose desired entry is still the rollout's;
// where a device served no version of the module, it removes it. Devices
// of later waves are never touched. What a device serves comes from its
// reported status, never from its desired entry, which after a rejected
// or failed push names a version that never ran there (serving.go); a
// rollout over a version whose signed manifest the controller does not
// hold is refused at creation, naming it.
//
// The gate (gate.go) compares, over the soak window, the new version on
// the updated devices with the old version on the devices not updated yet
// (a control group: same time, same load), or, when those saw too few
// requests, with the old version since the rollout began; it reads the
// agents' cumulative counters (wire.Metrics) as differences between
// consecutive reports, treating a new worker Start as a reset and late
// reports as nothing. An outage is not health: while an updated device is
// offline (its Last Will) the gate does not pass, and it fails once the
// device has been away longer than the soak; when it is back, or its
// agent or the module's worker restarted (a counter reset), the soak
// starts again from then, and the gate's line says why.
//
// # Metrics, history and the inventory
//
// Metrics reports are queued off the MQTT goroutine and applied in memory
// (metrics.go: order by Seq and the agent's Start, increases between
// reports, bounds on modules and versions per device); closed minutes of
// history and the latest reports go to the store once a minute in one
// transaction (flush.go). History answers from the store plus the minutes
// still in memory. The inventory (inventory.go) keeps each device's
// status, desired modules and what its events say, so the views the API
// and /metrics show name the serving version and the last attempt apart
// even when the agent's status lags or predates that contract. Log lines
// are asked of a device on request (logs.go).
//
//	MQTT ──▶ queue ──▶ decode, check, apply ──▶ memory ──(each minute)──▶ store
//	                                              │
//	              API views, History, /metrics ◀──┘
//
// # Replicas
//
// Several controllers may share one MySQL database and one broker
// (leader.go): any serves the API and ingests the reports the broker's
// shared subscriptions hand it; the holder of the leader lease alone
// publishes desired states (those the others stored included), drives
// rollouts and deadlines, and takes the metrics reports. A leader checks
// its lease, by its own monotonic clock, before each publish and rollout
// step; each desired state's generation fences what a stale leader could
// still send, since agents refuse a generation older than theirs.
//
// # Defensive ingestion
//
// Everything read from MQTT is untrusted: the device id comes from the topic
// (which the broker's ACL binds to the authenticated user), bodies are
// parsed strictly and bounded, and a bad message is logged and dropped
// without changing any state.
package fleet
