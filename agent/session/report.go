package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// PublishStatus publishes st as the retained status (Online true) and
// remembers it for every reconnect. While disconnected it returns
// ErrNotConnected; the status goes out on the next connect.
func (s *Session) PublishStatus(st wire.Status) error {
	st.Device, st.Online = s.cfg.Device, true
	if st.Time.IsZero() {
		st.Time = time.Now().UTC()
	}
	st.Modules = slices.Clone(st.Modules)
	for i := range st.Modules {
		st.Modules[i].Error = truncate(st.Modules[i].Error, wire.MaxReasonSize)
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
	return s.publishJSON(wire.KindStatus, 1, true, st)
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

// PublishMetrics publishes m at QoS 0: dropped while disconnected.
func (s *Session) PublishMetrics(m wire.Metrics) error {
	m.Device = s.cfg.Device
	return s.publishJSON(wire.KindMetrics, 0, false, m)
}
