package deploy

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/wire"
)

// The MQTT access matrix of issue 12: for every ordered pair of devices
// (actor, owner) and every kind of topic, what the actor may read and
// write, on the embedded broker (control/auth) and on Mosquitto with the
// shipped ACL (deploy/mosquitto), through exact topics, wildcards, $SYS,
// shared subscriptions, retained messages, Last Wills and client-id
// takeover. A leak is a message that reaches a client the policy below
// does not allow, or a forged message that reaches anyone; the test
// counts them and wants 0. Messages the policy allows must arrive, so a
// broker that delivers nothing does not pass.

var matrixDevices = []string{"dev-a", "dev-b"}

// topicKinds are every kind of per-device topic, the messaging
// namespaces (with a sub-topic) and a kind no rule names.
var topicKinds = []string{
	wire.KindDesired, wire.KindChunks, wire.KindStatus, wire.KindEvents, wire.KindMetrics,
	wire.KindFetch, wire.KindLogReq, wire.KindLogs, "app/mod/t", "in/sub/t", "nosuch",
}

// mayRead and mayWrite are the policy, written out apart from
// control/auth so the test does not check the code against itself.
func mayRead(user, topic string) bool {
	own := "edge/v1/dev/" + user + "/"
	switch {
	case topic == own+wire.KindDesired, topic == own+wire.KindChunks, topic == own+wire.KindLogReq:
		return true
	case strings.HasPrefix(topic, own+"in/"):
		return true
	}
	// Every device's module messages.
	id, rest, ok := strings.Cut(strings.TrimPrefix(topic, "edge/v1/dev/"), "/")
	return ok && strings.HasPrefix(topic, "edge/v1/dev/") && id != "" && strings.HasPrefix(rest, "app/")
}

func mayWrite(user, topic string) bool {
	own := "edge/v1/dev/" + user + "/"
	for _, k := range []string{wire.KindStatus, wire.KindEvents, wire.KindMetrics, wire.KindFetch, wire.KindLogs} {
		if topic == own+k {
			return true
		}
	}
	return strings.HasPrefix(topic, own+"app/")
}

// readFilters are the subscriptions an actor tries, owner standing for the
// other device.
func readFilters(actor, owner string) []string {
	f := []string{"#", "+/#", "edge/#", "edge/v1/#", "edge/v1/dev/#", "edge/v1/dev/+/+", "edge/v1/dev/+/#",
		"+/+/+/+/+", "+/+/+/+/+/+/+", "$SYS/#", "$SYS/broker/clients/connected", "$share/g/#", "$share/g/edge/v1/dev/+/+",
		"$share/g/edge/v1/dev/" + owner + "/desired", "$share/" + actor + "/edge/v1/dev/" + owner + "/#",
		"edge/v1/dev/" + owner + "/#", "edge/v1/dev/" + owner + "/+", "edge/v1/dev/+/desired", "edge/v1/dev/+/status",
		"edge/v1/dev/" + actor + "/#", "edge/v1/dev/+/in/#", "edge/v1/dev/" + owner + "/in/#", "edge/v1/dev/+/app/#"}
	for _, k := range topicKinds {
		f = append(f, "edge/v1/dev/"+owner+"/"+k, "edge/v1/dev/"+actor+"/"+k)
	}
	return f
}

func TestAccessMatrixEmbedded(t *testing.T) {
	accessMatrix(t, startEmbedded(t), auth.ControlUser, true)
}

func TestAccessMatrixMosquitto(t *testing.T) {
	// $SYS every second (10 s by default), so the matrix sees it flow.
	accessMatrix(t, startMosquitto(t, "sys_interval 1"), "edge-control", false)
}

// matrixClient is a connected client recording what it receives.
type matrixClient struct {
	mqtt.Client
	user string
	mu   sync.Mutex
	got  []mqtt.Message
	lost chan error
}

func (c *matrixClient) received() []mqtt.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]mqtt.Message(nil), c.got...)
}

func (c *matrixClient) has(topic, payload string) bool {
	for _, m := range c.received() {
		if m.Topic() == topic && string(m.Payload()) == payload {
			return true
		}
	}
	return false
}

func matrixConnect(t *testing.T, brokerURL, user, clientID string) (*matrixClient, error) {
	t.Helper()
	c := &matrixClient{user: user, lost: make(chan error, 1)}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetUsername(user).SetPassword("pw-" + user).
		SetClientID(clientID).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		}).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.mu.Lock()
			c.got = append(c.got, m)
			c.mu.Unlock()
		})
	c.Client = mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s as %s: %v", user, clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

// waitFor waits until c has received topic/payload.
func waitFor(t *testing.T, c *matrixClient, topic, payload string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if c.has(topic, payload) {
			return
		}
	}
	t.Fatalf("%s did not receive %s %q (the policy allows it)", c.user, topic, payload)
}

func accessMatrix(t *testing.T, brokerURL, ctlUser string, embedded bool) {
	ctl, err := matrixConnect(t, brokerURL, ctlUser, ctlUser)
	if err != nil {
		t.Fatal(err)
	}
	// The controller observes every topic of the fleet.
	must(t, ctl.Subscribe("edge/v1/#", 1, nil))
	devs := map[string]*matrixClient{}
	for _, d := range matrixDevices {
		if devs[d], err = matrixConnect(t, brokerURL, d, d); err != nil {
			t.Fatal(err)
		}
	}
	leaks, checked := 0, 0
	leak := func(format string, args ...any) {
		t.Helper()
		leaks++
		t.Errorf("LEAK: "+format, args...)
	}

	// Reads. Retained first (delivered at subscription), then live.
	for _, owner := range matrixDevices {
		for _, k := range topicKinds {
			topic := "edge/v1/dev/" + owner + "/" + k
			must(t, ctl.Publish(topic, 1, true, "retained "+topic))
		}
	}
	subscribed := map[string][]string{} // actor → filters the broker granted
	for _, actor := range matrixDevices {
		for _, owner := range matrixDevices {
			if owner == actor {
				continue
			}
			for _, f := range readFilters(actor, owner) {
				tok := devs[actor].Subscribe(f, 1, nil)
				if !tok.WaitTimeout(5 * time.Second) {
					t.Fatalf("%s subscribe %s: no SUBACK", actor, f)
				}
				st, ok := tok.(*mqtt.SubscribeToken)
				if !ok || tok.Error() != nil {
					continue
				}
				// One filter per SUBSCRIBE; paho keys its code by the
				// filter without a $share/GROUP/ prefix.
				if code := firstCode(st.Result()); code < 0x80 {
					subscribed[actor] = append(subscribed[actor], f)
				}
			}
		}
	}
	for _, owner := range matrixDevices {
		for _, k := range topicKinds {
			topic := "edge/v1/dev/" + owner + "/" + k
			must(t, ctl.Publish(topic, 1, false, "live "+topic))
		}
	}
	// Markers each device may read (its own desired state, the other's
	// module messages) arrive after everything above.
	for _, actor := range matrixDevices {
		must(t, ctl.Publish("edge/v1/dev/"+actor+"/desired", 1, false, "marker"))
	}
	for _, actor := range matrixDevices {
		waitFor(t, devs[actor], "edge/v1/dev/"+actor+"/desired", "marker")
	}
	// Both brokers publish $SYS every second: long enough for some to
	// flow to whoever may read it.
	time.Sleep(2500 * time.Millisecond)
	for _, actor := range matrixDevices {
		for _, owner := range matrixDevices {
			for _, k := range topicKinds {
				topic := "edge/v1/dev/" + owner + "/" + k
				if mayRead(actor, topic) {
					// Allowed ones arrive: the matrix is not passed by a
					// broker that delivers nothing.
					waitFor(t, devs[actor], topic, "live "+topic)
				}
			}
		}
		for _, m := range devs[actor].received() {
			checked++
			if !mayRead(actor, m.Topic()) {
				leak("%s read %s %q", actor, m.Topic(), m.Payload())
			}
		}
		for _, f := range subscribed[actor] {
			if strings.HasPrefix(f, "$SYS") {
				// Mosquitto grants every subscription and checks each
				// message on delivery; what counts is what arrives
				// (nothing from $SYS, checked above).
				t.Logf("%s: subscription to %s granted", actor, f)
			}
		}
	}

	// Writes: each device publishes on every topic of both devices (QoS 0:
	// the embedded broker disconnects an MQTT 3.1.1 client for a refused
	// QoS 1 publish), then a marker on its own status.
	for _, actor := range matrixDevices {
		c := devs[actor]
		for _, owner := range matrixDevices {
			for _, k := range topicKinds {
				topic := "edge/v1/dev/" + owner + "/" + k
				c.Publish(topic, 0, false, "forged by "+actor).WaitTimeout(5 * time.Second)
			}
		}
		c.Publish("$SYS/broker/version", 0, false, "forged by "+actor).WaitTimeout(5 * time.Second)
		must(t, c.Publish("edge/v1/dev/"+actor+"/status", 1, false, "marker "+actor))
		waitFor(t, ctl, "edge/v1/dev/"+actor+"/status", "marker "+actor)
	}
	time.Sleep(300 * time.Millisecond)
	for _, actor := range matrixDevices {
		for _, owner := range matrixDevices {
			for _, k := range topicKinds {
				topic := "edge/v1/dev/" + owner + "/" + k
				if mayWrite(actor, topic) {
					waitFor(t, ctl, topic, "forged by "+actor)
				}
			}
		}
	}
	for _, m := range ctl.received() {
		checked++
		if by, ok := strings.CutPrefix(string(m.Payload()), "forged by "); ok && !mayWrite(by, m.Topic()) {
			leak("%s wrote %s: the controller received it", by, m.Topic())
		}
	}
	for _, d := range matrixDevices {
		for _, m := range devs[d].received() {
			if by, ok := strings.CutPrefix(string(m.Payload()), "forged by "); ok && !mayWrite(by, m.Topic()) {
				leak("%s wrote %s: %s received it", by, m.Topic(), d)
			}
		}
	}

	// A device's second connection takes over its first (the client id is
	// the username on both brokers): each phase below starts from fresh
	// connections, subscribed to their own desired state.
	reconnect := func() {
		t.Helper()
		for _, d := range matrixDevices {
			devs[d].Disconnect(50)
			if devs[d], err = matrixConnect(t, brokerURL, d, d); err != nil {
				t.Fatal(err)
			}
			must(t, devs[d].Subscribe("edge/v1/dev/"+d+"/desired", 1, nil))
		}
	}

	// Last Will on the other device's topics, over a raw connection
	// closed without DISCONNECT (so the broker publishes the will if it
	// accepted it).
	reconnect()
	for _, actor := range matrixDevices {
		for _, owner := range matrixDevices {
			if owner == actor {
				continue
			}
			for _, k := range []string{wire.KindStatus, wire.KindDesired, wire.KindChunks} {
				topic := "edge/v1/dev/" + owner + "/" + k
				rc := rawConnect(t, brokerURL, actor, actor, "pw-"+actor, topic, "will of "+actor)
				t.Logf("%s connecting with a will on %s: CONNACK code %d", actor, topic, rc)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range []*matrixClient{ctl, devs[matrixDevices[0]], devs[matrixDevices[1]]} {
		for _, m := range c.received() {
			checked++
			if by, ok := strings.CutPrefix(string(m.Payload()), "will of "); ok {
				leak("%s's will on %s reached %s", by, m.Topic(), c.user)
			}
		}
	}

	// Client-id takeover: the actor with the owner's client id (with its
	// own password), the owner's username without a password or with the
	// actor's: the owner keeps its session every time.
	for _, actor := range matrixDevices {
		for _, owner := range matrixDevices {
			if owner == actor {
				continue
			}
			reconnect()
			if imp, err := matrixConnect(t, brokerURL, actor, owner); err == nil {
				if embedded {
					leak("%s connected with %s's client id", actor, owner)
				}
				imp.Disconnect(50)
			}
			for _, pw := range []string{"", "pw-" + actor} {
				if rc := rawConnect(t, brokerURL, owner, owner, pw, "", ""); rc == 0 {
					leak("%s connected as %s with password %q", actor, owner, pw)
				}
			}
			select {
			case err := <-devs[owner].lost:
				leak("%s lost its session when %s used its client id: %v", owner, actor, err)
			case <-time.After(300 * time.Millisecond):
			}
			must(t, ctl.Publish("edge/v1/dev/"+owner+"/desired", 1, false, "after takeover by "+actor))
			waitFor(t, devs[owner], "edge/v1/dev/"+owner+"/desired", "after takeover by "+actor)
		}
	}
	for _, d := range matrixDevices {
		for _, k := range topicKinds {
			ctl.Publish("edge/v1/dev/"+d+"/"+k, 1, true, "").WaitTimeout(5 * time.Second)
		}
	}
	t.Logf("%d devices × %d topic kinds × read (%d filters each, retained and live) and write, wills, client-id takeover: %d messages checked, %d leaks",
		len(matrixDevices), len(topicKinds), len(readFilters("a", "b")), checked, leaks)
}

func firstCode(m map[string]byte) byte {
	for _, c := range m {
		return c
	}
	return 0x80
}

// rawConnect sends an MQTT 3.1.1 CONNECT as user with password (none if
// "") and, when willTopic is set, a will; it reads the CONNACK and closes
// the connection without DISCONNECT (so an accepted will is published). It
// returns the CONNACK's return code (-1: none).
func rawConnect(t *testing.T, brokerURL, user, clientID, password, willTopic, will string) int {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	str := func(b []byte, s string) []byte { return append(append(b, byte(len(s)>>8), byte(len(s))), s...) }
	flags := byte(0x02 | 0x80) // clean session, username
	payload := str(nil, clientID)
	if willTopic != "" {
		flags |= 0x04 // will, QoS 0
		payload = str(payload, willTopic)
		payload = str(payload, will)
	}
	payload = str(payload, user)
	if password != "" {
		flags |= 0x40
		payload = str(payload, password)
	}
	body := append(str(nil, "MQTT"), 4, flags, 0, 30)
	body = append(body, payload...)
	pkt := []byte{0x10}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append(pkt, body...)); err != nil {
		return -1
	}
	ack := make([]byte, 4)
	if _, err := bufio.NewReader(conn).Read(ack); err != nil || ack[0] != 0x20 {
		return -1
	}
	return int(ack[3])
}
