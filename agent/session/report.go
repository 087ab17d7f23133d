package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edge/wire"
)

// Report queues ev in the durable outbox; it is published in order when
// the session is connected. It fails only if the outbox cannot be written.
func (s *Session) Report(ev wire.Event) error {
	if ev.Device == "" {
		ev.Device = s.cfg.Device
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	ev.Reason = truncate(ev.Reason, wire.MaxReasonSize)
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if len(b) > wire.MaxReportSize {
		// Never queued: it would block every report behind it.
		return fmt.Errorf("report: %w", &wire.SizeError{What: "event", Size: int64(len(b)), Limit: wire.MaxReportSize})
	}
	if err := s.outbox.Append(b); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// drain publishes outbox entries in order while connected.
func (s *Session) drain(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		for s.Connected() {
			e, ok := s.outbox.Peek()
			if !ok {
				break
			}
			err := s.publish(wire.KindEvents, 1, false, e.Data)
			if errors.Is(err, wire.ErrTooLarge) {
				// Can never be sent (queued by an older agent): drop it
				// rather than hold up every report behind it.
				s.log.Error("outbox entry dropped", "seq", e.Seq, "err", err)
				err = nil
			}
			if err != nil {
				s.log.Warn("outbox publish; will retry", "err", err)
				retry.Reset(time.Second)
				break
			}
			if err := s.outbox.Ack(e.Seq); err != nil {
				s.log.Error("outbox ack", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-retry.C:
		}
	}
}

// PublishStatus makes st the retained status (Online true) and publishes
// it in the background: the latest status wins, a status given while
// disconnected goes out on the next connect, and the caller never waits
// for the broker. Labels and the other fields the session was configured
// with (Config.Status) are kept when st leaves them empty. It fails only
// when the status can never be sent (over wire.MaxReportSize).
func (s *Session) PublishStatus(st wire.Status) error {
	st.Device, st.Online = s.cfg.Device, true
	if st.Time.IsZero() {
		st.Time = time.Now().UTC()
	}
	base := s.cfg.Status
	if st.Labels == nil {
		st.Labels = base.Labels
	}
	st.AgentVersion = cmp.Or(st.AgentVersion, base.AgentVersion)
	st.Arch, st.Board, st.Engine = cmp.Or(st.Arch, base.Arch), cmp.Or(st.Board, base.Board), cmp.Or(st.Engine, base.Engine)
	st.Labels = maps.Clone(st.Labels)
	st.Modules = slices.Clone(st.Modules)
	for i := range st.Modules {
		st.Modules[i].Error = truncate(st.Modules[i].Error, wire.MaxReasonSize)
		if a := st.Modules[i].Attempt; a != nil {
			cp := *a
			cp.Reason = truncate(cp.Reason, wire.MaxReasonSize)
			st.Modules[i].Attempt = &cp
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	if len(b) > wire.MaxReportSize {
		return fmt.Errorf("publish status: %w", &wire.SizeError{What: "status report", Size: int64(len(b)), Limit: wire.MaxReportSize})
	}
	if n := len(st.Quarantine); n > wire.MaxQuarantineReport {
		st.Quarantine = st.Quarantine[n-wire.MaxQuarantineReport:]
	}
	st.Quarantine = slices.Clone(st.Quarantine)
	for i := range st.Quarantine {
		st.Quarantine[i].Reason = truncate(st.Quarantine[i].Reason, wire.MaxQuarantineReason)
	}
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
	select {
	case s.statusKick <- struct{}{}:
	default:
	}
	return nil
}

// statusLoop publishes the latest status given to PublishStatus while
// connected; onConnect publishes it on every connect.
func (s *Session) statusLoop(ctx context.Context) {
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.statusKick:
		case <-retry.C:
		}
		if !s.Connected() {
			continue // onConnect sends it
		}
		s.mu.Lock()
		st := s.status
		s.mu.Unlock()
		if err := s.publishJSON(wire.KindStatus, 1, true, st); err != nil {
			s.log.Warn("publish status; will retry", "err", err)
			retry.Reset(time.Second)
		}
	}
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " [...]"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// LastStatus returns the status last given to PublishStatus (what the
// controller sees, or will see once connected).
func (s *Session) LastStatus() wire.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Modules = slices.Clone(st.Modules)
	return st
}

// PublishMetrics publishes m at QoS 0, never queued: while disconnected it
// returns ErrNotConnected (the caller counts the report as dropped). A
// report that fails wire's checks (Validate, MaxReportSize) is refused.
func (s *Session) PublishMetrics(m *wire.Metrics) error {
	m.Device = s.cfg.Device
	if err := m.Validate(); err != nil {
		return fmt.Errorf("publish metrics: %w", err)
	}
	return s.publishJSON(wire.KindMetrics, 0, false, m)
}
