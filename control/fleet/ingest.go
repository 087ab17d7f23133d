package fleet

import (
	"cmp"
	"context"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edge/wire"
)

// Bounds on what an agent may send.
const (
	maxReportSize = wire.MaxReportSize // status, event, metrics or fetch payload
	maxReason     = wire.MaxReasonSize // bytes of an event's reason kept
	ingestTimeout = 10 * time.Second
)

// knownStates are the module states an agent may report.
var knownStates = []string{
	wire.StateFetching, wire.StateVerifying, wire.StateCompiling, wire.StateStarting, wire.StateProbing,
	wire.StateRunning, wire.StateRolledBack, wire.StateRejected, wire.StateFailed, wire.StateStopped,
}

// HandleMessage ingests one MQTT message from a device topic. It never
// blocks on MQTT: fetch requests and metrics reports are queued for Run.
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
	ctx, cancel := context.WithTimeout(context.Background(), ingestTimeout)
	defer cancel()
	switch kind {
	case wire.KindStatus:
		f.handleStatus(ctx, log, id, payload)
	case wire.KindEvents:
		f.handleEvent(ctx, log, id, payload)
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

func (f *Fleet) handleStatus(ctx context.Context, log logger, id string, payload []byte) {
	var st wire.Status
	if !decode(log, id, payload, &st, &st.Device) {
		return
	}
	if !st.Online && len(st.Modules) == 0 {
		// A Last Will: the agent registers it when it connects, with what
		// it says of itself (labels, board, version) but not its modules,
		// which it cannot know then. Keep the modules and generation the
		// device last reported (and its labels if the will has none),
		// marked offline.
		if prev, err := f.store.Device(ctx, id); err == nil && prev.Status != nil {
			will := st
			st = *prev.Status
			st.Online, st.Time = false, will.Time
			if will.Labels != nil {
				st.Labels = will.Labels
			}
			st.AgentVersion = cmp.Or(will.AgentVersion, st.AgentVersion)
			st.Arch, st.Board, st.Engine = cmp.Or(will.Arch, st.Arch), cmp.Or(will.Board, st.Board), cmp.Or(will.Engine, st.Engine)
		}
	}
	if err := f.store.PutStatus(ctx, &st, f.now()); err != nil {
		log.Error("store status", "err", err)
		return
	}
	f.inv.setStatus(&st)
	log.Debug("status stored", "online", st.Online, "generation", st.Generation)
	// Level-triggered progress: the module states in the status say where
	// each deployment stands even if an event was lost.
	for _, m := range st.Modules {
		if m.Deployment != "" && slices.Contains(knownStates, m.State) {
			f.setState(ctx, log, m.Deployment, id, m.State, m.Error)
		}
		// The latest attempt, when it is not what serves (rejected,
		// failed, rolled back, in progress), is only in Attempt.
		if a := m.Attempt; a != nil && a.Deployment != "" && slices.Contains(knownStates, a.State) {
			f.setState(ctx, log, a.Deployment, id, a.State, a.Reason)
		}
	}
}

func (f *Fleet) handleEvent(ctx context.Context, log logger, id string, payload []byte) {
	var ev wire.Event
	if !decode(log, id, payload, &ev, &ev.Device) {
		return
	}
	if ev.State == wire.StateIDConflict {
		ev.Module, ev.Version, ev.Deployment = "", "", ""
		ev.Reason = sanitize(ev.Reason[:min(len(ev.Reason), maxReason)])
		f.recordEvent(ctx, log, &ev)
		f.noteConflict(id, "agent", ev.Reason, f.now())
		return
	}
	if !slices.Contains(knownStates, ev.State) {
		log.Warn("event dropped: unknown state", "state", ev.State, "deployment", ev.Deployment)
		return
	}
	ev.Reason = sanitize(ev.Reason[:min(len(ev.Reason), maxReason)])
	f.recordEvent(ctx, log, &ev)
	if ev.Deployment == "" {
		log.Info("event without deployment", "module", ev.Module, "version", ev.Version, "state", ev.State, "reason", ev.Reason)
		return
	}
	log.Info("deployment event", "deployment", ev.Deployment, "module", ev.Module, "version", ev.Version, "state", ev.State, "reason", ev.Reason)
	f.setState(ctx, log, ev.Deployment, id, ev.State, ev.Reason)
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
