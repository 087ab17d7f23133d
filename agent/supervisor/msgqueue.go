package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/wire"
)

// Delivery of MQTT messages to modules (docs/ABI.md, section 3.1). The
// session hands every message of a module subscription to Receive, which
// queues it for each module whose manifest filters match; one goroutine
// per module delivers its queue, in order and one at a time, to the
// version serving at that moment, and retries until the guest
// acknowledges or drops it or MaxAttempts failed. A worker that restarts
// or a version switched out before it answered costs no attempt: the
// message goes to whatever serves next, with the same id.
//
//	session ──Receive──▶ queue (QueueMessages, QueueBytes) ──▶ serving worker ──▶ edge_on_message
//	   ▲  full: wait QueueWait, then dead letter         ◀── ok / drop / retry (back-off)
//
// The queue is in memory: what the agent accepted from the broker (the
// broker's acknowledgement is given when Receive returns) is delivered at
// least once while the agent runs; an agent restart loses what was
// queued.
const (
	QueueMessages = 256
	QueueBytes    = 1 << 20
	QueueWait     = 250 * time.Millisecond
	MaxAttempts   = 5
	retryMin      = 100 * time.Millisecond
	retryMax      = 5 * time.Second
	relinkWait    = 50 * time.Millisecond // a worker restarting or not serving yet
)

// MsgStats counts a module's messaging since the agent started.
type MsgStats struct {
	Received  uint64 // messages queued for the module
	Delivered uint64 // acknowledged by the guest
	Retries   uint64 // failed deliveries retried
	Dead      uint64 // dead letters: dropped by the guest, out of attempts, queue full, module removed
	Published uint64 // messages its guests published
	Queued    int    // waiting now
}

type msgCounters struct {
	received, delivered, retries, dead, published atomic.Uint64
}

// msgStats returns the counters of version of module name, created on
// first use. A message counts for the version serving when it happened:
// the one it was delivered to, the one that published.
func (s *Supervisor) msgStats(name, version string) *msgCounters {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	key := name + "@" + version
	c := s.msgCount[key]
	if c == nil {
		c = &msgCounters{}
		s.msgCount[key] = c
	}
	return c
}

// servingVersion is the version of module name serving now, or "".
func (s *Supervisor) servingVersion(name string) string {
	if r := s.servingRunner(name); r != nil {
		return r.spec.m.Version
	}
	return ""
}

func (c *msgCounters) stats() MsgStats {
	return MsgStats{Received: c.received.Load(), Delivered: c.delivered.Load(), Retries: c.retries.Load(),
		Dead: c.dead.Load(), Published: c.published.Load()}
}

// VersionMessagingStats returns the messaging counters of one version.
func (s *Supervisor) VersionMessagingStats(name, version string) MsgStats {
	return s.msgStats(name, version).stats()
}

// MessagingStats returns the messaging counters of module name, all its
// versions together, and how many messages wait now.
func (s *Supervisor) MessagingStats(name string) MsgStats {
	var st MsgStats
	s.tmu.Lock()
	for key, c := range s.msgCount {
		if n, _, _ := strings.Cut(key, "@"); n == name {
			v := c.stats()
			st.Received += v.Received
			st.Delivered += v.Delivered
			st.Retries += v.Retries
			st.Dead += v.Dead
			st.Published += v.Published
		}
	}
	if mt := s.trig[name]; mt != nil {
		mt.q.mu.Lock()
		st.Queued = len(mt.q.items)
		mt.q.mu.Unlock()
	}
	s.tmu.Unlock()
	return st
}

type queued struct {
	msg      abi.Message
	attempts int // failed deliveries so far
}

// msgQueue is one module's bounded queue.
type msgQueue struct {
	mu    sync.Mutex
	items []*queued
	bytes int
	room  chan struct{} // closed and replaced when room frees
	wake  chan struct{} // cap 1: an item arrived
}

func newMsgQueue() *msgQueue {
	return &msgQueue{room: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (q *msgQueue) size(m *abi.Message) int { return len(m.Payload) + len(m.Topic) + 64 }

// put queues m, waiting up to wait for room; false: no room.
func (q *msgQueue) put(m abi.Message, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		if len(q.items) < QueueMessages && q.bytes+q.size(&m) <= QueueBytes {
			q.items = append(q.items, &queued{msg: m})
			q.bytes += q.size(&m)
			q.mu.Unlock()
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return true
		}
		room := q.room
		q.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		select {
		case <-room:
		case <-time.After(left):
		}
	}
}

// head returns the first item, or nil.
func (q *msgQueue) head() *queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// pop removes the first item.
func (q *msgQueue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bytes -= q.size(&q.items[0].msg)
	q.items[0] = nil
	q.items = q.items[1:]
	close(q.room)
	q.room = make(chan struct{})
}

// drain empties the queue and returns how many it held.
func (q *msgQueue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items, q.bytes = nil, 0
	return n
}

// Receive hands the session's message on topic to every module with a
// matching subscription. It returns once each has queued it, or waited
// QueueWait for room (then the message is a dead letter for that
// module): the broker's flow to this device slows meanwhile.
func (s *Supervisor) Receive(topic string, payload []byte, qos byte, retained bool) {
	if len(payload) > wire.MaxMessagePayload {
		s.log.Warn("module message over the payload limit: not delivered", "topic", topic, "bytes", len(payload))
		return
	}
	type target struct {
		mt     *modTriggers
		filter string
	}
	var targets []target
	s.tmu.Lock()
	for _, mt := range s.trig {
		for _, sub := range mt.subs {
			if wire.TopicMatches(wire.ExpandFilter(sub.Filter, s.cfg.Device), topic) {
				targets = append(targets, target{mt, sub.Filter})
				break
			}
		}
	}
	s.tmu.Unlock()
	for _, t := range targets {
		m := abi.Message{ID: s.msgBase | s.msgSeq.Add(1), Filter: t.filter, Topic: topic,
			Payload: payload, QoS: min(qos, 1), Retain: retained}
		c := s.msgStats(t.mt.name, s.servingVersion(t.mt.name))
		c.received.Add(1)
		if !t.mt.q.put(m, QueueWait) {
			c.dead.Add(1)
			s.log.Warn("module message queue full: message dropped", "module", t.mt.name, "topic", topic)
		}
	}
}

// deliverLoop delivers module name's queue until ctx ends.
func (s *Supervisor) deliverLoop(ctx context.Context, mt *modTriggers) {
	defer close(mt.qdone)
	for {
		it := mt.q.head()
		if it == nil {
			select {
			case <-mt.q.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		r := s.servingRunner(mt.name)
		var link *hostlink.Conn
		if r != nil {
			link = r.link()
		}
		if link == nil {
			if !sleepCtx(ctx, relinkWait) {
				return
			}
			continue
		}
		c := s.msgStats(mt.name, r.spec.m.Version)
		it.msg.Attempt = uint32(it.attempts + 1)
		o, status, err := deliverOnce(ctx, link, r.spec.wcfg.Deadline()+2*time.Second, &it.msg)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil || o == hostlink.NotDelivered:
			// The worker went away or is not serving: no attempt used.
			if !sleepCtx(ctx, relinkWait) {
				return
			}
			continue
		case o == hostlink.Called && status == abi.TriggerOK:
			c.delivered.Add(1)
			mt.q.pop()
			continue
		case o == hostlink.Called && status == abi.TriggerDrop:
			c.dead.Add(1)
			mt.q.pop()
			continue
		}
		it.attempts++
		if it.attempts >= MaxAttempts {
			c.dead.Add(1)
			s.log.Warn("module message dead after its last attempt", "module", mt.name, "topic", it.msg.Topic,
				"id", it.msg.ID, "attempts", it.attempts)
			mt.q.pop()
			continue
		}
		c.retries.Add(1)
		if !sleepCtx(ctx, min(retryMax, retryMin<<(it.attempts-1))) {
			return
		}
	}
}

// deliverOnce hands m to the worker on link and waits for the outcome.
func deliverOnce(ctx context.Context, link *hostlink.Conn, timeout time.Duration, m *abi.Message) (hostlink.Outcome, int32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f, err := link.Call(ctx, hostlink.TypeMessage, abi.AppendMessage(nil, m))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return hostlink.Failed, 0, nil // the watchdog ends such a worker
		}
		return 0, 0, err
	}
	o, st, _, err := hostlink.DecodeOutcome(f.Body)
	return o, st, err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
