package supervisor

import (
	"context"
	"maps"
	"time"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/wire"
)

// modTriggers is what the supervisor runs for one module's triggers: its
// message queue and delivery loop, and the timers of the version serving.
type modTriggers struct {
	name string
	subs []wire.Subscription // of the serving version, guarded by Supervisor.tmu

	q       *msgQueue
	qstop   context.CancelFunc
	qdone   chan struct{}
	runner  *runner // whose timers run; nil: none
	version string  // of the version serving last

	tstop context.CancelFunc
	tdone chan struct{}
}

// servingRunner is the version of module name that serves now, or nil.
func (s *Supervisor) servingRunner(name string) *runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.mods[name]; m != nil && m.cur != nil {
		return m.cur
	}
	if s.one != nil && s.one.spec.m.Name == name {
		return s.one
	}
	return nil
}

// kickTriggers asks the trigger loop to catch up with what serves.
func (s *Supervisor) kickTriggers() {
	select {
	case s.trigKick <- struct{}{}:
	default:
	}
}

// triggerLoop keeps the modules' triggers in step with the versions that
// serve, one change at a time, until ctx ends.
func (s *Supervisor) triggerLoop(ctx context.Context) {
	defer close(s.trigDone)
	for {
		select {
		case <-s.trigKick:
			s.syncTriggers()
		case <-ctx.Done():
			s.tmu.Lock()
			all := maps.Clone(s.trig)
			s.tmu.Unlock()
			for _, mt := range all {
				s.stopTriggers(mt)
			}
			return
		}
	}
}

// syncTriggers starts the triggers of each serving version, stops those
// of versions no longer serving (a timer's last call ends before the new
// version's first), and sets the session's subscriptions.
func (s *Supervisor) syncTriggers() {
	serving := map[string]*runner{}
	s.mu.Lock()
	for name, m := range s.mods {
		if m.cur != nil {
			serving[name] = m.cur
		}
	}
	if s.one != nil {
		serving[s.one.spec.m.Name] = s.one
	}
	s.mu.Unlock()

	filters := map[string]byte{}
	for name, r := range serving {
		m := r.spec.m
		if !m.Triggers() {
			continue
		}
		s.tmu.Lock()
		mt := s.trig[name]
		if mt == nil {
			mt = &modTriggers{name: name, q: newMsgQueue(), qdone: make(chan struct{})}
			var qctx context.Context
			qctx, mt.qstop = context.WithCancel(context.Background())
			s.trig[name] = mt
			go s.deliverLoop(qctx, mt)
		}
		mt.subs = m.Messaging.Subscribe
		mt.version = m.Version
		s.tmu.Unlock()
		for _, sub := range m.Messaging.Subscribe {
			f := wire.ExpandFilter(sub.Filter, s.cfg.Device)
			filters[f] = max(filters[f], sub.QoS)
		}
		if mt.runner != r {
			s.stopTimers(mt)
			s.startTimers(mt, r)
		}
	}
	s.tmu.Lock()
	var gone []*modTriggers
	for name, mt := range s.trig {
		if r := serving[name]; r == nil || !r.spec.m.Triggers() {
			gone = append(gone, mt)
			delete(s.trig, name)
		}
	}
	s.tmu.Unlock()
	for _, mt := range gone {
		s.stopTriggers(mt)
	}
	if s.cfg.Bus != nil && s.cfg.Device != "" {
		s.cfg.Bus.SetSubscriptions(filters)
	}
}

// stopTriggers ends a module's timers and delivery; what is still queued
// counts as dead letters (the module no longer runs).
func (s *Supervisor) stopTriggers(mt *modTriggers) {
	s.stopTimers(mt)
	mt.qstop()
	<-mt.qdone
	if n := mt.q.drain(); n > 0 {
		s.msgStats(mt.name, mt.version).dead.Add(uint64(n))
		s.log.Warn("module stopped with messages queued: dropped", "module", mt.name, "messages", n)
	}
}

func (s *Supervisor) stopTimers(mt *modTriggers) {
	if mt.tstop != nil {
		mt.tstop()
		<-mt.tdone
		mt.tstop, mt.tdone = nil, nil
	}
	mt.runner = nil
}

// startTimers runs r's timers, one goroutine each; tdone closes when all
// have returned.
func (s *Supervisor) startTimers(mt *modTriggers, r *runner) {
	mt.runner = r
	if len(r.spec.m.Timers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	mt.tstop, mt.tdone = cancel, done
	left := make(chan struct{}, len(r.spec.m.Timers))
	for _, t := range r.spec.m.Timers {
		go func() {
			defer func() { left <- struct{}{} }()
			s.runTimer(ctx, r, t)
		}()
	}
	go func() {
		for range r.spec.m.Timers {
			<-left
		}
		close(done)
	}()
}

// runTimer calls r's timer t every t.EveryMS from now until ctx ends. A
// tick never overlaps the previous call: ticks that pass while it runs,
// or while the worker cannot be reached, are skipped and counted in the
// next call's Missed.
func (s *Supervisor) runTimer(ctx context.Context, r *runner, t wire.Timer) {
	every := time.Duration(t.EveryMS) * time.Millisecond
	start := time.Now()
	var last int64 // index of the last tick run or skipped
	var missed uint32
	for {
		next := start.Add(time.Duration(last+1) * every)
		if !sleepCtx(ctx, time.Until(next)) {
			return
		}
		idx := int64(time.Since(start) / every)
		missed += uint32(idx - last - 1)
		last = idx
		link := r.link()
		if link == nil {
			missed++
			continue
		}
		tick := abi.Timer{Name: t.Name, ScheduledMS: start.Add(time.Duration(idx) * every).UnixMilli(), Missed: missed}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.spec.wcfg.Deadline()+2*time.Second)
		f, err := link.Call(cctx, hostlink.TypeTick, abi.AppendTimer(nil, &tick))
		cancel()
		o, st := hostlink.NotDelivered, int32(0)
		if err == nil {
			o, st, _, _ = hostlink.DecodeOutcome(f.Body)
		}
		switch {
		case o == hostlink.NotDelivered:
			missed++
		case o == hostlink.Called && st == abi.TriggerOK:
			missed = 0
		default:
			missed = 0
			s.log.Warn("timer call failed", "module", r.spec.m.Name, "version", r.spec.m.Version, "timer", t.Name, "status", st)
		}
	}
}
