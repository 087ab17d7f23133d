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
	// gen counts the connections made (markUp); up is the generation of
	// the one up, 0 when none is. A callback of an earlier connection
	// (paho runs them in goroutines of their own, any time later) must
	// not act on a later one: see onConnect and onConnectionLost.
	gen, up  uint64
	takeover takeover
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noteFailureLocked(err)
}

// noteAttempt records a failed connection attempt, with a hint when the
// broker's port may speak TLS and the URL does not, or the reverse, until
// a connection was up (then the port spoke the URL's protocol).
func (s *Session) noteAttempt(err error) *mqttdial.Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn.lost > 0 {
		return s.noteFailureLocked(err)
	}
	return s.recordLocked(mqttdial.ExplainAt(err, s.cfg.Broker))
}

func (s *Session) noteFailureLocked(err error) *mqttdial.Failure {
	return s.recordLocked(mqttdial.Explain(err))
}

func (s *Session) recordLocked(f *mqttdial.Failure) *mqttdial.Failure {
	if f == nil {
		f = &mqttdial.Failure{Kind: mqttdial.KindClosed}
	}
	s.conn.failed++
	s.conn.last, s.conn.lastAt = f, time.Now()
	return f
}

// isUp reports whether the connection of generation gen is the one up.
func (s *Session) isUp(gen uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.up == gen
}

// onConnectionLost is paho's connection-lost handler. Paho calls it in a
// goroutine of its own once the connection is closed, so it can run after
// the connect loop has made the next connection: a report found with a
// connection open is of an earlier one, and dropped. The check and the
// marking are under s.mu, which the connect loop's markUp needs after
// paho's status says connected: a report that passes the check is never
// applied to a later connection. The connect loop chooses the wait before
// the next connection (afterLoss).
func (s *Session) onConnectionLost(_ mqtt.Client, err error) {
	s.mu.Lock()
	if s.client.IsConnectionOpen() {
		s.mu.Unlock()
		s.log.Debug("late report of an earlier connection's loss; ignored", "err", err)
		return
	}
	s.conn.lost++
	s.conn.up = 0
	f := s.noteFailureLocked(err)
	s.setConnectedLocked(false)
	s.mu.Unlock()
	select { // latest wins
	case <-s.lost:
	default:
	}
	select {
	case s.lost <- f:
	default:
	}
}

// connectLoop makes the first connection, a new one whenever onConnect
// asks (a failed subscription), and a new one after a lost connection,
// once the wait afterLoss chose is over (at once after a connection that
// lasted; growing after short ones, and after a takeover: takeover.go).
// Each attempt that fails is retried with exponential back-off from 1 s to
// MaxReconnect. It makes every connection (paho's auto-reconnect is off),
// so it numbers them (markUp) and starts onConnect for each itself.
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
		gen := s.markUp(time.Now())
		go s.onConnect(gen)
		wait, ok := s.waitForLoss(ctx, gen)
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

// waitForLoss waits until connection gen is lost (the lost handler says
// so), onConnect asks for a new one, or the connection is found closed for
// 2 s with neither (a loss paho did not report: without paho's
// auto-reconnect nothing else would notice), and returns the wait before
// the next connection. Requests of earlier connections are ignored: one
// that ended this connection skipped the takeover back-off, and its own
// onConnect then failed and asked again, so that a twin took the id over
// every second and never backed off (TestTakeover under load). It
// returns false when ctx ends.
func (s *Session) waitForLoss(ctx context.Context, gen uint64) (time.Duration, bool) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var closedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case g := <-s.redial:
			if g != gen || !s.client.IsConnectionOpen() {
				continue // an earlier connection's, or a loss to be reported
			}
			s.markDown()
			s.client.Disconnect(0)
			return 0, true
		case f := <-s.lost:
			if s.client.IsConnectionOpen() {
				continue // an earlier connection's, reported late
			}
			s.markDown() // lost before markUp: the handler found no connection up
			wait := s.afterLoss(f, time.Now())
			s.log.Warn("mqtt connection lost; reconnecting with back-off", "broker", s.cfg.Broker, "reason", f.Kind,
				"err", f.Error(), "retry_in", wait)
			return wait, true
		case now := <-tick.C:
			switch {
			case s.client.IsConnectionOpen():
				closedAt = time.Time{}
			case closedAt.IsZero():
				closedAt = now
			case now.Sub(closedAt) >= 2*time.Second:
				s.log.Warn("mqtt connection closed without a loss reported; reconnecting", "broker", s.cfg.Broker)
				s.markDown()
				s.client.Disconnect(0)
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
		f := s.noteAttempt(err)
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
		f := s.noteAttempt(n.Reason)
		s.log.Warn("mqtt reconnect failed; retrying with back-off"+hint(f), "broker", s.cfg.Broker, "reason", f.Kind, "err", n.Reason)
	}
}

// hint tells the operator what to check after a failure that retrying
// alone will not cure.
func hint(f *mqttdial.Failure) string {
	switch {
	case f.Permanent():
		return "; check the device id and password (or client certificate): was the device removed or its password rotated?"
	case f.Hint != "":
		return "; " + f.Hint
	case f.Kind == mqttdial.KindTLS:
		return "; check --ca-file (the CA of the broker's certificate) and --cert/--key"
	}
	return ""
}
