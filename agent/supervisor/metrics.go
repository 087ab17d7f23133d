package supervisor

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgeplane/edge/agent/internal/procfs"
	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/wire"
)

// Bounds of the versions that stopped, kept for the next report.
const (
	endedKeep = 15 * time.Minute
	endedMax  = 2 * wire.MaxModules
)

// endedRun is the last metrics of a version whose runner ended.
type endedRun struct {
	at time.Time
	m  wire.ModuleMetrics
}

func (s *Supervisor) track(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runners[r] = struct{}{}
}

// untrack keeps the final metrics of r, whose loop ends, for the reports
// that cover the moment it ended.
func (s *Supervisor) untrack(r *runner) {
	m, _ := r.metrics()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.runners, r)
	if m == nil {
		return
	}
	kept := s.ended[:0]
	for _, e := range s.ended {
		if now.Sub(e.at) < endedKeep {
			kept = append(kept, e)
		}
	}
	s.ended = append(kept, endedRun{at: now, m: *m})
	if n := len(s.ended) - endedMax; n > 0 {
		s.ended = slices.Delete(s.ended, 0, n)
	}
}

// restarted counts a worker restart of name@version.
func (s *Supervisor) restarted(name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarts[name+"@"+version]++
}

// servingChangedLocked tells the waiters of ServingChanged. s.mu is held.
func (s *Supervisor) servingChangedLocked() {
	s.writeRoutesLocked()
	close(s.changed)
	s.changed = make(chan struct{})
	s.kickTriggers()
}

// ServingChanged returns a channel closed when the set of serving module
// versions changes next (a switch, a switch back, a stop).
func (s *Supervisor) ServingChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Serving describes the version of each module serving now. See
// reconcile.Deployer.
func (s *Supervisor) Serving() map[string]reconcile.Serving {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]reconcile.Serving{}
	for name, m := range s.mods {
		if r := m.cur; r != nil {
			r.mu.Lock()
			since := r.servedAt
			r.mu.Unlock()
			out[name] = reconcile.Serving{Version: r.spec.m.Version, SHA256: r.spec.m.SHA256, Port: m.port, Since: since}
		}
	}
	return out
}

// metrics returns the latest metrics of r's current worker process (nil
// before its first), named, and the process id (0 once it has exited).
func (r *runner) metrics() (*wire.ModuleMetrics, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.proc
	if p == nil || p.metrics == nil {
		return nil, 0
	}
	m := *p.metrics
	m.Latency.Counts = slices.Clone(m.Latency.Counts)
	m.Name, m.Version = r.spec.m.Name, r.spec.m.Version
	pid := 0
	select {
	case <-p.exited:
	default:
		pid = p.cmd.Process.Pid
	}
	return &m, pid
}

// ModuleMetrics returns one wire.ModuleMetrics per module version whose
// worker runs now (both versions during a switch) and per version whose
// worker stopped after since, with its final counters: a report made
// every interval passes the time of the previous report and so covers
// every version that ran during the interval. The worker's own counters
// come from its heartbeats (at most 100 ms old while they change); memory and CPU are read
// from /proc now; WorkerRestarts counts the restarts of that version
// since the supervisor started. A version has one entry: the running
// worker's, else the latest that stopped.
func (s *Supervisor) ModuleMetrics(since time.Time) []wire.ModuleMetrics {
	s.mu.Lock()
	live := make([]*runner, 0, len(s.runners))
	for r := range s.runners {
		live = append(live, r)
	}
	byKey := map[string]wire.ModuleMetrics{}
	for _, e := range s.ended {
		if e.at.After(since) {
			byKey[e.m.Name+"@"+e.m.Version] = e.m // newest last
		}
	}
	restarts := make(map[string]uint64, len(s.restarts))
	for k, v := range s.restarts {
		restarts[k] = v
	}
	s.mu.Unlock()

	for _, r := range live {
		m, pid := r.metrics()
		if m == nil {
			continue
		}
		if pid > 0 {
			if mem, err := procfs.ReadMemory(pid); err == nil {
				m.RSSBytes, m.PSSBytes = mem.RSS, mem.PSS
			}
			if cpu, err := procfs.ReadCPU(pid); err == nil {
				m.CPUSeconds = cpu
			}
		}
		key := m.Name + "@" + m.Version
		if prev, ok := byKey[key]; ok && prev.Start.After(m.Start) {
			continue // a live worker older than one that ended: cannot happen, keep the newer
		}
		byKey[key] = *m
	}
	out := make([]wire.ModuleMetrics, 0, len(byKey))
	for key, m := range byKey {
		m.WorkerRestarts = restarts[key]
		st := s.VersionMessagingStats(m.Name, m.Version)
		m.MessagesReceived, m.MessagesDelivered, m.MessageRetries = st.Received, st.Delivered, st.Retries
		m.DeadLetters, m.MessagesPublished = st.Dead, st.Published
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b wire.ModuleMetrics) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out
}
