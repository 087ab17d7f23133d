package session

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// nextStatus waits for a status message on ch for which ok holds.
func nextStatus(t *testing.T, ch chan []byte, what string, ok func(*wire.Status) bool) wire.Status {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-ch:
			var st wire.Status
			if len(b) > 0 && json.Unmarshal(b, &st) == nil && ok(&st) {
				return st
			}
		case <-deadline:
			t.Fatalf("no status with %s", what)
		}
	}
}

// TestStatusFromFirstConnect: a session that never got a desired state nor
// a PublishStatus publishes the agent's labels, board, arch, version and
// engine on its first connect, and its Last Will carries them too. Before,
// both were bare ({device, online}), so a push by label reached no device.
func TestStatusFromFirstConnect(t *testing.T) {
	broker := startMochi(t)
	device := uniqueID("dev")
	ctl := controller(t, broker, false)
	status := watch(t, ctl, wire.DeviceTopic(device, wire.KindStatus))
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := wire.Status{AgentVersion: "1.2.3", Arch: "arm64", Board: "rpi4", Engine: "compiler", Labels: map[string]string{"site": "north"}}
	px := newProxy(t, broker)
	s, err := New(Config{Broker: px.URL(), Device: device, Password: "x", KeepAlive: time.Second, MaxReconnect: time.Second, Status: base},
		st.Outbox(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	defer s.Close()
	same := func(got *wire.Status) bool {
		return got.Labels["site"] == "north" && got.Board == "rpi4" && got.Arch == "arm64" && got.AgentVersion == "1.2.3" && got.Engine == "compiler"
	}
	nextStatus(t, status, "labels, online, at the first connect", func(st *wire.Status) bool { return st.Online && same(st) })

	// A status from the reconciler that names no labels keeps them.
	if err := s.PublishStatus(wire.Status{Generation: 4}); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, status, "generation 4 and the labels", func(st *wire.Status) bool { return st.Generation == 4 && same(st) })

	// The broker publishes the Will when the connection drops.
	px.cut()
	nextStatus(t, status, "the Will with the labels", func(st *wire.Status) bool { return !st.Online && same(st) })
}

type fakeLogs struct{ got chan wire.LogRequest }

func (f *fakeLogs) Answer(req wire.LogRequest) wire.LogBatch {
	f.got <- req
	return wire.LogBatch{Lines: []wire.LogLine{{Time: time.Unix(1, 0).UTC(), Level: "INFO", Msg: "hello " + req.Module}}}
}

// TestLogRequests: requests on the device's own logreq topic are answered
// on its logs topic; malformed ones and another device's are not.
func TestLogRequests(t *testing.T) {
	broker := startMochi(t)
	device := uniqueID("dev")
	ctl := controller(t, broker, false)
	answers := watch(t, ctl, wire.DeviceTopic(device, wire.KindLogs))
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Broker: broker, Device: device, Password: "x"}, st.Outbox(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeLogs{got: make(chan wire.LogRequest, 10)}
	s.SetLogSource(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	defer s.Close()
	for !s.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	topic := wire.DeviceTopic(device, wire.KindLogReq)
	for _, bad := range [][]byte{
		[]byte(`{"id":"x"`),                 // malformed
		[]byte(`{"id":""}`),                 // no id
		[]byte(`{"id":"x","max":100000}`),   // over MaxLogLines
		[]byte(`{"id":"x","module":"a/b"}`), // not a module name
		[]byte(`{"id":"x","id":"y"}`),       // a key twice
		make([]byte, maxLogRequestSize+1),   // too large
	} {
		publish(t, ctl, topic, false, bad)
	}
	other, _ := json.Marshal(wire.LogRequest{ID: "other"})
	publish(t, ctl, wire.DeviceTopic(uniqueID("dev"), wire.KindLogReq), false, other)
	good, _ := json.Marshal(wire.LogRequest{ID: "r1", Module: "orders", Max: 5})
	publish(t, ctl, topic, false, good)
	select {
	case b := <-answers:
		var batch wire.LogBatch
		if err := wire.Decode(b, &batch); err != nil || batch.ID != "r1" || batch.Device != device || len(batch.Lines) != 1 || batch.Lines[0].Msg != "hello orders" {
			t.Errorf("answer %s (%v)", b, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	if n := len(src.got); n != 1 {
		t.Errorf("the source was asked %d times, want once (bad and foreign requests dropped)", n)
	}
}
