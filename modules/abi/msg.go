package abi

// Messaging and timers (version 2).
//
// Import:
//
//	msg_publish(reqPtr, reqLen i32) i32   PublishRequest frame → 0, an
//	                                      ErrorCode (> 0) or an Err* (< 0)
//
// Exports the host calls when the manifest declares a trigger; each gets
// a frame in a buffer from edge_alloc, as edge_handle does, and returns a
// Trigger* status:
//
//	edge_on_message(ptr, len i32) i32     Message frame
//	edge_on_timer(ptr, len i32) i32       Timer frame
const (
	FnMsgPublish    = "msg_publish"
	ExportOnMessage = "edge_on_message"
	ExportOnTimer   = "edge_on_timer"
)

// CodeLimited is msg_publish's answer over the module's publish rate:
// nothing was sent; retry later.
const CodeLimited ErrorCode = 8

// Status a trigger export returns.
const (
	TriggerOK    int32 = 0 // handled: the message is acknowledged
	TriggerRetry int32 = 1 // failed: deliver it again later (any unknown value too)
	TriggerDrop  int32 = 2 // never deliver it again: counted as a dead letter
)

// PublishRequest asks the host to publish one message in the module's
// namespace (msg_publish).
type PublishRequest struct {
	Topic   string // relative to the module's namespace: "alerts/hot"
	Payload []byte
	QoS     uint8 // 0 or 1
	Retain  bool
}

// Message is one MQTT message delivered to edge_on_message.
type Message struct {
	// ID is the same at every delivery of one message the agent accepted
	// (retries, another instance, a restarted worker, the other version
	// during a switch): a guest makes its handling idempotent with it.
	ID      uint64
	Attempt uint32 // 1 at the first delivery
	Filter  string // the manifest's filter that matched, as declared ("{device}" kept)
	Topic   string
	Payload []byte
	QoS     uint8
	Retain  bool // a retained message the broker sent at subscribe
}

// Timer is one tick of a declared timer delivered to edge_on_timer.
type Timer struct {
	Name        string
	ScheduledMS int64  // Unix milliseconds of the tick
	Missed      uint32 // ticks skipped since the last call (the guest was still busy, or late)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func (d *decoder) bool(what string) bool {
	switch v := d.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(what + " not 0 or 1")
	return false
}

func (d *decoder) qos() uint8 {
	q := d.u8("qos")
	if q > 1 {
		d.fail("qos over 1")
	}
	return q
}

// AppendPublishRequest appends the encoding of r to b.
func AppendPublishRequest(b []byte, r *PublishRequest) []byte {
	b = appendString(b, r.Topic)
	b = appendBytes(b, r.Payload)
	b = append(b, r.QoS)
	return appendBool(b, r.Retain)
}

// DecodePublishRequest decodes a PublishRequest frame.
func DecodePublishRequest(b []byte) (PublishRequest, error) {
	d := decoder{b: b}
	r := PublishRequest{Topic: d.str("topic"), Payload: d.bytes("payload"), QoS: d.qos(), Retain: d.bool("retain")}
	return r, d.finish()
}

// AppendMessage appends the encoding of m to b.
func AppendMessage(b []byte, m *Message) []byte {
	b = appendU64(b, m.ID)
	b = appendU32(b, m.Attempt)
	b = appendString(b, m.Filter)
	b = appendString(b, m.Topic)
	b = appendBytes(b, m.Payload)
	b = append(b, m.QoS)
	return appendBool(b, m.Retain)
}

// DecodeMessage decodes a Message frame.
func DecodeMessage(b []byte) (Message, error) {
	d := decoder{b: b}
	m := Message{ID: d.u64("id"), Attempt: d.u32("attempt"), Filter: d.str("filter"), Topic: d.str("topic"),
		Payload: d.bytes("payload"), QoS: d.qos(), Retain: d.bool("retain")}
	return m, d.finish()
}

// AppendTimer appends the encoding of t to b.
func AppendTimer(b []byte, t *Timer) []byte {
	b = appendString(b, t.Name)
	b = appendU64(b, uint64(t.ScheduledMS))
	return appendU32(b, t.Missed)
}

// DecodeTimer decodes a Timer frame.
func DecodeTimer(b []byte) (Timer, error) {
	d := decoder{b: b}
	t := Timer{Name: d.str("name"), ScheduledMS: int64(d.u64("scheduled")), Missed: d.u32("missed")}
	return t, d.finish()
}
