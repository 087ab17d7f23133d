package session

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/edgeplane/edge/internal/mqttdial"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// Two agents started with one device id take each other's session over:
// the broker (the embedded one as Mosquitto, MQTT 3.1.1 §3.1.4) closes
// the older connection of a client id when a newer one connects, the
// agent it closed reconnects at once and closes the other's, and the two
// flap for ever. An MQTT 3.1.1 client is told nothing: its connection is
// just closed. The pattern is what the session sees:
//
//	connected ──closed by the broker within TakeoverWindow──▶ short loss
//	TakeoverStreak short losses in a row ──▶ conflict: Error logged,
//	    an id_conflict event sent, reconnects wait TakeoverDelay,
//	    doubling to TakeoverMaxDelay at each further takeover
//	a connection that stays up TakeoverWindow ──▶ conflict over (Info),
//	    an id_conflict_over event sent (the controller clears its flag)
//
// A network that drops the connection times out or resets it rather than
// closing it, and does not let the next attempt in at once; a broker
// restart closes one connection, not four in a row. A middlebox that
// closes every connection right after it starts is reported too, as a
// conflict that "seems": the broker's log says which it is. The agent that backs
// off longer leaves the id to the other, whose own connections then last
// and whose conflict ends: one of the two serves, the other retries
// rarely, and both said why. The one whose connection lasted comes back
// at once and takes the id back from the newcomer, whose connection is
// then short again: the roles, once taken, stay. Every wait is spread by
// a random part (spread), so that twins closed at one instant do not
// come back at one instant, in lock-step for ever.

// Conflict is a suspected second agent with this device id.
type Conflict struct {
	Since     time.Time     `json:"since"`
	Last      time.Time     `json:"last"`
	Takeovers int           `json:"takeovers"` // connections closed right after connecting, since Since
	Delay     time.Duration `json:"delay"`     // the wait before the next reconnect
}

// takeover is the detector's state (under Session.mu).
type takeover struct {
	upAt     time.Time     // of the current or last connection; zero before the first
	short    int           // losses in a row within TakeoverWindow, closed by the broker
	quick    time.Duration // next wait after a short loss of any kind (1 s doubling to MaxReconnect)
	conflict *Conflict
}

// markUp records that a connection was established and returns its
// generation. Once it has stayed up TakeoverWindow, a conflict is over.
func (s *Session) markUp(now time.Time) uint64 {
	s.mu.Lock()
	s.conn.takeover.upAt = now
	s.conn.gen++
	gen := s.conn.gen
	s.conn.up = gen
	s.mu.Unlock()
	time.AfterFunc(s.cfg.TakeoverWindow, func() {
		s.mu.Lock()
		c := s.conn.takeover.conflict
		over := c != nil && s.conn.up == gen // not lost since
		if over {
			s.conn.takeover = takeover{upAt: s.conn.takeover.upAt}
		}
		s.mu.Unlock()
		if over {
			s.log.Info("connection stable again: device id conflict over", "takeovers", c.Takeovers,
				"since", c.Since, "stable_for", s.cfg.TakeoverWindow)
			// The controller clears its flag on this (it held it 30 min).
			msg := fmt.Sprintf("device id conflict over: connection stable for %s after %s since %s",
				s.cfg.TakeoverWindow, plural.Count(c.Takeovers, "takeover"), c.Since.UTC().Format(time.RFC3339))
			if err := s.Report(wire.Event{State: wire.StateIDConflictOver, Reason: msg, Time: time.Now().UTC()}); err != nil {
				s.log.Warn("queue the id conflict over event", "err", err)
			}
		}
	})
	return gen
}

// markDown records that the session itself ends the connection up.
func (s *Session) markDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.up = 0
	s.setConnectedLocked(false)
}

// afterLoss records a lost connection and returns how long to wait before
// connecting again.
func (s *Session) afterLoss(f *mqttdial.Failure, now time.Time) time.Duration {
	s.mu.Lock()
	tk := &s.conn.takeover
	if tk.upAt.IsZero() || now.Sub(tk.upAt) >= s.cfg.TakeoverWindow {
		// A connection that lasted: reconnect at once (spread).
		*tk = takeover{upAt: tk.upAt}
		s.mu.Unlock()
		return s.spread(0)
	}
	wait := tk.quick
	tk.quick = min(max(2*tk.quick, time.Second), s.cfg.MaxReconnect)
	if f.Kind == mqttdial.KindClosed {
		tk.short++
	} else {
		tk.short = 0
	}
	if tk.short < s.cfg.TakeoverStreak {
		s.mu.Unlock()
		return s.spread(wait)
	}
	first := tk.conflict == nil
	if first {
		tk.conflict = &Conflict{Since: now, Delay: s.cfg.TakeoverDelay}
	} else {
		tk.conflict.Delay = min(2*tk.conflict.Delay, s.cfg.TakeoverMaxDelay)
	}
	c := tk.conflict
	c.Takeovers++
	c.Last = now
	wait = s.spread(max(wait, c.Delay))
	report := *c
	s.mu.Unlock()

	msg := fmt.Sprintf("another agent seems to use device id %s: the broker closed %d connections in a row within %s of connecting "+
		"(MQTT client-id takeover: each connection of one ends the other's); give each board its own --id "+
		"(edgectl device add), and stop the other agent", s.cfg.Device, s.cfg.TakeoverStreak, s.cfg.TakeoverWindow)
	s.log.Error(msg, "takeovers", report.Takeovers, "since", report.Since, "retry_in", wait)
	if first || report.Delay < s.cfg.TakeoverMaxDelay {
		// Once per doubling: at most a few events an hour.
		if err := s.Report(wire.Event{State: wire.StateIDConflict, Reason: msg, Time: now.UTC()}); err != nil {
			s.log.Warn("queue the id conflict event", "err", err)
		}
	}
	return wait
}

// spread returns d plus a random part of up to half of d, and of at least
// up to TakeoverWindow/10: twins closed at the same instant, or waiting
// the same delays, must not come back at the same instant. Two CONNECTs
// of one client id that meet on mochi can both win (attachClient looks
// the id up and adds the client without a lock), and the embedded
// broker's hook then closes both, again at one instant.
func (s *Session) spread(d time.Duration) time.Duration {
	return d + rand.N(max(d/2, s.cfg.TakeoverWindow/10))
}
