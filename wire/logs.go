package wire

import (
	"fmt"
	"time"
)

// Logs travel on request only: the agent keeps a bounded ring of recent
// lines per module and for itself, and the controller asks for them.
//
//	controller ──LogRequestTopic (QoS 1)──▶ agent
//	controller ◀──LogsTopic (QoS 1)────────── agent (one LogBatch per request)
//
// A batch carries at most MaxLogLines lines of at most MaxLogLineSize bytes
// each, and its encoding stays within MaxReportSize: the agent stops adding
// lines before it would exceed that and sets More. A follower
// (edgectl logs -f) asks again with Since set to the time of the last line
// it got.

// LogRequest asks a device for recent log lines.
type LogRequest struct {
	ID     string    `json:"id"`               // echoed in the LogBatch
	Module string    `json:"module,omitempty"` // "" = the agent's own log
	Since  time.Time `json:"since,omitzero"`   // lines strictly after this time
	Max    int       `json:"max,omitempty"`    // ≤ MaxLogLines; 0 = MaxLogLines
}

// LogBatch answers a LogRequest, oldest line first.
type LogBatch struct {
	Device string    `json:"device"`
	ID     string    `json:"id"`
	Module string    `json:"module,omitempty"`
	Lines  []LogLine `json:"lines"`
	// More is true when lines after the last one were left out (Max or
	// the report size); ask again with Since = the last line's Time.
	More bool `json:"more,omitempty"`
	// Dropped counts lines the ring lost before Since could be served
	// (older lines overwritten) or that exceeded the module's log budget.
	Dropped uint64 `json:"dropped,omitempty"`
}

// LogLine is one log record.
type LogLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // DEBUG, INFO, WARN, ERROR
	Version string    `json:"version,omitempty"`
	Msg     string    `json:"msg"`
}

// Validate checks a LogRequest as it arrives.
func (r *LogRequest) Validate() error {
	if r.ID == "" || len(r.ID) > 64 {
		return fmt.Errorf("log request: id of %d bytes, want 1..64", len(r.ID))
	}
	if r.Module != "" {
		if err := ValidateModuleName(r.Module); err != nil {
			return fmt.Errorf("log request: %w", err)
		}
	}
	if r.Max < 0 || r.Max > MaxLogLines {
		return fmt.Errorf("log request: max %d, want 0..%d", r.Max, MaxLogLines)
	}
	return nil
}

// Validate checks a LogBatch as it arrives.
func (b *LogBatch) Validate() error {
	if err := ValidateDeviceID(b.Device); err != nil {
		return fmt.Errorf("log batch: %w", err)
	}
	if len(b.Lines) > MaxLogLines {
		return fmt.Errorf("log batch: %d lines, at most %d", len(b.Lines), MaxLogLines)
	}
	return nil
}
