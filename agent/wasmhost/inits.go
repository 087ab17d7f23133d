package wasmhost

import (
	"sync"
	"time"
)

// inits tracks the instances being created, whose start function
// (_initialize) is guest code like a request: in fast mode nothing
// interrupts it, so a guest that never returns from it must be seen by the
// same watchdog that sees runaway requests (Stats.OldestCall,
// Engine.OldestInit). Without it a worker loading such a guest waited for
// the supervisor's ready timeout (a minute) with a core burning, and a
// serving worker refilling its pool lost the slot for good.
type inits struct {
	mu     sync.Mutex
	next   uint64
	starts map[uint64]time.Time
}

// begin records a creation starting now; the returned func ends it.
func (s *inits) begin() func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starts == nil {
		s.starts = map[uint64]time.Time{}
	}
	s.next++
	id := s.next
	s.starts[id] = time.Now()
	return func() {
		s.mu.Lock()
		delete(s.starts, id)
		s.mu.Unlock()
	}
}

// oldest is how long the oldest creation in progress has run (0: none).
func (s *inits) oldest(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, t := range s.starts {
		d = max(d, now.Sub(t))
	}
	return d
}

// OldestInit is how long the oldest instance creation in progress on this
// engine (compiled code loaded, the guest's _initialize running) has run;
// zero when none is. A worker reports it while Load has not returned, when
// Module.Stats is not available yet.
func (e *Engine) OldestInit() time.Duration { return e.inits.oldest(time.Now()) }
