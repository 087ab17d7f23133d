package e2e

import (
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

var controlHTTP = regexp.MustCompile(`http on (http://[0-9.:]+)`)

// TestMosquitto is the main path against the machine's Mosquitto
// (EDGE_TEST_MQTT, anonymous): edge-control on the external broker, one
// agent on the same broker, push 1.0.0, the seed workflow, push 1.1.0.
// The device and client ids are unique per run so that retained messages
// and sessions of earlier runs cannot interfere; the test removes the ones
// it created.
func TestMosquitto(t *testing.T) {
	broker := os.Getenv("EDGE_TEST_MQTT")
	if broker == "" {
		t.Skip("EDGE_TEST_MQTT not set (e.g. tcp://127.0.0.1:1883, anonymous); skipping the Mosquitto test")
	}
	run := fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102t150405.000000"), os.Getpid())
	device := "e2e-mq-" + run
	controlID := "edge-control-e2e-" + run
	// Registered first, so it runs last, once the programs have stopped.
	t.Cleanup(func() { cleanBroker(t, broker, run, device, controlID) })

	ctlData := t.TempDir()
	ctl, line := start(t, controlReady, nil, bin(t, "edge-control"),
		"--data", ctlData, "--http", "127.0.0.1:0", "--broker", broker, "--client-id", controlID)
	m := controlHTTP.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot parse edge-control ready line %q", line)
	}
	harness.ControlToken(t, ctlData, m[1])
	f := &fleet{control: m[1], ctl: ctl, keyDir: t.TempDir()}
	if out, errOut, code := edgectl(t, "keygen", "--out", f.keyDir, "--force"); code != 0 {
		t.Fatalf("edgectl keygen = %d\n%s%s", code, out, errOut)
	}

	// The controller registers the device as usual; anonymous Mosquitto
	// accepts the password it hands out like any other.
	args := f.device(t, device)
	for i := range args[:len(args)-1] {
		if args[i] == "--broker" {
			args[i+1] = broker
		}
	}
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)

	wasm := bin(t, "orders.wasm")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	began := time.Now()
	if out, _, code := f.push(t, wasm, "1.0.0", device, port); code != 0 {
		t.Fatalf("push 1.0.0 over %s = %d\n%s", broker, code, out)
	}
	t.Logf("push 1.0.0 over %s: running after %v", broker, time.Since(began).Round(time.Millisecond))
	runWorkflow(t, base, seedWorkflow(t))
	seeded := getOrders(t, base)

	began = time.Now()
	if out, _, code := f.push(t, wasm, "1.1.0", device, port); code != 0 {
		t.Fatalf("push 1.1.0 over %s = %d\n%s", broker, code, out)
	}
	t.Logf("push 1.1.0 over %s: running after %v", broker, time.Since(began).Round(time.Millisecond))
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after 1.1.0 /orders = %q, want %q", got, seeded)
	}
}

// cleanBroker removes what a run left on the shared broker: the persistent
// sessions of the controller and the agent (client ids controlID and
// device), then the device's retained desired state and status.
func cleanBroker(t *testing.T, broker, run, device, controlID string) {
	connect := func(id string) (mqtt.Client, error) {
		opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(15 * time.Second) {
			return nil, fmt.Errorf("connect as %s: timeout", id)
		}
		return c, tok.Error()
	}
	// Connecting with a clean session discards the stored one.
	for _, id := range []string{controlID, device} {
		c, err := connect(id)
		if err != nil {
			t.Errorf("clean the broker session of %s: %v", id, err)
			continue
		}
		c.Disconnect(250)
	}
	c, err := connect("edge-e2e-cleanup-" + run)
	if err != nil {
		t.Errorf("clean retained messages of %s: %v", device, err)
		return
	}
	defer c.Disconnect(250)
	for _, kind := range []string{wire.KindDesired, wire.KindStatus} {
		topic := wire.DeviceTopic(device, kind)
		tok := c.Publish(topic, 1, true, []byte{})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Errorf("clear retained %s: %v", topic, tok.Error())
		}
	}
}
