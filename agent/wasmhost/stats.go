package wasmhost

import (
	"errors"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a module's counters and pool.
type Stats struct {
	Engine       string // "compiler" or "interpreter"
	DeadlineMode string // "interrupt" or "fast"
	PoolSize     int    // target
	Instances    int    // live instances (idle, busy or being created)
	Idle         int
	Running      int // calls in progress, abandoned ones included
	Abandoned    int // calls past their deadline that have not returned
	// OldestCall is the age of the oldest call in progress, abandoned ones
	// included, or of the oldest instance creation (the guest's
	// _initialize) in progress on the module's engine: what a watchdog
	// heartbeat reports.
	OldestCall time.Duration

	Requests     uint64
	Errors       uint64 // every failed Serve, all of the below included
	Traps        uint64
	MemoryLimits uint64 // traps at the memory limit (also counted in Traps)
	Timeouts     uint64
	BadResponses uint64
	TooLarge     uint64 // request bodies over the limit
	Unavailable  uint64
	BodyTimeouts uint64 // request bodies that stalled (408)
	BodyBusy     uint64 // requests refused for want of room for their body (503)

	InstancesCreated   uint64
	InstancesDiscarded uint64

	// Writes counts the module's committed writes: each statement run
	// outside a transaction, and each committed transaction, that changed
	// at least one row (RowsAffected); RowsWritten sums those rows. Schema
	// changes (DDL) change no rows and are not counted, nor are writes
	// made through a query (INSERT ... RETURNING).
	Writes      uint64
	RowsWritten uint64

	// SQLCalls counts the module's SQL host calls (refused ones
	// included); SQLTime is the time spent in them.
	SQLCalls uint64
	SQLTime  time.Duration
	// LogsDropped counts guest log records dropped over the module's log
	// budget (Limits.LogRecordsPerSecond, LogBytesPerSecond).
	LogsDropped uint64

	// Triggers counts calls of edge_on_message and edge_on_timer;
	// TriggerErrors those that trapped, timed out or found no instance
	// (a status other than TriggerOK is the guest's answer, not an error).
	Triggers      uint64
	TriggerErrors uint64
	// Published counts msg_publish calls the host sent on;
	// PublishRefused those it refused (allow-list, size, rate, broker).
	Published      uint64
	PublishRefused uint64
}

// sqlCounter counts SQL host calls and the time they took.
type sqlCounter struct {
	calls atomic.Uint64
	nanos atomic.Int64
}

func (c *sqlCounter) add(d time.Duration) {
	c.calls.Add(1)
	c.nanos.Add(int64(d))
}

// writeCounter counts committed writes (Stats.Writes, Stats.RowsWritten).
type writeCounter struct{ writes, rows atomic.Uint64 }

// committed records a statement or transaction committed with rows changed.
func (w *writeCounter) committed(rows int64) {
	if rows > 0 {
		w.writes.Add(1)
		w.rows.Add(uint64(rows))
	}
}

type counters struct {
	requests, errors, traps, memLimits, timeouts, badResp, tooLarge, unavailable atomic.Uint64
	created, discarded                                                           atomic.Uint64
	bodyTimeouts, bodyBusy                                                       atomic.Uint64
	triggers, triggerErrors                                                      atomic.Uint64
}

func (c *counters) count(err error) {
	c.errors.Add(1)
	switch { // ErrUnavailable first: it wraps the creation failure's cause
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		c.unavailable.Add(1)
	case errors.Is(err, ErrTimeout):
		c.timeouts.Add(1)
	case errors.Is(err, ErrTrap):
		c.traps.Add(1)
		if errors.Is(err, ErrMemoryLimit) {
			c.memLimits.Add(1)
		}
	case errors.Is(err, ErrBadResponse):
		c.badResp.Add(1)
	case errors.Is(err, ErrBodyTooLarge):
		c.tooLarge.Add(1)
	}
}

// Stats returns a snapshot. It takes a short lock and does not touch guest
// memory, so a heartbeat may call it often.
func (m *Module) Stats() Stats {
	now := time.Now()
	s := Stats{
		Engine:             m.engine.String(),
		DeadlineMode:       m.cfg.Deadline.String(),
		PoolSize:           m.cfg.PoolSize,
		Idle:               len(m.idle),
		Requests:           m.stats.requests.Load(),
		Errors:             m.stats.errors.Load(),
		Traps:              m.stats.traps.Load(),
		MemoryLimits:       m.stats.memLimits.Load(),
		Timeouts:           m.stats.timeouts.Load(),
		BadResponses:       m.stats.badResp.Load(),
		TooLarge:           m.stats.tooLarge.Load(),
		Unavailable:        m.stats.unavailable.Load(),
		BodyTimeouts:       m.stats.bodyTimeouts.Load(),
		BodyBusy:           m.stats.bodyBusy.Load(),
		InstancesCreated:   m.stats.created.Load(),
		InstancesDiscarded: m.stats.discarded.Load(),
		Writes:             m.env.writes.writes.Load(),
		RowsWritten:        m.env.writes.rows.Load(),
		SQLCalls:           m.env.sql.calls.Load(),
		SQLTime:            time.Duration(m.env.sql.nanos.Load()),
		LogsDropped:        m.env.logs.dropped(),
		Triggers:           m.stats.triggers.Load(),
		TriggerErrors:      m.stats.triggerErrors.Load(),
		Published:          m.env.pub.sent.Load(),
		PublishRefused:     m.env.pub.refused.Load(),
	}
	m.mu.Lock()
	s.Instances = m.live
	s.Running = len(m.running)
	for in := range m.running {
		if in.state.Load() == stateAbandoned {
			s.Abandoned++
		}
		s.OldestCall = max(s.OldestCall, in.age(now))
	}
	m.mu.Unlock()
	s.OldestCall = max(s.OldestCall, m.e.inits.oldest(now))
	return s
}

// OldestCall is the age of the oldest call in progress (zero when idle).
func (m *Module) OldestCall() time.Duration { return m.Stats().OldestCall }
