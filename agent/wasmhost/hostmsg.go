package wasmhost

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/wire"
	"github.com/tetratelabs/wazero/api"
)

// Publisher sends what a guest publishes (msg_publish). In a worker it is
// the link to the supervisor, which holds the agent's MQTT session.
type Publisher interface {
	// Publish sends payload to topic, relative to the module's namespace
	// (edge/v1/dev/{id}/app/{module}/), waiting for the broker's
	// acknowledgement at QoS 1 until ctx ends. It returns 0 or the code to
	// answer the guest with.
	Publish(ctx context.Context, topic string, payload []byte, qos uint8, retain bool) abi.ErrorCode
}

// PublishPolicy is a module's grant to publish, from its signed manifest.
type PublishPolicy struct {
	Allow      []string // filters relative to the namespace; empty: nothing
	Rate       int      // publishes per second, bursts of twice that; 0: wire.DefaultPublishRate
	MaxPayload int      // bytes; 0: wire.DefaultMaxPayload
}

// publishGate enforces a PublishPolicy: the allow-list, the payload size
// and the rate (a token bucket shared by the module's instances).
type publishGate struct {
	policy PublishPolicy
	pub    Publisher

	mu     sync.Mutex
	tokens float64
	last   time.Time

	sent, refused atomic.Uint64
}

func newPublishGate(p PublishPolicy, pub Publisher) *publishGate {
	if p.Rate <= 0 {
		p.Rate = wire.DefaultPublishRate
	}
	if p.MaxPayload <= 0 {
		p.MaxPayload = wire.DefaultMaxPayload
	}
	return &publishGate{policy: p, pub: pub, tokens: 2 * float64(p.Rate), last: time.Now()}
}

// allowed reports whether topic is on the allow-list.
func (g *publishGate) allowed(topic string) bool {
	if wire.ValidateTopic(topic) != nil {
		return false
	}
	for _, f := range g.policy.Allow {
		if wire.TopicMatches(f, topic) {
			return true
		}
	}
	return false
}

// take takes one publish from the bucket.
func (g *publishGate) take(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	rate := float64(g.policy.Rate)
	g.tokens = min(2*rate, g.tokens+now.Sub(g.last).Seconds()*rate)
	g.last = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

// check returns the code refusing r, or 0. The rate is taken last, so a
// refused publish costs no token.
func (g *publishGate) check(r *abi.PublishRequest) abi.ErrorCode {
	switch {
	case !g.allowed(r.Topic):
		return abi.CodeDenied
	case len(r.Payload) > g.policy.MaxPayload:
		return abi.CodeTooLarge
	case r.QoS > 1:
		return abi.CodeBadRequest
	case g.pub == nil:
		return abi.CodeUnavailable
	case !g.take(time.Now()):
		return abi.CodeLimited
	}
	return 0
}

// hostMsgPublish: msg_publish(reqPtr, reqLen) i32.
func (h *hostEnv) hostMsgPublish(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	st := enter(ctx)
	frame, ok := read(m, ptr, n)
	if !ok {
		stack[0] = i32(abi.ErrMemory)
		return
	}
	if len(frame) > h.limits.MaxResultBytes {
		stack[0] = i32(abi.ErrTooLarge)
		return
	}
	req, err := abi.DecodePublishRequest(frame) // copies: nothing aliases guest memory
	if err != nil {
		stack[0] = i32(abi.ErrMalformed)
		return
	}
	code := h.publish(st, &req)
	if code != 0 {
		h.pub.refused.Add(1)
		h.log.Debug("publish refused", "topic", req.Topic, "bytes", len(req.Payload), "code", code.String())
	} else {
		h.pub.sent.Add(1)
	}
	stack[0] = i32(int32(code))
}

func (h *hostEnv) publish(st *callState, r *abi.PublishRequest) abi.ErrorCode {
	if st == nil {
		return abi.CodeDenied // from _initialize: no capabilities
	}
	if code := h.pub.check(r); code != 0 {
		return code
	}
	return h.pub.pub.Publish(st.io, r.Topic, r.Payload, r.QoS, r.Retain)
}
