package wire

import (
	"slices"
	"strings"
	"time"
)

// DesiredState is everything one device should run. The controller publishes
// it retained on the device's desired topic; each message replaces the
// previous one completely. Generation increases with every change the
// controller makes for the device; an agent ignores a generation lower than
// one it has applied (an older retained message seen after a newer one).
type DesiredState struct {
	Device     string          `json:"device"`
	Generation int64           `json:"generation"`
	Issued     time.Time       `json:"issued"`
	Modules    []DesiredModule `json:"modules"`
	// QuarantineClear counts, per module, the operator's requests to clear
	// the module's quarantine on this device (edgectl quarantine clear). An
	// agent that applied a lower count removes every quarantine entry of
	// the module, once. It only ever removes refusals: what runs next must
	// still be a signed manifest that passes every other check.
	QuarantineClear map[string]uint64 `json:"quarantine_clear,omitempty"`
	// Labels are the labels the operator set centrally for the device
	// (edgectl label). The agent merges them under the labels it declares
	// itself: on a key both set, the agent's own value wins (see
	// MergeLabels).
	Labels map[string]string `json:"labels,omitempty"`
}

// MergeLabels returns a device's effective labels: the central ones the
// operator set through the controller, overridden by those the agent
// declares in its own configuration. The device's own configuration wins
// because it is what the agent checks a manifest's label targets against
// (a controller that could override it could steer a label-targeted
// manifest to a device its owner configured otherwise), and because it is
// set by whoever installed the board, next to it. Central labels fill the
// keys the agent leaves open.
func MergeLabels(central, own map[string]string) map[string]string {
	if len(central) == 0 && len(own) == 0 {
		return nil
	}
	out := make(map[string]string, len(central)+len(own))
	for k, v := range central {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// LabelsText writes labels as sorted K=V pairs joined by ", "
// ("ring=canary, site=a") for an operator to read, never in Go's
// map[...] syntax; edgectl and the controller's messages both use it.
func LabelsText(labels map[string]string) string {
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ", ")
}

// DesiredModule is one module the device should run.
type DesiredModule struct {
	Deployment string   `json:"deployment"` // controller's id, echoed in Events
	Envelope   Envelope `json:"envelope"`   // the signed Manifest
	Blob       BlobRef  `json:"blob"`       // how to fetch the module bytes
}

// Blob encodings.
const (
	EncodingGzip = "gzip"
)

// BlobRef tells an agent how to fetch and check a module's bytes. It is not
// signed: it is transport metadata. The bytes it yields are checked against
// the signed manifest's sha256 and size before anything uses them.
type BlobRef struct {
	SHA256   string   `json:"sha256"`   // digest of the raw module (= Manifest.SHA256)
	Size     int64    `json:"size"`     // raw size
	Encoding string   `json:"encoding"` // EncodingGzip
	Stored   int64    `json:"stored"`   // encoded size, sum of chunk sizes
	Chunks   []string `json:"chunks"`   // hex SHA-256 of each encoded chunk, in order
}

// FetchChunks is an agent's request for chunks it does not have yet. The
// controller answers with one Chunk frame per index on the device's chunk
// topic. An agent that lost its connection asks again for what is still
// missing, which is how an interrupted transfer resumes.
type FetchChunks struct {
	SHA256  string `json:"sha256"`
	Indices []int  `json:"indices"`
}

// Module states an agent reports.
const (
	StateFetching   = "fetching"
	StateVerifying  = "verifying"
	StateCompiling  = "compiling"
	StateStarting   = "starting"
	StateProbing    = "probing"
	StateRunning    = "running"
	StateRolledBack = "rolled_back"
	StateRejected   = "rejected"
	StateFailed     = "failed"
	StateStopped    = "stopped"
)

// StateIDConflict is the state of an Event about the device itself, not a
// module (Module and Deployment empty): its agent saw the broker close its
// connections right after each connect, the mark of a second agent using
// the same device id (MQTT client-id takeover). Reason says more. Older
// controllers drop the event as of an unknown state.
const StateIDConflict = "id_conflict"

// StateIDConflictOver is the state of an Event about the device itself
// that ends a StateIDConflict: the agent's connection stayed up its
// takeover window (10 s by default) after the conflict. The controller
// clears the device's conflict flag on it. Older controllers drop it as
// an unknown state (their flag clears 30 min after the last report).
const StateIDConflictOver = "id_conflict_over"

// Deployment states only the controller sets, in DeploymentDevice.State.
const (
	// StatePending: the device has reported nothing about the deployment.
	StatePending = "pending"
	// StateTimedOut: the device reported no terminal state before the
	// deployment's Deadline (offline, stuck, or its reports were lost).
	StateTimedOut = "timed_out"
	// StateSuperseded: a newer deployment of the same module replaced this
	// one in the device's desired state before it reached a terminal state.
	StateSuperseded = "superseded"
	// StateCancelled: the operator cancelled the deployment before the
	// device finished it; the device's desired entry for the module went
	// back to what it was before the deployment.
	StateCancelled = "cancelled"
	// StateRemoved: the device was removed from the fleet (edgectl device
	// remove) before it finished, or before the deployment was created
	// (a rollout's later wave). Its part ends there: counted as done and
	// not as a failure (Failed), so a wave or a rollback goes on without it.
	StateRemoved = "removed"
)

// Terminal reports whether state ends a device's part in a deployment:
// running, rejected, failed, rolled_back, timed_out, superseded,
// cancelled or removed. Every
// device of a deployment reaches one by the deployment's Deadline. A later
// report from the device may still replace one terminal state with another
// (running → rolled_back after a crash loop; timed_out → running when an
// offline device comes back), never with a step such as fetching.
func Terminal(state string) bool {
	switch state {
	case StateRunning, StateRejected, StateFailed, StateRolledBack, StateTimedOut, StateSuperseded, StateCancelled, StateRemoved:
		return true
	}
	return false
}

// Failed reports whether state ends a device's part in a deployment
// without the version running there: every terminal state but running
// and removed (a removed device is no longer the fleet's to count).
func Failed(state string) bool {
	return Terminal(state) && state != StateRunning && state != StateRemoved
}

// Status is an agent's retained report of itself. The Last Will the agent
// registers is a Status with Online false.
type Status struct {
	Device       string            `json:"device"`
	Online       bool              `json:"online"`
	Time         time.Time         `json:"time"`
	AgentVersion string            `json:"agent_version,omitempty"`
	Arch         string            `json:"arch,omitempty"`
	Board        string            `json:"board,omitempty"`
	Engine       string            `json:"engine,omitempty"` // "compiler" or "interpreter"
	Labels       map[string]string `json:"labels,omitempty"`
	Generation   int64             `json:"generation"` // last desired generation applied
	Modules      []ModuleStatus    `json:"modules,omitempty"`
	// Quarantine lists the manifests that failed on the device and are not
	// tried again (see QuarantineEntry).
	Quarantine []QuarantineEntry `json:"quarantine,omitempty"`
}

// QuarantineEntry is a manifest that failed on a device (its probe, its
// grace period, a crash loop) and that the agent will not try again: that
// version of the module with those settings. A new version or new
// settings (another --config, --db, --port ...) is a new attempt; a
// configuration fault of the device (a database binding it lacks, a port
// in use) is reported as failed and never quarantined.
// `edgectl quarantine clear DEVICE MODULE` removes a module's entries.
type QuarantineEntry struct {
	Module  string    `json:"module"`
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

// ModuleStatus is the state of one module on a device: what serves, and
// the last deployment attempt when it differs from what serves.
type ModuleStatus struct {
	Name string `json:"name"`
	// Version, SHA256, Port and Deployment describe the version serving
	// now; Version is "" while no version of the module serves.
	Version    string    `json:"version"`
	SHA256     string    `json:"sha256"`
	State      string    `json:"state"` // of the serving version (running), or of the attempt when nothing serves
	Port       int       `json:"port,omitempty"`
	Since      time.Time `json:"since"`
	Deployment string    `json:"deployment,omitempty"`
	Error      string    `json:"error,omitempty"`
	// LastGood is the last-known-good version kept for rollback.
	LastGood string `json:"last_good,omitempty"`
	// Attempt is the latest deployment of this module when it is not the
	// one serving (rejected, failed, rolled back, or still in progress).
	Attempt *ModuleAttempt `json:"attempt,omitempty"`
}

// ModuleAttempt is a deployment attempt that is not (or not yet) serving.
type ModuleAttempt struct {
	Version    string    `json:"version"`
	SHA256     string    `json:"sha256,omitempty"`
	Deployment string    `json:"deployment,omitempty"`
	State      string    `json:"state"` // a State* constant
	Reason     string    `json:"reason,omitempty"`
	Time       time.Time `json:"time"`
}

// Event reports one step of a deployment on a device. State is one of the
// State* constants; Reason explains a rejection, failure or rollback.
type Event struct {
	Device     string    `json:"device"`
	Deployment string    `json:"deployment,omitempty"`
	Module     string    `json:"module"`
	Version    string    `json:"version"`
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	Time       time.Time `json:"time"`
	// Millis is the time the step took, when it is a timed step.
	Millis int64 `json:"millis,omitempty"`
}
