package metrics

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/edgeplane/edge/wire"
)

// ErrOffline is what a publish function returns (wrapped) when the report
// could not be sent for want of a connection; it is counted as dropped,
// and not logged.
var ErrOffline = errors.New("offline")

// MinGap is the shortest time between two reports made because what
// serves changed: a burst of changes makes one report.
const MinGap = time.Second

// Publisher sends reports. Use Run.
type Publisher struct {
	c        *Collector
	publish  func(*wire.Metrics) error
	interval time.Duration
	changed  func() <-chan struct{}
	log      *slog.Logger

	mu       sync.Mutex
	seq      uint64
	dropped  uint64
	lastSent time.Time // Time of the last report sent
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Publish sends one report (session.PublishMetrics, with
	// session.ErrNotConnected wrapped as ErrOffline by the caller).
	Publish func(*wire.Metrics) error
	// Interval between reports; 0 or less: none at all.
	Interval time.Duration
	// Changed returns a channel closed when the set of serving module
	// versions changes next (supervisor.ServingChanged); nil: none.
	Changed func() <-chan struct{}
	Log     *slog.Logger
}

// NewPublisher returns a publisher of c's reports.
func NewPublisher(c *Collector, cfg PublisherConfig) *Publisher {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{c: c, publish: cfg.Publish, interval: cfg.Interval, changed: cfg.Changed, log: cfg.Log}
}

// Dropped is the number of reports made but not sent.
func (p *Publisher) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Run publishes every interval and when what serves changes (at most once
// per MinGap) until ctx ends. With no interval it returns at once.
func (p *Publisher) Run(ctx context.Context) {
	if p.interval <= 0 {
		return
	}
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	changed := p.changedCh()
	var soon <-chan time.Time // a change waiting for MinGap to pass
	var last time.Time        // of the last report made
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
			changed = p.changedCh()
			if wait := MinGap - time.Since(last); wait > 0 {
				if soon == nil {
					soon = time.After(wait)
				}
				continue
			}
		case <-soon:
		}
		soon = nil
		last = time.Now()
		p.Once()
	}
}

func (p *Publisher) changedCh() <-chan struct{} {
	if p.changed == nil {
		return nil
	}
	return p.changed()
}

// Once makes one report and sends it.
func (p *Publisher) Once() {
	p.mu.Lock()
	since := p.lastSent
	p.mu.Unlock()
	m := p.c.Collect(since)
	p.mu.Lock()
	p.seq++
	m.Seq, m.Agent.Dropped = p.seq, p.dropped
	p.mu.Unlock()
	err := p.publish(&m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.dropped++
		if !errors.Is(err, ErrOffline) {
			p.log.Warn("metrics report not sent", "seq", m.Seq, "err", err)
		}
		return
	}
	p.lastSent = m.Time
}
