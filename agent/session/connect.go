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

// connectLoop makes the first connection, and a new one whenever onConnect
// asks (a failed subscription), with exponential back-off from 1 s to
// MaxReconnect. After a lost connection paho reconnects by itself, with
// its own back-off, and onConnectionNotification logs its attempts.
func (s *Session) connectLoop(ctx context.Context) {
	for {
		if !s.connectUntilUp(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.redial:
			s.client.Disconnect(0)
			s.setConnected(false)
		}
	}
}

func (s *Session) connectUntilUp(ctx context.Context) bool {
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
		s.log.Warn("mqtt connect failed; retrying"+hint(f), "broker", s.cfg.Broker, "attempt", attempt,
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
