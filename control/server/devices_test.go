package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// lostOnce makes d report the end of its connection on the returned
// channel. connectDevice's client does not reconnect by itself.
func watchLost(d *device) <-chan struct{} {
	lost := make(chan struct{})
	go func() {
		for d.c.IsConnectionOpen() {
			time.Sleep(10 * time.Millisecond)
		}
		close(lost)
	}()
	return lost
}

func waitLost(t *testing.T, what string, lost <-chan struct{}) {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the device's session is still open", what)
	}
}

// TestDeviceAddTwice: registering an id again is refused (409) with a
// message pointing at rotate, and the running device keeps its password.
// Before, a second registration silently replaced the password and locked
// the agent out.
func TestDeviceAddTwice(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	pw := register(t, s, "pi-1")
	code, msg := callErr(t, s, "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: "pi-1"})
	if code != 409 || !strings.Contains(msg, "edgectl device rotate pi-1") {
		t.Errorf("second registration: %d %q, want 409 pointing at rotate", code, msg)
	}
	c, err := tryConnect(broker, dialOpts(broker, "pi-1", pw, "pi-1"))
	if err != nil {
		t.Fatalf("the first password after a refused second registration: %v", err)
	}
	c.Disconnect(50)
}

// TestDeviceRotate: a new password; the old one is refused at once and the
// live session (which proved the old one) is closed.
func TestDeviceRotate(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	old := register(t, s, "pi-1")
	d := connectDevice(t, broker, "pi-1", old)
	lost := watchLost(d)
	online := func() bool {
		var dev wire.Device
		wantCode(t, "device", call(t, s, "GET", "/api/v1/devices/pi-1", nil, &dev), 200)
		return dev.Online
	}
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: time.Now().UTC()})
	for deadline := time.Now().Add(10 * time.Second); !online(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("pi-1 not online after its status")
		}
	}

	var cr wire.DeviceCredentials
	wantCode(t, "rotate", call(t, s, "POST", "/api/v1/devices/pi-1/rotate", nil, &cr), 200)
	if cr.ID != "pi-1" || cr.Password == "" || cr.Password == old {
		t.Fatalf("rotate answered %+v", cr)
	}
	waitLost(t, "after rotate", lost)
	// Its session was closed without its Last Will: the inventory must
	// not go on showing the locked-out device online.
	if online() {
		t.Error("pi-1 still listed online after rotate closed its session")
	}
	if c, err := tryConnect(broker, dialOpts(broker, "pi-1", old, "pi-1")); err == nil {
		c.Disconnect(50)
		t.Error("the old password still connects after rotate")
	}
	c, err := tryConnect(broker, dialOpts(broker, "pi-1", cr.Password, "pi-1"))
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}
	c.Disconnect(50)

	// Bad input tried by hand: an unknown device, an invalid id.
	if code, msg := callErr(t, s, "POST", "/api/v1/devices/pi-9/rotate", nil); code != 404 || !strings.Contains(msg, "pi-9 is not registered") {
		t.Errorf("rotate an unknown device: %d %q, want 404", code, msg)
	}
	if code, _ := callErr(t, s, "POST", "/api/v1/devices/_edge-control/rotate", nil); code != 400 {
		t.Errorf("rotate the controller's user: %d, want 400", code)
	}
}

// TestDeviceRemove: the device's credentials are revoked, its live
// session closed (without its Last Will bringing it back), its retained
// desired state and status cleared, and it leaves the inventory; what it
// still sends is dropped. Registered again under the same id, it starts
// clean, with desired generations above the ones it saw.
func TestDeviceRemove(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	pw := register(t, s, "pi-1")
	register(t, s, "pi-2")
	d := connectDevice(t, broker, "pi-1", pw)
	d.publish(wire.KindStatus, true, wire.Status{Device: "pi-1", Online: true, Time: time.Now()})
	sg := newSigner(t)
	deployTo(t, s, sg, "1.0.0", moduleBytes(1000), "pi-1", "pi-2")
	gen := d.nextDesired(1).Generation
	eventually(t, "pi-1's status", func() bool {
		var dev wire.Device
		return call(t, s, "GET", "/api/v1/devices/pi-1", nil, &dev) == 200 && dev.Online
	})
	lost := watchLost(d)

	var rm wire.DeviceRemoval
	wantCode(t, "remove", call(t, s, "DELETE", "/api/v1/devices/pi-1", nil, &rm), 200)
	if !rm.SessionClosed || len(rm.Cleared) != 2 {
		t.Errorf("removal: %+v, want the session closed and 2 topics cleared", rm)
	}
	waitLost(t, "after remove", lost)
	if c, err := tryConnect(broker, dialOpts(broker, "pi-1", pw, "pi-1")); err == nil {
		c.Disconnect(50)
		t.Error("the removed device reconnected")
	}
	// No Last Will, no late report brings it back.
	s.fleet.HandleMessage(wire.DeviceTopic("pi-1", wire.KindStatus), []byte(`{"device":"pi-1","online":true}`))
	time.Sleep(200 * time.Millisecond)
	if code, _ := callErr(t, s, "GET", "/api/v1/devices/pi-1", nil); code != 404 {
		t.Errorf("removed device: GET %d, want 404", code)
	}
	var devs []wire.Device
	wantCode(t, "list", call(t, s, "GET", "/api/v1/devices", nil, &devs), 200)
	if len(devs) != 1 || devs[0].ID != "pi-2" {
		t.Errorf("inventory after removal: %+v, want pi-2 only", devs)
	}
	if code, _ := callErr(t, s, "DELETE", "/api/v1/devices/pi-1", nil); code != 404 {
		t.Errorf("remove twice: %d, want 404", code)
	}
	if code, _ := callErr(t, s, "DELETE", "/api/v1/devices/_edge-control", nil); code != 400 {
		t.Errorf("remove an invalid id: %d, want 400", code)
	}

	// Registered again: nothing retained replays (no desired state, no
	// status), and the next desired state continues the generations.
	pw2 := register(t, s, "pi-1")
	retained := make(chan paho.Message, 4)
	c, err := tryConnect(broker, dialOpts(broker, "pi-1", pw2, "pi-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(50)
	tok := c.Subscribe(wire.DeviceTopic("pi-1", wire.KindDesired), 1, func(_ paho.Client, m paho.Message) { offer(retained, m) })
	tok.WaitTimeout(5 * time.Second)
	select {
	case m := <-retained:
		t.Errorf("re-registered device got a retained desired state: %q", m.Payload())
	case <-time.After(500 * time.Millisecond):
	}
	wantCode(t, "status of the re-registered device", call(t, s, "GET", "/api/v1/devices/pi-1", nil, nil), 200)
	d2 := connectDevice(t, broker, "pi-1", pw2)
	deployTo(t, s, sg, "1.1.0", moduleBytes(1001), "pi-1")
	if ds := d2.nextDesired(gen + 1); ds.Generation <= gen || len(ds.Modules) != 1 {
		b, _ := json.Marshal(ds)
		t.Errorf("after re-registration: %s, want generation above %d with one module", b, gen)
	}
}
