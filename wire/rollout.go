package wire

import "time"

// A staged rollout delivers one signed version to its targets in waves,
// with a health gate between waves (POST /api/v1/rollouts). See the
// package doc of control/fleet for the state machine and the gate.

// Rollout states. The first three are live; the others are terminal.
const (
	RolloutDeploying   = "deploying"    // the current wave's deployment is in progress
	RolloutSoaking     = "soaking"      // the current wave runs; the gate watches its metrics
	RolloutPaused      = "paused"       // the operator paused it; no new wave starts
	RolloutRollingBack = "rolling_back" // the gate failed or the operator aborted: updated devices go back
	RolloutSucceeded   = "succeeded"    // every wave passed
	RolloutRolledBack  = "rolled_back"  // the gate (or a device of a wave) failed; updated devices went back
	RolloutAborted     = "aborted"      // the operator aborted; updated devices went back
	// RolloutRollbackFailed: going back did not finish on every updated
	// device (the reason lists them).
	RolloutRollbackFailed = "rollback_failed"
)

// RolloutDone reports whether a rollout state is terminal.
func RolloutDone(state string) bool {
	switch state {
	case RolloutSucceeded, RolloutRolledBack, RolloutAborted, RolloutRollbackFailed:
		return true
	}
	return false
}

// Gate settings of a rollout; zero values take the defaults noted.
type Gate struct {
	// SoakMillis is how long each wave runs before the gate may pass it
	// (5 minutes).
	SoakMillis int64 `json:"soak_ms"`
	// MaxErrorRate is how far the new version's share of 5xx answers may
	// exceed the old version's (0.01: one percentage point); without a
	// baseline, the new version's share may not exceed it.
	MaxErrorRate float64 `json:"max_error_rate"`
	// MaxP99Ratio bounds the new version's p99 latency as a multiple of
	// the old version's (1.5); latencies in the same histogram bucket are
	// never told apart.
	MaxP99Ratio float64 `json:"max_p99_ratio"`
	// MinRequests is the number of requests a version needs in the window
	// before its figures count (100).
	MinRequests uint64 `json:"min_requests"`
	// LowTraffic decides a wave whose new version saw fewer than
	// MinRequests requests by the end of the soak: "fail" (the default: a
	// version nobody used is not shown healthy) or "pass".
	LowTraffic string `json:"low_traffic"`
}

// Gate defaults.
const (
	DefaultSoak         = 5 * time.Minute
	DefaultMaxErrorRate = 0.01
	DefaultMaxP99Ratio  = 1.5
	DefaultMinRequests  = 100
	LowTrafficFail      = "fail"
	LowTrafficPass      = "pass"
)

// Soak returns the soak period.
func (g Gate) Soak() time.Duration { return time.Duration(g.SoakMillis) * time.Millisecond }

// RolloutRequest creates a staged rollout. Envelope is the new version,
// signed by the operator; Rollbacks are rollback statements signed with
// it, one per version the targeted devices run now (each names that
// version, one epoch higher, and targets the devices that run it): the
// controller holds no key, so the only rollback it can perform is one
// the operator signed in advance. It publishes them only if the gate
// fails or the operator aborts.
type RolloutRequest struct {
	Envelope          Envelope   `json:"envelope"`
	Rollbacks         []Envelope `json:"rollbacks,omitempty"`
	Waves             []string   `json:"waves"` // cumulative: "1", "10%", "50%", "100%" (ParseWaves, WaveEnds)
	Gate              Gate       `json:"gate"`
	AllowUnregistered bool       `json:"allow_unregistered,omitempty"`
	StopUnknown       bool       `json:"stop_unknown,omitempty"` // as DeployRequest.StopUnknown
}

// Rollout is the controller's view of a staged rollout.
type Rollout struct {
	ID      string    `json:"id"`
	Module  string    `json:"module"`
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Gate    Gate      `json:"gate"`
	// Wave is the index of the current wave (0-based); len(Waves) once
	// every wave passed.
	Wave  int           `json:"wave"`
	Waves []RolloutWave `json:"waves"`
	// Figures are the gate's latest figures for the current wave.
	Figures *GateFigures `json:"figures,omitempty"`
	// Rollback lists what going back did, once it started.
	Rollback []RolloutRollback `json:"rollback,omitempty"`
	// Resume is the state resume returns to, while paused.
	Resume string `json:"resume,omitempty"`
}

// Wave states.
const (
	WavePending   = "pending"
	WaveDeploying = "deploying"
	WaveSoaking   = "soaking"
	WavePassed    = "passed"
	WaveFailed    = "failed"
	WaveAborted   = "aborted" // the operator aborted the rollout while the wave deployed or soaked
)

// RolloutWave is one wave: the devices it adds (resolved at creation) and
// its deployment of the new version.
type RolloutWave struct {
	Devices    []string     `json:"devices"`
	State      string       `json:"state"`
	Deployment string       `json:"deployment,omitempty"`
	Started    time.Time    `json:"started,omitzero"`
	SoakStart  time.Time    `json:"soak_start,omitzero"`
	Ended      time.Time    `json:"ended,omitzero"`
	Figures    *GateFigures `json:"figures,omitempty"` // at the wave's end
}

// RolloutRollback is one group of updated devices sent back.
type RolloutRollback struct {
	// Version is what the devices go back to; "" when they had no version
	// of the module before the rollout (the module is removed).
	Version    string   `json:"version,omitempty"`
	Devices    []string `json:"devices"`
	Deployment string   `json:"deployment,omitempty"`
}

// Gate verdicts.
const (
	GateWaiting = "waiting"
	GatePass    = "pass"
	GateFail    = "fail"
)

// GateFigures are what the gate saw over a wave's soak window.
type GateFigures struct {
	Time        time.Time  `json:"time"`
	WindowStart time.Time  `json:"window_start"`
	New         GateSample `json:"new"`
	Old         GateSample `json:"old"`
	// Baseline says where Old comes from: the devices not yet updated
	// during the same window, or the old version since the rollout began.
	Baseline string `json:"baseline"`
	Verdict  string `json:"verdict"`
	Reason   string `json:"reason,omitempty"`
}

// GateSample is one side of the comparison.
type GateSample struct {
	Versions  []string `json:"versions,omitempty"`
	Devices   int      `json:"devices"`
	Requests  uint64   `json:"requests"`
	Errors    uint64   `json:"errors_5xx"`
	ErrorRate float64  `json:"error_rate"`
	P99       float64  `json:"p99_seconds"`
}
