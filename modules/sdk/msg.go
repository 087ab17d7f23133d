package sdk

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// Messaging and timers (ABI version 2). A module's signed manifest
// grants them; the host enforces the grant:
//
//	messaging.publish    topics under the module's namespace it may Publish to
//	messaging.subscribe  filters whose messages reach HandleMessage's handlers
//	timers               named intervals that call HandleTimer's handlers
//
// Handlers run like HTTP handlers: one at a time per instance, under the
// same deadline, with every host import (SQL, Publish, ...).

// Message is one MQTT message delivered to the module.
type Message struct {
	// ID is the same at every delivery of one message: handlers that
	// must not act twice remember it (delivery is at least once).
	ID       uint64
	Attempt  int    // 1 at the first delivery
	Filter   string // the manifest's filter that matched, as declared
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Tick is one call of a timer.
type Tick struct {
	Name      string
	Scheduled time.Time
	// Missed counts the ticks skipped since the last call: a timer never
	// overlaps itself, a late tick is skipped, not queued.
	Missed int
}

// ErrDrop, returned (or wrapped) by a message handler, makes the host
// drop the message at once as a dead letter instead of retrying it. Any
// other error (and a panic) is retried, at most 5 deliveries in all.
var ErrDrop = errors.New("edge: drop the message")

var triggers struct {
	mu       sync.Mutex
	messages map[string]func(*Message) error
	timers   map[string]func(*Tick) error
}

// HandleMessage calls h for each message on filter, which must be one of
// the manifest's messaging.subscribe filters exactly as declared
// ("edge/v1/dev/{device}/in/readings/#"). Call it from an init function.
// A later call for the same filter replaces h.
func HandleMessage(filter string, h func(*Message) error) {
	triggers.mu.Lock()
	defer triggers.mu.Unlock()
	if triggers.messages == nil {
		triggers.messages = map[string]func(*Message) error{}
	}
	triggers.messages[filter] = h
}

// HandleTimer calls h at each tick of the manifest's timer name. Call it
// from an init function.
func HandleTimer(name string, h func(*Tick) error) {
	triggers.mu.Lock()
	defer triggers.mu.Unlock()
	if triggers.timers == nil {
		triggers.timers = map[string]func(*Tick) error{}
	}
	triggers.timers[name] = h
}

// Publish sends payload to topic, relative to the module's namespace
// edge/v1/dev/{device}/app/{module}/ ("alerts/hot"), at QoS 0 or 1. At
// QoS 1 it returns once the broker acknowledged it. Errors match
// ErrDenied (topic not granted), ErrTooLarge, ErrLimited (over the
// module's rate), ErrUnavailable (no broker connection) and ErrTimeout.
func Publish(topic string, payload []byte, qos byte) error {
	return publish(topic, payload, qos, false)
}

// PublishRetained is Publish with the retain flag: the broker keeps the
// message as the topic's last value for later subscribers.
func PublishRetained(topic string, payload []byte, qos byte) error {
	return publish(topic, payload, qos, true)
}

func publishError(topic string, code abi.ErrorCode) error {
	if code == 0 {
		return nil
	}
	return &HostError{Op: "publish", Code: code, Message: topic}
}

// dispatchMessage runs the handler of m.Filter and returns the status for
// the host. A panic is a failure to retry, as it is a 500 for a request.
func dispatchMessage(m *Message) (status int32) {
	triggers.mu.Lock()
	h := triggers.messages[m.Filter]
	triggers.mu.Unlock()
	if h == nil {
		Log(LevelError, fmt.Sprintf("message on %s: no handler for filter %q (sdk.HandleMessage): dropped", m.Topic, m.Filter))
		return abi.TriggerDrop
	}
	defer func() {
		if p := recover(); p != nil {
			Log(LevelError, fmt.Sprintf("message %d on %s: panic: %v", m.ID, m.Topic, p))
			status = abi.TriggerRetry
		}
	}()
	switch err := h(m); {
	case err == nil:
		return abi.TriggerOK
	case errors.Is(err, ErrDrop):
		Log(LevelWarn, fmt.Sprintf("message %d on %s dropped: %v", m.ID, m.Topic, err))
		return abi.TriggerDrop
	default:
		Log(LevelWarn, fmt.Sprintf("message %d on %s (attempt %d) failed: %v", m.ID, m.Topic, m.Attempt, err))
		return abi.TriggerRetry
	}
}

// dispatchTimer runs the handler of t.Name.
func dispatchTimer(t *Tick) (status int32) {
	triggers.mu.Lock()
	h := triggers.timers[t.Name]
	triggers.mu.Unlock()
	if h == nil {
		Log(LevelError, fmt.Sprintf("timer %q: no handler (sdk.HandleTimer)", t.Name))
		return abi.TriggerRetry
	}
	defer func() {
		if p := recover(); p != nil {
			Log(LevelError, fmt.Sprintf("timer %s: panic: %v", t.Name, p))
			status = abi.TriggerRetry
		}
	}()
	if err := h(t); err != nil {
		Log(LevelWarn, fmt.Sprintf("timer %s failed: %v", t.Name, err))
		return abi.TriggerRetry
	}
	return abi.TriggerOK
}

func messageFromFrame(f *abi.Message) *Message {
	return &Message{ID: f.ID, Attempt: int(f.Attempt), Filter: f.Filter, Topic: f.Topic,
		Payload: f.Payload, QoS: f.QoS, Retained: f.Retain}
}

func tickFromFrame(f *abi.Timer) *Tick {
	return &Tick{Name: f.Name, Scheduled: time.UnixMilli(f.ScheduledMS), Missed: int(f.Missed)}
}
