package logring

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/edgeplane/edge/wire"
)

// MaxRings bounds the module rings of a Set: the modules of a desired
// state, and as many that were removed lately.
const MaxRings = 2 * wire.MaxModules

// batchOverhead is the most a LogBatch's encoding adds to its lines: the
// device id, request id and module name at their limits, field names,
// "more" and "dropped".
const batchOverhead = 512

// Set holds the agent's ring and one ring per module, and answers log
// requests from them (session.LogSource).
type Set struct {
	agent *Ring

	mu      sync.Mutex
	modules map[string]*Ring
}

// NewSet returns a Set with an empty agent ring.
func NewSet() *Set { return &Set{agent: NewRing(), modules: map[string]*Ring{}} }

// Agent returns the ring of the agent's own lines.
func (s *Set) Agent() *Ring { return s.agent }

// Module returns the ring of module name, made on first use; beyond
// MaxRings the ring written least recently is forgotten.
func (s *Set) Module(name string) *Ring {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.modules[name]; r != nil {
		return r
	}
	if len(s.modules) >= MaxRings {
		var oldest string
		var at time.Time
		for n, r := range s.modules {
			r.mu.Lock()
			w := r.written
			r.mu.Unlock()
			if oldest == "" || w.Before(at) {
				oldest, at = n, w
			}
		}
		delete(s.modules, oldest)
	}
	r := NewRing()
	s.modules[name] = r
	return r
}

// Answer builds the answer to req: the lines of the module it names (the
// agent's own for ""), strictly after req.Since, oldest first, at most
// req.Max (wire.MaxLogLines when 0), and no more than fit in
// wire.MaxReportSize once encoded; More is set when lines were left out.
// A module without lines gets an empty batch.
func (s *Set) Answer(req wire.LogRequest) wire.LogBatch {
	b := wire.LogBatch{ID: req.ID, Module: req.Module, Lines: []wire.LogLine{}}
	r := s.agent
	if req.Module != "" {
		s.mu.Lock()
		r = s.modules[req.Module]
		s.mu.Unlock()
	}
	if r == nil {
		return b
	}
	max := req.Max
	if max <= 0 || max > wire.MaxLogLines {
		max = wire.MaxLogLines
	}
	r.batch(&b, req.Since, max, wire.MaxReportSize-batchOverhead)
	return b
}

// jsonSize is the size of l in a batch's encoding, its comma included.
func jsonSize(l *wire.LogLine) int {
	b, err := json.Marshal(l)
	if err != nil {
		return wire.MaxReportSize // never: a LogLine always encodes
	}
	return len(b) + 1
}
