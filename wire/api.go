package wire

import "time"

// Controller HTTP API, version 1. Bodies are JSON unless noted, read with
// Decode within their limits (limits.go; 413 beyond), and sent as
// application/json (415 otherwise). Errors are answered with a 4xx/5xx
// status and an APIError body. Every route but /healthz needs an operator
// token (token.go: 401 without, 403 for a read token on a change).
//
//	PUT  /api/v1/blobs/{sha256}        raw module bytes; 201, or 200 if known; 413 over
//	                                   MaxModuleSize, 429 too many at once, 507 over
//	                                   the controller's quota, 408 if it stalls
//	POST /api/v1/blobs/{sha256}/pull  BlobPullRequest → BlobRef: the controller pulls the
//	                                   module from an OCI registry; 201, or 200 if known;
//	                                   502 when the registry fails or serves other bytes,
//	                                   403 for a registry edge-control --registry-allow omits
//	POST /api/v1/plan                  PlanRequest → Plan: devices, epoch, sources (signs nothing)
//	POST /api/v1/deployments           DeployRequest → Deployment; 400 for a node never
//	                                   registered (unless allow_unregistered) or no target
//	GET  /api/v1/deployments/{id}      Deployment (poll for progress)
//	GET  /api/v1/deployments           []Deployment, newest first
//	POST /api/v1/deployments/{id}/cancel  → CancelResult; 409 for a deployment of a live rollout
//	POST /api/v1/undeploy              UndeployRequest → UndeployResult: the module leaves the
//	                                   selected devices' desired state (their data is kept);
//	                                   404 where a device's desired state lacks it, 409
//	                                   while a rollout of it is live or a device runs
//	                                   modules outside its desired state (nothing changed)
//	POST /api/v1/rollouts              RolloutRequest → Rollout (wire/rollout.go)
//	GET  /api/v1/rollouts              []Rollout, newest first
//	GET  /api/v1/rollouts/{id}         Rollout (poll for progress: wave, devices, gate figures)
//	POST /api/v1/rollouts/{id}/pause|resume|abort  → Rollout; 409 when its state does not allow it
//	GET  /api/v1/devices/{id}/labels   Labels (central, the agent's, effective)
//	POST /api/v1/devices/{id}/labels   LabelRequest → Labels
//	POST /api/v1/devices/{id}/quarantine/clear  QuarantineClearRequest → QuarantineClear
//	GET  /api/v1/devices               []Device
//	GET  /api/v1/devices/{id}          Device
//	POST /api/v1/devices               DeviceCredentialsRequest → DeviceCredentials; 409 if
//	                                   the device is registered already (rotate instead)
//	POST /api/v1/devices/{id}/rotate   → DeviceCredentials: a new password; the old one and
//	                                   the live session end at once; 404 if not registered
//	DELETE /api/v1/devices/{id}        → DeviceRemoval: credentials revoked, session closed,
//	                                   retained topics cleared, out of the inventory; 404
//	GET  /api/v1/devices/{id}/detail   DeviceDetail: inventory entry, recent events, metrics
//	GET  /api/v1/devices/{id}/logs     LogBatch (?module=&since=RFC3339&max=N): asked of
//	                                   the agent over MQTT; 504 if it does not answer in 5 s
//	GET  /api/v1/modules               []ModuleSummary: versions across the fleet
//	GET  /api/v1/history               History (?device=&module=&since=RFC3339|duration)
//	GET  /metrics                      Prometheus exposition: fleet, broker, ingest, process
//	GET  /healthz                      "ok"
const APIPrefix = "/api/v1"

// APIError is the body of every error answer.
type APIError struct {
	Error string `json:"error"`
}

// BlobPullRequest asks the controller to pull a module from an OCI
// registry instead of receiving its bytes (POST
// /api/v1/blobs/{sha256}/pull). The path's sha256 is the one the operator
// signed: the artifact's one module layer must have it and Size, and the
// bytes pulled must hash to it, or nothing is stored.
type BlobPullRequest struct {
	// Source is the artifact pinned to its manifest's digest:
	// oci://REGISTRY/REPOSITORY@sha256:HEX (a tag is refused: edgectl
	// resolves it once, before signing).
	Source string `json:"source"`
	Size   int64  `json:"size"`
}

// DeployRequest asks the controller to deliver a signed module whose bytes
// were uploaded before with PUT /api/v1/blobs/{sha256}. The targets are those
// of the signed manifest.
type DeployRequest struct {
	Envelope Envelope `json:"envelope"`
	// AllowUnregistered lets the manifest's nodes name devices that never
	// registered or reported (targets set up before the devices exist).
	AllowUnregistered bool `json:"allow_unregistered,omitempty"`
	// StopUnknown lets the push go to devices that run modules their
	// desired state does not hold (a device removed and registered again),
	// which the new desired state stops; without it such a push is refused
	// (409) naming them.
	StopUnknown bool `json:"stop_unknown,omitempty"`
}

// Deployment is the controller's view of one push.
type Deployment struct {
	ID      string             `json:"id"`
	Module  string             `json:"module"`
	Version string             `json:"version"`
	SHA256  string             `json:"sha256"`
	Created time.Time          `json:"created"`
	Devices []DeploymentDevice `json:"devices"`
	// Deadline is when the controller marks every device that has not
	// reached a terminal state timed_out (edge-control --deploy-timeout
	// after Created).
	Deadline time.Time `json:"deadline"`
	// Done is true when every targeted device is in a terminal state
	// (Terminal): at the latest at Deadline.
	Done bool `json:"done"`
}

// DeploymentDevice is the progress of one device.
type DeploymentDevice struct {
	Device  string    `json:"device"`
	State   string    `json:"state"` // StatePending, a State* an agent reports, StateTimedOut, StateSuperseded, StateCancelled or StateRemoved
	Reason  string    `json:"reason,omitempty"`
	Updated time.Time `json:"updated"`
}

// Device is one entry of the fleet inventory.
type Device struct {
	ID       string    `json:"id"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen"`
	Status   *Status   `json:"status,omitempty"`
	Metrics  *Metrics  `json:"metrics,omitempty"`
	// IDConflict is set while a second agent seems to use the device's id
	// (MQTT client-id takeover; see StateIDConflict).
	IDConflict *IDConflict `json:"id_conflict,omitempty"`
}

// IDConflict is what the controller heard of a device id used by two
// agents at once: from the agents (an id_conflict event) or from the
// embedded broker (sessions taken over right after they started).
type IDConflict struct {
	Since  time.Time `json:"since"`
	Last   time.Time `json:"last"`
	Count  int       `json:"count"`  // reports and takeovers counted since Since
	Source string    `json:"source"` // "agent" or "broker": who said so last
	Reason string    `json:"reason"`
}

// DeviceCredentialsRequest registers a device with the embedded broker.
type DeviceCredentialsRequest struct {
	ID string `json:"id"`
}

// DeviceCredentials are shown once: the controller keeps only a hash of the
// password.
type DeviceCredentials struct {
	ID       string `json:"id"`
	Password string `json:"password"`
}

// DeviceDetail is one device with what the controller knows of its recent
// past: `edgectl device show` and the dashboard's device page.
type DeviceDetail struct {
	Device Device `json:"device"`
	// Labels are the device's effective labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Events are the most recent deployment events, newest first (at most
	// 50); Errors the most recent of them that failed, were rejected or
	// rolled back (at most 10).
	Events []Event `json:"events"`
	Errors []Event `json:"errors"`
}

// ModuleSummary is one module across the fleet: `edgectl modules` and the
// dashboard's module page.
type ModuleSummary struct {
	Name string `json:"name"`
	// Versions are the serving versions, newest first, with the devices
	// serving each; Targeted counts the devices whose desired state names
	// the module, Serving those where some version serves.
	Versions []VersionCount `json:"versions"`
	Targeted int            `json:"targeted"`
	Serving  int            `json:"serving"`
	// Attempts lists devices whose latest attempt is not serving, with
	// its state and reason.
	Attempts []DeviceAttempt `json:"attempts,omitempty"`
}

// VersionCount is how many devices serve a version.
type VersionCount struct {
	Version string   `json:"version"`
	Devices []string `json:"devices"`
}

// DeviceAttempt is a device's attempt that is not serving.
type DeviceAttempt struct {
	Device  string        `json:"device"`
	Attempt ModuleAttempt `json:"attempt"`
}

// History is a downsampled time series of one device (and module, when
// Module is set), kept by the controller so that a trend can be shown
// without Prometheus. Points are oldest first, Step seconds apart at most
// (missing points: no report in that interval).
type History struct {
	Device string         `json:"device"`
	Module string         `json:"module,omitempty"`
	Step   int64          `json:"step_seconds"`
	Points []HistoryPoint `json:"points"`
}

// HistoryPoint aggregates one step. Rates are per second over the step;
// quantiles come from the merged latency histogram (wire.Histogram).
// Module fields are zero in a device-only history, and agent fields in a
// module history.
type HistoryPoint struct {
	Time      time.Time `json:"time"` // start of the step
	Requests  float64   `json:"requests_per_second"`
	Errors    float64   `json:"errors_per_second"` // 5xx
	ClientErr float64   `json:"client_errors_per_second,omitempty"`
	P50       float64   `json:"p50_seconds"`
	P99       float64   `json:"p99_seconds"`
	RSSBytes  int64     `json:"rss_bytes"` // worker (module) or agent (device)
	CPU       float64   `json:"cpu"`       // cores used on average
}
