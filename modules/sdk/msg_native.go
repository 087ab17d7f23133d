//go:build !wasip1

package sdk

import (
	"errors"
	"sync"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// In a native build (tests, a module run as a plain Go server) nothing
// holds an MQTT session: Publish goes to the function SetNativePublisher
// installed (ErrUnavailable without one), and DeliverNative and
// TickNative call the handlers as the agent calls the guest's exports.

var native struct {
	mu  sync.Mutex
	pub func(topic string, payload []byte, qos byte, retain bool) error
}

// SetNativePublisher makes Publish call f in a native build; nil restores
// ErrUnavailable. Tests use it to see what a module publishes.
func SetNativePublisher(f func(topic string, payload []byte, qos byte, retain bool) error) {
	native.mu.Lock()
	defer native.mu.Unlock()
	native.pub = f
}

func publish(topic string, payload []byte, qos byte, retain bool) error {
	native.mu.Lock()
	f := native.pub
	native.mu.Unlock()
	switch {
	case qos > 1:
		return publishError(topic, abi.CodeBadRequest)
	case f == nil:
		return publishError(topic, abi.CodeUnavailable)
	}
	return f(topic, payload, qos, retain)
}

// ErrRetry is what DeliverNative and TickNative return when the guest
// export would have asked the host to retry (a handler's error or
// panic); ErrDrop when it would drop the message.
var ErrRetry = errors.New("edge: the handler failed; the host would retry")

// DeliverNative runs the handler of m.Filter as the agent runs the
// guest's edge_on_message: nil when the message is acknowledged, ErrDrop
// or ErrRetry otherwise. Attempt 0 counts as 1.
func DeliverNative(m *Message) error {
	if m.Attempt == 0 {
		m.Attempt = 1
	}
	return statusError(dispatchMessage(m))
}

// TickNative runs the handler of timer name as the agent runs
// edge_on_timer.
func TickNative(name string, scheduled time.Time, missed int) error {
	return statusError(dispatchTimer(&Tick{Name: name, Scheduled: scheduled, Missed: missed}))
}

func statusError(st int32) error {
	switch st {
	case abi.TriggerOK:
		return nil
	case abi.TriggerDrop:
		return ErrDrop
	}
	return ErrRetry
}
