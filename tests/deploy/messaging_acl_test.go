package deploy

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/broker"
)

// The messaging namespaces (wire/messaging.go) under both brokers a fleet
// may use: deploy/mosquitto's ACL and the embedded broker's hook
// (control/auth) must grant the same.

type pwCreds map[string]string

func (c pwCreds) CredentialHash(_ context.Context, id string) ([]byte, error) {
	pw, ok := c[id]
	if !ok {
		return nil, errors.New("unknown device")
	}
	return auth.HashPassword(pw), nil
}

func startEmbedded(t *testing.T) string {
	t.Helper()
	b, err := broker.Start(broker.Config{
		Addr:            "127.0.0.1:0",
		Credentials:     pwCreds{"dev-a": "pw-dev-a", "dev-b": "pw-dev-b"},
		ControlPassword: "pw-" + auth.ControlUser,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return "tcp://" + b.DialAddr()
}

func TestMessagingACLEmbedded(t *testing.T) {
	messagingACL(t, startEmbedded(t), auth.ControlUser)
}

func TestMessagingACLMosquitto(t *testing.T) {
	messagingACL(t, startMosquitto(t), "edge-control")
}

// messagingACL: a device reads every device's module messages and its own
// inbox, publishes module messages under its own id only, and reaches no
// control topic through a messaging filter.
func messagingACL(t *testing.T, url, ctlUser string) {
	ctl, err := connect(t, url, ctlUser, ctlUser)
	if err != nil {
		t.Fatal(err)
	}
	a, err := connect(t, url, "dev-a", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := connect(t, url, "dev-b", "dev-b")
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want string) {
		t.Helper()
		select {
		case m := <-a.got:
			if got := m.Topic() + " " + string(m.Payload()); got != want {
				t.Errorf("dev-a received %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("dev-a did not receive %q", want)
		}
	}
	quiet := func() {
		t.Helper()
		select {
		case m := <-a.got:
			t.Errorf("dev-a received %s %q, which the ACL must not let through", m.Topic(), m.Payload())
		case <-time.After(500 * time.Millisecond):
		}
	}
	// Filters a device may use (the broker refuses or filters the rest;
	// Mosquitto accepts any subscription and checks each message).
	a.Subscribe("edge/v1/dev/+/app/#", 1, nil).WaitTimeout(5 * time.Second)
	a.Subscribe("edge/v1/dev/dev-a/in/#", 1, nil).WaitTimeout(5 * time.Second)
	a.Subscribe("edge/v1/dev/dev-b/in/#", 1, nil).WaitTimeout(5 * time.Second)
	a.Subscribe("edge/v1/dev/+/status", 1, nil).WaitTimeout(5 * time.Second)

	// Granted: another device's module messages, the own inbox.
	must(t, b.Publish("edge/v1/dev/dev-b/app/sensor/temp", 1, false, "21.5"))
	expect("edge/v1/dev/dev-b/app/sensor/temp 21.5")
	must(t, ctl.Publish("edge/v1/dev/dev-a/in/readings/t1", 1, false, "r1"))
	expect("edge/v1/dev/dev-a/in/readings/t1 r1")

	// Denied: another device's inbox; a device writing another's inbox or
	// forging module messages under another id; a device's control topic.
	must(t, ctl.Publish("edge/v1/dev/dev-b/in/readings/t1", 1, false, "for b"))
	// (At QoS 0: the embedded broker disconnects an MQTT 3.1.1 client
	// for a refused QoS 1 publish, Mosquitto drops it; the agent never
	// sends one, it checks the namespace first.)
	must(t, b.Publish("edge/v1/dev/dev-a/in/readings/t1", 0, false, "forged inbox"))
	must(t, b.Publish("edge/v1/dev/dev-a/app/sensor/temp", 0, false, "forged app"))
	must(t, b.Publish("edge/v1/dev/dev-b/status", 1, false, "status"))
	quiet()

	// The device's own module messages reach it (a module of one board
	// consumes another module's messages of the same board).
	must(t, a.Publish("edge/v1/dev/dev-a/app/telemetry/alerts", 1, false, "hot"))
	expect("edge/v1/dev/dev-a/app/telemetry/alerts hot")
}
