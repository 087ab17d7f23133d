package wire

// DeviceRemoval answers DELETE /api/v1/devices/{id}: the device's
// credentials are revoked, it left the inventory, and:
type DeviceRemoval struct {
	ID string `json:"id"`
	// SessionClosed: the embedded broker had a live session of the device
	// and closed it. Always false with an external broker, which the
	// controller cannot ask (its own password file or certificate list
	// must drop the device too).
	SessionClosed bool `json:"session_closed"`
	// Cleared are the retained topics emptied on the broker (desired
	// state, status).
	Cleared []string `json:"cleared"`
	// Deployments are those the device had not finished: its part there
	// ended "removed" (StateRemoved), so none waits for it.
	Deployments []string `json:"deployments,omitempty"`
	// Rollouts are the live rollouts whose waves named the device: their
	// waves and rollbacks go on without it.
	Rollouts []string `json:"rollouts,omitempty"`
}
