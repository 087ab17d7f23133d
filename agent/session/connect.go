package session

import (
	"context"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/internal/mqttdial"
)

// connInfo is what the session knows about its connection, for status.
type connInfo struct {
	since        time.Time         // of the current state, connected or not
	failed       int               // failed attempts since the last connection
	last         *mqttdial.Failure // latest failure (kept after a reconnect)
	lastAt       time.Time
	reconnecting bool   // paho's own reconnect after a lost connection
	lost         uint64 // connections lost since the session started
	takeover     takeover
}

// ConnState is the connection as `edge-agent status` shows it.
type ConnState struct {
	Broker     string    `json:"broker"`
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since"`
	Failed     int       `json:"failed_attempts"` // since the last connection
	LastError  string    `json:"last_error,omitempty"`
	LastReason string    `json:"last_error_reason,omitempty"` // mqttdial kind: "connection refused", ...
	LastAt     time.Time `json:"last_error_at,omitzero"`
	// Conflict is set while another agent seems to use this device id
	// (takeover.go).
	Conflict *Conflict `json:"id_conflict,omitempty"`
	// Lost counts the connections lost since the agent started (each is
	// followed by a reconnect): wire.AgentMetrics.Reconnects.
	Lost uint64 `json:"connections_lost"`
}

// State returns the connection state.
func (s *Session) State() ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := ConnState{Broker: s.cfg.Broker, Connected: s.connected, Since: s.conn.since, Failed: s.conn.failed,
		LastAt: s.conn.lastAt, Lost: s.conn.lost}
	if c := s.conn.takeover.conflict; c != nil {
		cp := *c
		cs.Conflict = &cp
	}
	if s.conn.last != nil {
		cs.LastError, cs.LastReason = s.conn.last.Error(), s.conn.last.Kind
	}
	return cs
}

// noteFailure records a failed attempt or a lost connection.
func (s *Session) noteFailure(err error) *mqttdial.Failure {
	f := mqttdial.Explain(err)
	if f == nil {
		f = &mqttdial.Failure{Kind: mqttdial.KindClosed}
	}
	s.mu.Lock()
	s.conn.failed++
	s.conn.last, s.conn.lastAt = f, time.Now()
	s.mu.Unlock()
	return f
}

// connectLoop makes the first connection, a new one whenever onConnect
// asks (a failed subscription), and a new one after a lost connection,
// once the wait afterLoss chose is over (at once after a connection that
// lasted; growing after short ones, and after a takeover: takeover.go).
// Each attempt that fails is retried with exponential back-off from 1 s to
// MaxReconnect.
func (s *Session) connectLoop(ctx context.Context) {
	for again := false; ; again = true {
		// What a connection before this one asked is done by this one.
		select {
		case <-s.redial:
		default:
		}
		select {
		case <-s.lost:
		default:
		}
		if !s.connectUntilUp(ctx, again) {
			return
		}
		wait, ok := s.waitForLoss(ctx)
		if !ok {
			return
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
	}
}

// waitForLoss waits until the connection is lost (the lost handler says
// so, with the wait before the next), onConnect asks for a new one, or the
// connection is found closed for 2 s with neither (a loss paho did not
// report: without paho's auto-reconnect nothing else would notice). It
// returns false when ctx ends.
func (s *Session) waitForLoss(ctx context.Context) (time.Duration, bool) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var closedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case <-s.redial:
			s.client.Disconnect(0)
			s.setConnected(false)
			return 0, true
		case wait := <-s.lost:
			return wait, true
		case now := <-tick.C:
			switch {
			case s.client.IsConnectionOpen():
				closedAt = time.Time{}
			case closedAt.IsZero():
				closedAt = now
			case now.Sub(closedAt) >= 2*time.Second:
				s.log.Warn("mqtt connection closed without a loss reported; reconnecting", "broker", s.cfg.Broker)
				s.client.Disconnect(0)
				s.setConnected(false)
				return s.afterLoss(&mqttdial.Failure{Kind: mqttdial.KindClosed}, now), true
			}
		}
	}
}

// connectUntilUp connects, retrying with back-off; again says it is a
// reconnect (for the log).
func (s *Session) connectUntilUp(ctx context.Context, again bool) bool {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		tok := s.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return false
		}
		err := tok.Error()
		if err == nil {
			return true
		}
		f := s.noteFailure(err)
		msg := "mqtt connect failed; retrying"
		if again {
			msg = "mqtt reconnect failed; retrying with back-off"
		}
		s.log.Warn(msg+hint(f), "broker", s.cfg.Broker, "attempt", attempt,
			"reason", f.Kind, "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, s.cfg.MaxReconnect)
	}
}

// onConnectionNotification logs the failed attempts of paho's own
// reconnects (the connect loop logs its own).
func (s *Session) onConnectionNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnecting:
		s.mu.Lock()
		s.conn.reconnecting = n.IsReconnect
		s.mu.Unlock()
	case mqtt.ConnectionNotificationFailed:
		s.mu.Lock()
		reconnecting := s.conn.reconnecting
		s.mu.Unlock()
		if !reconnecting {
			return
		}
		f := s.noteFailure(n.Reason)
		s.log.Warn("mqtt reconnect failed; retrying with back-off"+hint(f), "broker", s.cfg.Broker, "reason", f.Kind, "err", n.Reason)
	}
}

// hint tells the operator what to check after a failure that retrying
// alone will not cure.
func hint(f *mqttdial.Failure) string {
	switch {
	case f.Permanent():
		return "; check the device id and password (or client certificate): was the device removed or its password rotated?"
	case f.Kind == mqttdial.KindTLS:
		return "; check --ca-file (the CA of the broker's certificate) and --cert/--key"
	}
	return ""
}
