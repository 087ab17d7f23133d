package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/wire"
)

// Bus is the agent's MQTT session as the supervisor uses it for modules
// (agent/session implements it). Workers have no connection of their
// own: what their guests publish goes through here, in the module's
// namespace, and the messages of their subscriptions come to Receive.
type Bus interface {
	// Publish sends one message and, at QoS 1, waits for the broker's
	// acknowledgement until ctx ends. ErrBusUnavailable: not connected.
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error
	// SetSubscriptions makes the session subscribed to exactly these
	// filters (with their QoS) for modules, now and after reconnects.
	SetSubscriptions(filters map[string]byte)
}

// ErrBusUnavailable is what a Bus returns when it has no connection.
var ErrBusUnavailable = errors.New("no broker connection")

// workerConfigMessaging fills the messaging part of a worker's config
// from the manifest.
func (s *Supervisor) workerConfigMessaging(sp *spec) {
	m, w := sp.m, &sp.wcfg
	w.Link = true // always: the link costs a socket, and a guest's publish then says why it is refused
	w.PublishAllow = m.Messaging.Publish
	w.PublishRate = m.Messaging.PublishRate()
	w.PublishMaxPayload = m.Messaging.PayloadLimit()
	w.Triggers = nil
	if len(m.Messaging.Subscribe) > 0 {
		w.Triggers = append(w.Triggers, abi.ExportOnMessage)
	}
	if len(m.Timers) > 0 {
		w.Triggers = append(w.Triggers, abi.ExportOnTimer)
	}
}

// handleLink answers a worker's request on its link: a publish.
func (r *runner) handleLink(link *hostlink.Conn, f hostlink.Frame) {
	if f.Type != hostlink.TypePublish {
		return // the worker asks nothing else
	}
	code := abi.CodeBadRequest
	if req, err := abi.DecodePublishRequest(f.Body); err == nil {
		code = r.s.publish(r.spec.m, &req)
	}
	link.Send(&hostlink.Frame{Type: hostlink.TypePublished, ID: f.ID, Body: []byte{byte(code)}})
}

// publishTimeout bounds waiting for the broker's acknowledgement; the
// worker's own call is bounded by the guest's deadline besides.
const publishTimeout = 10 * time.Second

// publish sends a guest's message in the module's namespace. The worker
// checked the grant; the supervisor checks it again (the namespace above
// all: a device's control topics are never a module's), since a refused
// QoS 1 publish costs the whole MQTT session on some brokers.
func (s *Supervisor) publish(m *wire.Manifest, r *abi.PublishRequest) abi.ErrorCode {
	msg := &m.Messaging
	allowed := false
	for _, f := range msg.Publish {
		allowed = allowed || wire.TopicMatches(f, r.Topic)
	}
	switch {
	case !allowed || wire.ValidateTopic(r.Topic) != nil:
		return abi.CodeDenied
	case len(r.Payload) > msg.PayloadLimit():
		return abi.CodeTooLarge
	case s.cfg.Bus == nil || s.cfg.Device == "":
		return abi.CodeUnavailable
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	err := s.cfg.Bus.Publish(ctx, wire.AppTopic(s.cfg.Device, m.Name, r.Topic), r.Payload, r.QoS, r.Retain)
	switch {
	case err == nil:
		s.msgStats(m.Name, m.Version).published.Add(1)
		return 0
	case errors.Is(err, context.DeadlineExceeded):
		return abi.CodeTimeout
	}
	s.log.Debug("module publish failed", "module", m.Name, "topic", r.Topic, "err", err)
	return abi.CodeUnavailable
}
