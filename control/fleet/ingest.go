package fleet

import (
	"context"
	"slices"
	"unicode/utf8"

	"github.com/edgeplane/edge/wire"
)

// Bounds on what an agent may send.
const (
	maxReportSize = wire.MaxReportSize // status, event, metrics or fetch payload
	maxReason     = wire.MaxReasonSize // bytes of an event's reason kept
)

// knownStates are the module states an agent may report.
var knownStates = []string{
	wire.StateFetching, wire.StateVerifying, wire.StateCompiling, wire.StateStarting, wire.StateProbing,
	wire.StateRunning, wire.StateRolledBack, wire.StateRejected, wire.StateFailed, wire.StateStopped,
}

// HandleMessage ingests one MQTT message from a device topic. It never
// blocks on MQTT nor on the database, and decodes nothing but fetch
// requests: statuses, events (reports.go), fetch requests and metrics
// reports are queued for Run.
func (f *Fleet) HandleMessage(topic string, payload []byte) {
	id, kind, err := wire.ParseDeviceTopic(topic)
	if err != nil {
		f.log.Warn("mqtt message dropped: bad topic", "err", err)
		return
	}
	log := f.log.With("device", id, "kind", kind)
	if len(payload) == 0 {
		return // a cleared retained message
	}
	if f.removed.has(id) {
		log.Debug("mqtt message dropped: device removed")
		return
	}
	if len(payload) > maxReportSize {
		log.Warn("mqtt message dropped: too large", "bytes", len(payload), "max", maxReportSize)
		return
	}
	switch kind {
	case wire.KindStatus, wire.KindEvents:
		f.queueReport(log, id, kind, payload)
	case wire.KindMetrics:
		f.queueMetrics(id, payload)
	case wire.KindFetch:
		f.queueFetch(log, id, payload)
	case wire.KindLogs:
		f.handleLogs(log, id, payload)
	default:
		log.Debug("mqtt message ignored: not a device report")
	}
}

// decode parses a report and checks that the device it names is the one
// of its topic (which the broker bound to the authenticated user).
func decode(log interface{ Warn(string, ...any) }, id string, payload []byte, v any, device *string) bool {
	if err := wire.Decode(payload, v); err != nil {
		log.Warn("mqtt message dropped", "err", err)
		return false
	}
	if *device == "" {
		*device = id
	}
	if *device != id {
		log.Warn("mqtt message dropped: names another device", "named", *device)
		return false
	}
	return true
}

// decodeEvent decodes an event from device id and checks its state; its
// reason is cut to maxReason and made valid UTF-8.
func decodeEvent(log logger, id string, payload []byte) (*wire.Event, bool) {
	var ev wire.Event
	if !decode(log, id, payload, &ev, &ev.Device) {
		return nil, false
	}
	if ev.State == wire.StateIDConflict || ev.State == wire.StateIDConflictOver { // stored as is, and noted by decodeReports
		ev.Module, ev.Version, ev.Deployment = "", "", ""
		ev.Reason = sanitize(ev.Reason[:min(len(ev.Reason), maxReason)])
		return &ev, true
	}
	if !slices.Contains(knownStates, ev.State) {
		log.Warn("event dropped: unknown state", "state", ev.State, "deployment", ev.Deployment)
		return nil, false
	}
	ev.Reason = sanitize(ev.Reason[:min(len(ev.Reason), maxReason)])
	if ev.Deployment == "" {
		log.Info("event without deployment", "module", ev.Module, "version", ev.Version, "state", ev.State, "reason", ev.Reason)
	} else {
		log.Info("deployment event", "deployment", ev.Deployment, "module", ev.Module, "version", ev.Version, "state", ev.State, "reason", ev.Reason)
	}
	return &ev, true
}

func (f *Fleet) setState(ctx context.Context, log logger, deployment, id, state, reason string) {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	reason = sanitize(reason)
	changed, err := f.store.SetDeviceState(ctx, deployment, id, state, reason, f.now())
	if err != nil {
		log.Error("store deployment progress", "deployment", deployment, "err", err)
		return
	}
	if !changed {
		log.Debug("progress unchanged (unknown deployment, not targeted, same or stale state)", "deployment", deployment, "state", state)
	}
}

// sanitize makes text from a device valid UTF-8.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}
