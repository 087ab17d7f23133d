// Package wire is the contract between edgectl, edge-control and edge-agent:
// MQTT topics, the messages on them, the signed module manifest and the
// bodies of the controller's HTTP API. It imports only the standard library,
// so the agent can share it without linking controller code and edgectl can
// share it without linking an MQTT client or wazero.
//
// # Trust model
//
// The operator's machine signs; nothing else does. edgectl signs the exact
// bytes of a Manifest with an ed25519 key that never leaves the operator, in
// a DSSE-style Envelope that binds the payload type. The controller and the
// broker only carry envelopes and module bytes: a compromised controller can
// withhold an update or replay an old signed one, but it cannot make a board
// run code the operator did not sign, and the agent's "strictly newer
// (epoch, version)" rule turns the replay into a reported rejection. Going
// back to an older version is a new statement one Manifest.Epoch up, which
// only the key holder can sign.
//
// # Data flow
//
//	edgectl ──PUT /api/v1/blobs/{sha256}──▶ edge-control (stores module bytes)
//	edgectl ──POST /api/v1/deployments────▶ edge-control (stores envelope,
//	                                          resolves targets, publishes)
//	edge-control ──DesiredTopic (retained, QoS 1)──▶ edge-agent
//	edge-agent ──FetchTopic {blob, missing chunks}──▶ edge-control
//	edge-control ──ChunkTopic (binary Chunk frames)──▶ edge-agent
//	edge-agent ──EventTopic (each deploy step) / StatusTopic (retained)──▶
//	edge-control ◀──GET /api/v1/deployments/{id}── edgectl (progress)
//
// Desired state is level-triggered: each DesiredState is the device's
// complete desired state, so duplicates, reordering and reconnects converge.
//
// # One parser, one set of limits
//
// Every wire structure is read with Decode (ParseManifest for the signed
// manifest), by the controller, the agent and edgectl alike: one JSON value
// and nothing after it, no key given twice or differing from a field name
// only by case, unknown fields refused in what a person writes or signs
// (manifest, API requests) and tolerated in messages between the programs
// (see rules in decode.go). Every size limit on the path is a constant in
// limits.go, derived from the others and checked where the data first
// enters; a SizeError (ErrTooLarge) names the limit.
//
// # Deployment progress
//
// Per device, a deployment goes from StatePending through the steps the
// agent reports (fetching ... probing) to a terminal state (Terminal):
// running, rejected, failed or rolled_back from the agent; superseded
// when a newer deployment of the module replaces it in the device's
// desired state; timed_out, set by the controller at Deployment.Deadline,
// whatever happened (device offline, agent stuck, reports lost, controller
// restarted: the deadline is stored with the deployment). A device that
// already runs the deployed version and digest reports running at once.
//
// # Version history
//
//	1: first version. Later in version 1, without a change of format:
//	   duplicate and case-variant keys and trailing data are refused
//	   everywhere; a deployment that would make a device's desired state
//	   larger than MaxDesiredSize is refused (413); an envelope carries at
//	   most MaxSignatures signatures. Metrics gained the agent's process,
//	   board and broker figures and fixed-bucket latency histograms
//	   (LatencyBuckets) per module version; ModuleStatus.Version names the
//	   serving version, with the last attempt in ModuleStatus.Attempt;
//	   logs travel on request (KindLogReq, KindLogs). Deployment.Deadline
//	   and the states only the controller sets (timed_out, superseded)
//	   were added; an older edgectl sees them as unfinished and waits out
//	   its --wait. Manifest schema 2 adds Epoch (an operator's rollback:
//	   agents that know schema 1 only refuse it, and a manifest without an
//	   epoch stays schema 1); DesiredState gained QuarantineClear and
//	   Labels, Status gained Quarantine (older peers ignore them); the
//	   controller-set state cancelled; the API gained plans, rollouts,
//	   cancels, labels and quarantine clears (api.go, ops.go, rollout.go),
//	   and pulls of a module from an OCI registry (BlobPullRequest: an
//	   older controller answers 404, and edgectl says so).
//	   Manifest schema 3 adds the platform capabilities (platform.go;
//	   messaging and timers in messaging.go); the messaging namespaces
//	   edge/v1/dev/{id}/app/{module}/... and edge/v1/dev/{id}/in/...
//	   (KindApp, KindInbox); ModuleMetrics gained the messaging counters
//	   (older controllers ignore them). DeployRequest and RolloutRequest
//	   gained StopUnknown (sent only when set: an older controller refuses
//	   the request as having an unknown field, 400). An Event may be about
//	   the device itself: StateIDConflict (an older controller drops it);
//	   Device gained IDConflict (older edgectls ignore it). The API gained
//	   undeploys (UndeployRequest → UndeployResult, POST /api/v1/undeploy:
//	   an older controller answers 404). RolloutRequest.Waves are read by
//	   ParseWaves, edgectl's and the controller's one parser: a wave
//	   written with a sign, an exponent, hex or NaN is refused (400). A
//	   wave the operator's abort interrupts ends WaveAborted (an older
//	   edgectl prints the word).
package wire

// Version is the wire protocol version; it is part of every topic.
const Version = 1
