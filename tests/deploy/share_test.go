package deploy

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// TestMosquittoSharedSubscriptions: with deploy/mosquitto's configuration
// the controller's replicas (MQTT 3.1.1 clients) take device reports from
// a shared subscription ($share/edge-control/...), each report reaching
// one of them; a device's shared subscription to another device's topics
// gets nothing.
func TestMosquittoSharedSubscriptions(t *testing.T) {
	url := startMosquitto(t)
	filter := "$share/edge-control/" + wire.DeviceWildcard(wire.KindStatus)
	var replicas []*client
	for _, id := range []string{"edge-control-r1", "edge-control-r2"} {
		c, err := connect(t, url, "edge-control", id) // client id replaced by the username: see edge.acl
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, c)
	}
	// Both replicas under one username: the second takes the first's
	// session over (use_username_as_clientid), as edge.acl warns.
	select {
	case <-replicas[0].lost:
	case <-time.After(3 * time.Second):
		t.Fatal("two controllers with one username both stayed connected")
	}
	ctl := replicas[1]
	must(t, ctl.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { ctl.got <- m }))
	a, err := connect(t, url, "dev-a", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := connect(t, url, "dev-b", "dev-b")
	if err != nil {
		t.Fatal(err)
	}
	must(t, b.Subscribe("$share/x/"+wire.DeviceTopic("dev-a", wire.KindStatus), 1, nil))
	must(t, b.Subscribe("$share/x/"+wire.DeviceTopic("dev-a", wire.KindDesired), 1, nil))
	must(t, a.Publish(wire.DeviceTopic("dev-a", wire.KindStatus), 1, false, `{"device":"dev-a"}`))
	must(t, ctl.Publish(wire.DeviceTopic("dev-a", wire.KindDesired), 1, false, `{}`))
	select {
	case m := <-ctl.got:
		if m.Topic() != wire.DeviceTopic("dev-a", wire.KindStatus) {
			t.Errorf("controller got %s", m.Topic())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the controller's shared subscription received nothing")
	}
	select {
	case m := <-b.got:
		t.Errorf("dev-b's shared subscription received %s", m.Topic())
	case <-time.After(500 * time.Millisecond):
	}
}
