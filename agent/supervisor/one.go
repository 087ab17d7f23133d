package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/wire"
)

// RunOne runs one module in a worker process on ln until ctx ends, then
// drains it: `edge-agent serve`, which has no controller, versions or
// switch, with the same protection as `edge-agent run` (a worker in fast
// mode under the watchdog: heartbeat silence and calls past their deadline
// kill it, a crash restarts it with back-off, the memory cap applies).
// ready is called once the worker first reports ready. An error means the
// worker never became ready.
func (s *Supervisor) RunOne(ctx context.Context, name string, wcfg worker.Config, ln *net.TCPListener, ready func()) error {
	f, err := ln.File()
	if err != nil {
		return fmt.Errorf("run %s: listener: %w", name, err)
	}
	defer f.Close()
	wcfg.Gated = false
	if err := wcfg.Validate(); err != nil {
		return err
	}
	sp := spec{m: &wire.Manifest{Name: name, Version: "-"}, wasmPath: wcfg.Module, wcfg: wcfg}
	r, err := s.start(ctx, sp, f)
	if err != nil {
		return fmt.Errorf("run %s: %w", name, err)
	}
	r.serve()
	s.mu.Lock()
	s.one = r
	s.mu.Unlock()
	s.kickTriggers()
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case <-r.done:
		return errors.New("run " + name + ": worker loop ended") // not expected: it restarts crashes
	}
	r.stop(true, wcfg.Deadline()+s.cfg.DrainTimeout)
	return nil
}
