package session

import (
	"context"
	"fmt"
	"maps"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// Module messaging over the agent's one session (the supervisor's Bus):
// modules publish through Publish and their subscriptions' messages go to
// the handler SetAppHandler installed. The filters are subscribed one at
// a time, so that a filter the broker's ACL refuses (SUBACK 0x80) is
// logged, named in AppDenied, and costs nothing else.

type appState struct {
	mu      sync.Mutex
	want    map[string]byte // filter → QoS
	denied  map[string]bool
	granted map[string]bool // subscribed on this connection
	handler func(topic string, payload []byte, qos byte, retained bool)
}

// SetAppHandler installs the handler of module messages. It is called on
// the session's delivery goroutine, in order; the broker gets its
// acknowledgement when it returns.
func (s *Session) SetAppHandler(h func(topic string, payload []byte, qos byte, retained bool)) {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	s.app.handler = h
}

// SetSubscriptions makes the session subscribed to exactly filters for
// modules: it subscribes the new ones and unsubscribes those no longer
// wanted now, if connected, and subscribes them all again at every
// connect.
func (s *Session) SetSubscriptions(filters map[string]byte) {
	s.app.mu.Lock()
	old := s.app.want
	s.app.want = maps.Clone(filters)
	s.app.mu.Unlock()
	if !s.client.IsConnectionOpen() {
		return
	}
	var gone []string
	for f := range old {
		if _, ok := filters[f]; !ok {
			gone = append(gone, f)
		}
	}
	if len(gone) > 0 {
		s.app.mu.Lock()
		for _, f := range gone {
			delete(s.app.granted, f)
			delete(s.app.denied, f)
		}
		s.app.mu.Unlock()
		tok := s.client.Unsubscribe(gone...)
		if !tok.WaitTimeout(s.cfg.PublishTimeout) || tok.Error() != nil {
			s.log.Warn("unsubscribe module filters", "filters", gone, "err", tok.Error())
		}
	}
	added := map[string]byte{}
	for f, q := range filters {
		if oq, ok := old[f]; !ok || oq != q {
			added[f] = q
		}
	}
	s.subscribeApp(added)
}

// AppDenied lists the module filters the broker refused.
func (s *Session) AppDenied() []string {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	var out []string
	for f := range s.app.denied {
		out = append(out, f)
	}
	return out
}

// AppSubscribed reports whether the broker granted the module filter f.
func (s *Session) AppSubscribed(f string) bool {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	return s.app.granted[f]
}

// subscribeApp subscribes filters one at a time (at connect: all wanted).
func (s *Session) subscribeApp(filters map[string]byte) {
	for f, q := range filters {
		tok := s.client.Subscribe(f, q, s.onAppMessage)
		ok := tok.WaitTimeout(s.cfg.PublishTimeout) && tok.Error() == nil
		code := byte(0)
		if st, isSub := tok.(*mqtt.SubscribeToken); ok && isSub {
			code = st.Result()[f]
		}
		s.app.mu.Lock()
		if s.app.denied == nil {
			s.app.denied, s.app.granted = map[string]bool{}, map[string]bool{}
		}
		denied := !ok || code == 0x80
		if denied {
			s.app.denied[f] = true
			delete(s.app.granted, f)
		} else {
			delete(s.app.denied, f)
			s.app.granted[f] = true
		}
		s.app.mu.Unlock()
		if denied {
			s.log.Warn("broker refused a module subscription (its ACL, or no answer)", "filter", f, "err", tok.Error())
		}
	}
}

// onAppMessage hands a module message to the handler.
func (s *Session) onAppMessage(_ mqtt.Client, msg mqtt.Message) {
	s.app.mu.Lock()
	h := s.app.handler
	s.app.mu.Unlock()
	if h != nil {
		h(msg.Topic(), msg.Payload(), msg.Qos(), msg.Retained())
	}
}

// onAnyMessage routes a message that arrived before its subscription's
// handler was registered in this process (a persistent session delivers
// what it queued right after the connect).
func (s *Session) onAnyMessage(c mqtt.Client, msg mqtt.Message) {
	if _, _, err := wire.ParseDeviceTopic(msg.Topic()); err == nil {
		s.onMessage(c, msg)
		return
	}
	s.onAppMessage(c, msg)
}

// Publish sends a module's message (already in its namespace) and waits,
// at QoS 1, for the broker's acknowledgement until ctx ends.
func (s *Session) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if err := wire.CheckPublish(topic, qos, len(payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	if !s.client.IsConnectionOpen() {
		return fmt.Errorf("publish %s: %w", topic, ErrNotConnected)
	}
	tok := s.client.Publish(topic, qos, retain, payload)
	if qos == 0 {
		return nil
	}
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}
