package session

import (
	"context"
	"encoding/json"

	"github.com/edgeplane/edge/wire"
)

// Log requests come from the controller on the device's own logreq topic
// (the broker lets only the controller publish there, and the session
// subscribes to no other device's); each is answered with one LogBatch on
// the device's logs topic, QoS 1, not retained.
const (
	// maxLogRequests bounds the requests waiting for an answer; more are
	// dropped (the controller times out and may ask again).
	maxLogRequests = 4
	// maxLogRequestSize bounds a request's encoding: an id of 64 bytes, a
	// module name, a time and a number take a few hundred bytes.
	maxLogRequestSize = 4 << 10
)

// LogSource answers log requests: the agent's log rings (agent/logring).
// Answer must return a batch whose encoding fits wire.MaxReportSize.
type LogSource interface {
	Answer(req wire.LogRequest) wire.LogBatch
}

// SetLogSource makes the session subscribe to the device's log requests
// and answer them from src. Call it before Start.
func (s *Session) SetLogSource(src LogSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = src
}

func (s *Session) logSource() LogSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs
}

// onLogRequest queues a request for answerLogs; it never blocks paho.
func (s *Session) onLogRequest(b []byte) {
	if len(b) > maxLogRequestSize {
		s.log.Warn("log request dropped: too large", "bytes", len(b), "limit", maxLogRequestSize)
		return
	}
	var req wire.LogRequest
	if err := wire.Decode(b, &req); err != nil {
		s.log.Warn("log request dropped", "err", err)
		return
	}
	if err := req.Validate(); err != nil {
		s.log.Warn("log request dropped", "err", err)
		return
	}
	select {
	case s.logReqs <- req:
	default:
		s.log.Warn("log request dropped: too many waiting", "id", req.ID, "limit", maxLogRequests)
	}
}

// answerLogs answers queued log requests one at a time until ctx ends.
func (s *Session) answerLogs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-s.logReqs:
			src := s.logSource()
			if src == nil {
				continue
			}
			batch := src.Answer(req)
			batch.Device, batch.ID = s.cfg.Device, req.ID
			b, err := json.Marshal(&batch)
			if err == nil {
				err = s.publish(wire.KindLogs, 1, false, b)
			}
			if err != nil {
				s.log.Warn("log request not answered", "id", req.ID, "module", req.Module, "err", err)
				continue
			}
			s.log.Debug("log request answered", "id", req.ID, "module", req.Module, "lines", len(batch.Lines), "more", batch.More)
		}
	}
}
