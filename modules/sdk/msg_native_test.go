//go:build !wasip1

package sdk

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNativeMessaging(t *testing.T) {
	type sent struct {
		topic, payload string
		qos            byte
		retain         bool
	}
	var got []sent
	SetNativePublisher(func(topic string, payload []byte, qos byte, retain bool) error {
		got = append(got, sent{topic, string(payload), qos, retain})
		return nil
	})
	t.Cleanup(func() { SetNativePublisher(nil) })

	const filter = "edge/v1/dev/{device}/in/readings/#"
	seen := map[uint64]bool{}
	HandleMessage(filter, func(m *Message) error {
		switch string(m.Payload) {
		case "bad":
			return fmt.Errorf("cannot parse: %w", ErrDrop)
		case "flaky":
			return errors.New("try again")
		case "panic":
			panic("boom")
		}
		if seen[m.ID] {
			return nil // idempotent
		}
		seen[m.ID] = true
		return Publish("echo", m.Payload, m.QoS)
	})
	for _, tc := range []struct {
		payload string
		want    error
	}{
		{"21.5", nil},
		{"bad", ErrDrop},
		{"flaky", ErrRetry},
		{"panic", ErrRetry},
	} {
		err := DeliverNative(&Message{ID: 1, Filter: filter, Topic: "edge/v1/dev/d/in/readings/t", Payload: []byte(tc.payload), QoS: 1})
		if !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("DeliverNative(%q) = %v, want %v", tc.payload, err, tc.want)
		}
	}
	if len(got) != 1 || got[0] != (sent{"echo", "21.5", 1, false}) {
		t.Errorf("published %+v, want one echo of 21.5 at QoS 1", got)
	}
	if err := DeliverNative(&Message{Filter: "other/#"}); !errors.Is(err, ErrDrop) {
		t.Errorf("a message without a handler: %v, want ErrDrop", err)
	}

	var ticks []Tick
	HandleTimer("sample", func(tk *Tick) error { ticks = append(ticks, *tk); return nil })
	at := time.UnixMilli(1_700_000_000_000)
	if err := TickNative("sample", at, 2); err != nil || len(ticks) != 1 || ticks[0].Missed != 2 || !ticks[0].Scheduled.Equal(at) {
		t.Errorf("TickNative: %v %+v", err, ticks)
	}
	if err := TickNative("nope", at, 0); !errors.Is(err, ErrRetry) {
		t.Errorf("a timer without a handler: %v, want ErrRetry", err)
	}

	SetNativePublisher(nil)
	if err := Publish("x", nil, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish without a publisher = %v, want ErrUnavailable", err)
	}
	if err := Publish("x", nil, 2); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Publish at QoS 2 = %v, want ErrBadRequest", err)
	}
}
