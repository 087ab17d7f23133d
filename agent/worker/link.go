package worker

import (
	"context"
	"errors"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/modules/abi"
)

// LinkFD is the worker's end of the host link (Config.Link): see package
// hostlink. Through it the guest publishes and the supervisor hands it
// messages and timer ticks.
const LinkFD = 7

// SetLink gives the worker its host link; Run serves it.
func (w *Worker) SetLink(c *hostlink.Conn) { w.link = c }

// linkPublisher publishes through the supervisor, which holds the MQTT
// session.
type linkPublisher struct{ c *hostlink.Conn }

func (p linkPublisher) Publish(ctx context.Context, topic string, payload []byte, qos uint8, retain bool) abi.ErrorCode {
	f, err := p.c.Call(ctx, hostlink.TypePublish, abi.AppendPublishRequest(nil,
		&abi.PublishRequest{Topic: topic, Payload: payload, QoS: qos, Retain: retain}))
	switch {
	case err == nil && f.Type == hostlink.TypePublished && len(f.Body) == 1:
		return abi.ErrorCode(f.Body[0])
	case err == nil:
		return abi.CodeInternal
	case errors.Is(err, context.DeadlineExceeded):
		return abi.CodeTimeout
	}
	return abi.CodeUnavailable
}

func (w *Worker) publisher() wasmhost.Publisher {
	if w.link == nil {
		return nil
	}
	return linkPublisher{w.link}
}

// handleLink runs one request of the supervisor: a message or a tick for
// the guest. A worker that is not serving (loading, draining) answers
// NotDelivered, and the supervisor tries again, on the version that
// serves by then.
func (w *Worker) handleLink(ctx context.Context, f hostlink.Frame) {
	answer := func(o hostlink.Outcome, status int32, detail string) {
		w.link.Send(&hostlink.Frame{Type: hostlink.TypeOutcome, ID: f.ID, Body: hostlink.EncodeOutcome(o, status, detail)})
	}
	mod := w.mod.Load()
	if mod == nil || !w.ready.Load() || w.draining.Load() {
		answer(hostlink.NotDelivered, 0, "worker not serving")
		return
	}
	var (
		st  int32
		err error
	)
	switch f.Type {
	case hostlink.TypeMessage:
		m, derr := abi.DecodeMessage(f.Body)
		if derr != nil {
			answer(hostlink.NotDelivered, 0, derr.Error())
			return
		}
		st, err = mod.Deliver(ctx, &m)
	case hostlink.TypeTick:
		t, derr := abi.DecodeTimer(f.Body)
		if derr != nil {
			answer(hostlink.NotDelivered, 0, derr.Error())
			return
		}
		st, err = mod.Tick(ctx, &t)
	default:
		answer(hostlink.NotDelivered, 0, "unknown request")
		return
	}
	if err != nil {
		answer(hostlink.Failed, 0, err.Error())
		return
	}
	answer(hostlink.Called, st, "")
}
