package wire

import "time"

// Controller HTTP API, version 1. Bodies are JSON unless noted. Errors are
// answered with a 4xx/5xx status and an APIError body.
//
//	PUT  /api/v1/blobs/{sha256}        raw module bytes; 201 or 200 if known
//	POST /api/v1/deployments           DeployRequest → Deployment
//	GET  /api/v1/deployments/{id}      Deployment (poll for progress)
//	GET  /api/v1/deployments           []Deployment, newest first
//	GET  /api/v1/devices               []Device
//	GET  /api/v1/devices/{id}          Device
//	POST /api/v1/devices               DeviceCredentialsRequest → DeviceCredentials
//	GET  /healthz                      "ok"
const APIPrefix = "/api/v1"

// APIError is the body of every error answer.
type APIError struct {
	Error string `json:"error"`
}

// DeployRequest asks the controller to deliver a signed module whose bytes
// were uploaded before with PUT /api/v1/blobs/{sha256}. The targets are those
// of the signed manifest.
type DeployRequest struct {
	Envelope Envelope `json:"envelope"`
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
	State   string    `json:"state"` // StatePending, a State* an agent reports, StateTimedOut or StateSuperseded
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
