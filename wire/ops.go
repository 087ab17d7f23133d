package wire

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// PlanRequest asks the controller what a push or a rollback of Module to
// Targets would touch (POST /api/v1/plan), before edgectl signs anything:
// the devices the targets resolve to, what each runs, and the highest
// epoch of the module's statements.
type PlanRequest struct {
	Module  string  `json:"module"`
	Targets Targets `json:"targets"`
	// Rollback plans a rollback: Sources are the earlier deployments to
	// go back to (To, or each device's previous one when To is "").
	Rollback bool   `json:"rollback,omitempty"`
	To       string `json:"to,omitempty"`
	// AllowUnregistered lets Targets.Nodes name devices that never
	// registered or reported (targets set up before the devices exist).
	AllowUnregistered bool `json:"allow_unregistered,omitempty"`
}

// Plan is the controller's answer to a PlanRequest.
type Plan struct {
	Module string `json:"module"`
	// Epoch is the highest epoch of any statement of the module the
	// controller holds (deployments, and the rollback statements of
	// rollouts): a push signs with it, a rollback with Epoch+1.
	Epoch   uint64       `json:"epoch"`
	Devices []PlanDevice `json:"devices"`
	// Sources are the signed deployments edgectl re-signs: for a rollback,
	// the versions to go back to; for a push, the versions the devices run
	// now, which a staged rollout pre-signs rollbacks to.
	Sources []PlanSource `json:"sources,omitempty"`
}

// PlanDevice is one targeted device.
type PlanDevice struct {
	ID         string `json:"id"`
	Registered bool   `json:"registered"` // registered or ever reported
	Online     bool   `json:"online"`
	// Current is the module's entry in the device's desired state, if any.
	Current *PlanVersion `json:"current,omitempty"`
	// Serving is the version the device last reported serving.
	Serving string `json:"serving,omitempty"`
}

// PlanVersion is a deployment of the module.
type PlanVersion struct {
	Deployment string `json:"deployment"`
	Version    string `json:"version"`
	SHA256     string `json:"sha256"`
	Epoch      uint64 `json:"epoch,omitempty"`
}

// PlanSource is a signed deployment and the targeted devices it concerns.
type PlanSource struct {
	PlanVersion
	Envelope Envelope `json:"envelope"`
	Devices  []string `json:"devices"`
}

// UndeployRequest asks the controller to remove Module from the desired
// state of the devices Targets select (POST /api/v1/undeploy): selected
// as a push's targets are, all or nothing. Nothing is signed: taking a
// module off a board cannot make it run code the operator did not sign.
type UndeployRequest struct {
	Module  string  `json:"module"`
	Targets Targets `json:"targets"`
	// AllowUnregistered lets Targets.Nodes name devices that never
	// registered or reported (as in PlanRequest).
	AllowUnregistered bool `json:"allow_unregistered,omitempty"`
}

// UndeployResult is the answer to an UndeployRequest: per device, the
// desired entry removed and what the device last reported serving, which
// edgectl waits to see go.
type UndeployResult struct {
	Module  string           `json:"module"`
	Devices []UndeployDevice `json:"devices"`
}

// UndeployDevice is one device the module was removed from.
type UndeployDevice struct {
	Device string `json:"device"`
	Online bool   `json:"online"`
	// Removed is the module's entry its desired state held.
	Removed PlanVersion `json:"removed"`
	// Serving is the version the device last reported serving ("" if
	// none: the module had not started, or the device never reported).
	Serving string `json:"serving,omitempty"`
}

// LabelRequest changes the labels the operator sets centrally for one
// device (POST /api/v1/devices/{id}/labels): Set adds or replaces, Remove
// deletes keys.
type LabelRequest struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Labels are one device's labels from both sources and their merge.
type Labels struct {
	Device string `json:"device"`
	// Central are the labels set with edgectl label; Agent those the agent
	// declares itself (its last status); Effective their merge
	// (MergeLabels: the agent's value wins on a shared key), which
	// targeting uses.
	Central   map[string]string `json:"central"`
	Agent     map[string]string `json:"agent"`
	Effective map[string]string `json:"effective"`
	// Shadowed lists central keys the agent overrides with a value of its
	// own.
	Shadowed []string `json:"shadowed,omitempty"`
}

// QuarantineClearRequest asks a device to clear a module's quarantine
// (POST /api/v1/devices/{id}/quarantine/clear).
type QuarantineClearRequest struct {
	Module string `json:"module"`
}

// QuarantineClear is the answer: the device's new desired generation,
// whose QuarantineClear count for the module the agent applies.
type QuarantineClear struct {
	Device     string            `json:"device"`
	Module     string            `json:"module"`
	Generation int64             `json:"generation"`
	Cleared    []QuarantineEntry `json:"cleared"` // the entries the device last reported
}

// CancelResult is the answer to POST /api/v1/deployments/{id}/cancel: the
// deployment afterwards, and per device what the cancel did.
type CancelResult struct {
	Deployment Deployment     `json:"deployment"`
	Devices    []CancelDevice `json:"devices"`
}

// CancelDevice says what a cancel did on one device.
type CancelDevice struct {
	Device string `json:"device"`
	// Cancelled is true when the device had not finished: its desired
	// entry for the module went back to Restored ("" when the deployment
	// had installed the module there: the module was removed).
	Cancelled bool   `json:"cancelled"`
	Restored  string `json:"restored,omitempty"` // "orders 1.0.0 (deployment d-...)"
	// Note explains a device left as it was: finished already (a device
	// that runs the version keeps it: an agent never goes back to an older
	// version on its own; use edgectl rollback), or replaced since.
	Note    string    `json:"note,omitempty"`
	Updated time.Time `json:"updated"`
}

// ValidateLabel checks a label, the same rules whoever sets it: the
// operator centrally (edgectl label, the controller) or the agent in its
// own configuration (edge-agent run --label): the key as a device id
// (1-63 of [A-Za-z0-9._-], starting with a letter or digit), the value at
// most 63 of [A-Za-z0-9._-] (it may be empty).
func ValidateLabel(key, value string) error {
	if !deviceIDRe.MatchString(key) {
		return fmt.Errorf("invalid label key %q: want 1-63 of [A-Za-z0-9._-], starting with a letter or digit", key)
	}
	if value != "" && !labelValueRe.MatchString(value) {
		return fmt.Errorf("invalid value %q of label %s: want at most 63 of [A-Za-z0-9._-]", value, key)
	}
	return nil
}

var labelValueRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// ValidateLabels checks a set of labels: each with ValidateLabel (the
// error of the first in key order), at most MaxLabels of them.
func ValidateLabels(labels map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := ValidateLabel(k, labels[k]); err != nil {
			return err
		}
	}
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels, at most %d: %w", len(labels), MaxLabels, ErrTooLarge)
	}
	return nil
}

// ValidLabels returns the labels that pass ValidateLabel, at most
// MaxLabels of them in key order, and the keys of those it dropped
// (sorted): what a reader of labels nobody checked (an agent's status)
// keeps. labels itself is returned when all pass.
func ValidLabels(labels map[string]string) (valid map[string]string, dropped []string) {
	if ValidateLabels(labels) == nil {
		return labels, nil
	}
	valid = make(map[string]string, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if len(valid) < MaxLabels && ValidateLabel(k, labels[k]) == nil {
			valid[k] = labels[k]
		} else {
			dropped = append(dropped, k)
		}
	}
	return valid, dropped
}
