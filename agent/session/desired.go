package session

import (
	"bytes"
	"fmt"

	"github.com/edgeplane/edge/wire"
)

// parseDesired decodes a desired-state message for device and checks the
// few things the session can: size, JSON, device, generation. Everything
// about the modules is the verifier's business.
func parseDesired(b []byte, device string, minGen int64) (wire.DesiredState, error) {
	var ds wire.DesiredState
	if len(b) == 0 {
		// An empty retained message clears the topic: nothing to do.
		return ds, fmt.Errorf("empty desired state (retained message cleared)")
	}
	if err := wire.Decode(b, &ds); err != nil {
		return ds, err
	}
	if ds.Device != device {
		return ds, fmt.Errorf("desired state for device %q, not %q", ds.Device, device)
	}
	if ds.Generation < minGen {
		return ds, fmt.Errorf("desired generation %d is older than %d", ds.Generation, minGen)
	}
	return ds, nil
}

func (s *Session) onDesired(b []byte) {
	s.mu.Lock()
	minGen := s.minGen
	s.mu.Unlock()
	ds, err := parseDesired(b, s.cfg.Device, minGen)
	if err != nil {
		s.log.Warn("dropping desired state", "err", err)
		return
	}
	s.mu.Lock()
	if ds.Generation < s.minGen { // raced with a newer one
		s.mu.Unlock()
		return
	}
	s.minGen = ds.Generation
	s.mu.Unlock()
	d := Desired{State: ds, Raw: bytes.Clone(b)}
	// Latest wins: replace an undelivered older state.
	for {
		select {
		case s.desired <- d:
			return
		default:
		}
		select {
		case <-s.desired:
		default:
		}
	}
}
