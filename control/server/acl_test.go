package server

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

func register(t *testing.T, s *Server, id string) string {
	t.Helper()
	var c wire.DeviceCredentials
	wantCode(t, "register "+id, call(t, s, "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: id}, &c), 201)
	return c.Password
}

func tryConnect(broker string, opts *paho.ClientOptions) (paho.Client, error) {
	c := paho.NewClient(opts)
	tok := c.Connect()
	tok.WaitTimeout(5 * time.Second)
	return c, tok.Error()
}

// TestEmbeddedAuth checks who may connect to the embedded broker.
func TestEmbeddedAuth(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	pwA := register(t, s, "a")
	register(t, s, "b")
	for _, tc := range []struct {
		name string
		opts *paho.ClientOptions
		ok   bool
	}{
		{"right password", dialOpts(broker, "a", pwA, "a"), true},
		{"wrong password", dialOpts(broker, "a", pwA+"x", "a"), false},
		{"no password", dialOpts(broker, "a", "", "a"), false},
		{"unregistered device", dialOpts(broker, "c", pwA, "c"), false},
		{"client id of another device", dialOpts(broker, "a", pwA, "b"), false},
		{"empty client id", dialOpts(broker, "a", pwA, ""), false},
		{"controller user", dialOpts(broker, "_edge-control", pwA, "_edge-control"), false},
		{"will on another device's desired topic", dialOpts(broker, "a", pwA, "a").SetWill(wire.DeviceTopic("b", wire.KindDesired), "x", 1, true), false},
		{"will on another device's status", dialOpts(broker, "a", pwA, "a").SetWill(wire.DeviceTopic("b", wire.KindStatus), "x", 1, true), false},
		{"will on own status", dialOpts(broker, "a", pwA, "a").SetWill(wire.DeviceTopic("a", wire.KindStatus), "x", 1, true), true},
	} {
		c, err := tryConnect(broker, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil {
			c.Disconnect(50)
		}
	}
}

// TestEmbeddedACL checks that device a can touch only its own topics.
func TestEmbeddedACL(t *testing.T) {
	s := startServer(t, nil)
	broker := "tcp://" + s.MQTTAddr()
	pwA := register(t, s, "a")
	register(t, s, "b")

	a, err := tryConnect(broker, dialOpts(broker, "a", pwA, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Disconnect(50)
	for _, tc := range []struct {
		filter string
		ok     bool
	}{
		{wire.DeviceTopic("a", wire.KindDesired), true},
		{wire.DeviceTopic("a", wire.KindChunks), true},
		{wire.DeviceTopic("a", wire.KindLogReq), true},
		{wire.DeviceTopic("a", wire.KindLogs), false},
		{wire.DeviceTopic("b", wire.KindLogReq), false},
		{wire.DeviceTopic("b", wire.KindLogs), false},
		{wire.DeviceWildcard(wire.KindLogs), false},
		{wire.DeviceTopic("b", wire.KindDesired), false},
		{wire.DeviceTopic("b", wire.KindChunks), false},
		{wire.DeviceTopic("b", wire.KindStatus), false},
		{wire.DeviceWildcard(wire.KindDesired), false},
		{"edge/v1/#", false},
		{"#", false},
	} {
		tok := a.Subscribe(tc.filter, 1, func(paho.Client, paho.Message) {})
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", tc.filter, tok.Error())
		}
		code := tok.(*paho.SubscribeToken).Result()[tc.filter]
		if got := code != 0x80; got != tc.ok {
			t.Errorf("subscribe %s: granted=%v (code %#x), want %v", tc.filter, got, code, tc.ok)
		}
	}

	// a's own status reaches the controller; a forged status of b does not.
	own, _ := json.Marshal(wire.Status{Device: "a", Online: true})
	a.Publish(wire.DeviceTopic("a", wire.KindStatus), 1, true, own).WaitTimeout(5 * time.Second)
	eventually(t, "a online", func() bool {
		var d wire.Device
		return call(t, s, "GET", "/api/v1/devices/a", nil, &d) == 200 && d.Online
	})
	forged, _ := json.Marshal(wire.Status{Device: "b", Online: true})
	a.Publish(wire.DeviceTopic("b", wire.KindStatus), 0, true, forged).WaitTimeout(5 * time.Second)
	// QoS 1 to a forbidden topic: MQTT 3.1.1 has no negative PUBACK, so the
	// broker disconnects the client.
	a.Publish(wire.DeviceTopic("b", wire.KindStatus), 1, true, forged).WaitTimeout(time.Second)
	eventually(t, "a disconnected", func() bool { return !a.IsConnectionOpen() })
	time.Sleep(200 * time.Millisecond)
	var b wire.Device
	wantCode(t, "get b", call(t, s, "GET", "/api/v1/devices/b", nil, &b), 200)
	if b.Online || b.Status != nil {
		t.Errorf("device b = %+v after a forged its status, want never seen", b)
	}
}

// TestAPIBadInput checks that bad requests are refused and change nothing.
func TestAPIBadInput(t *testing.T) {
	s := startServer(t, nil)
	blob := moduleBytes(10 << 10)
	sha := digest(blob)
	other := digest([]byte("other"))
	sg := newSigner(t)
	good := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{"x"}})
	noSig := good
	noSig.Signatures = nil
	badType := good
	badType.PayloadType = "text/plain"
	garbage := good
	garbage.Payload = []byte(`{"schema":1,"name":"orders"`)
	unknownBlob := sg.sign(t, "orders", "1.0.0", []byte("never uploaded"), wire.Targets{Nodes: []string{"x"}})
	noTargets := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{})

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		want         int
	}{
		{"blob sha mismatch", "PUT", "/api/v1/blobs/" + other, blob, 400},
		{"blob path not a digest", "PUT", "/api/v1/blobs/xyz", blob, 400},
		{"blob uppercase digest", "PUT", "/api/v1/blobs/" + strings.ToUpper(sha), blob, 400},
		{"blob empty", "PUT", "/api/v1/blobs/" + digest(nil), []byte{}, 400},
		{"blob oversize (length)", "PUT", "/api/v1/blobs/" + sha, make([]byte, wire.MaxModuleSize+1), 413},
		{"blob oversize (chunked)", "PUT", "/api/v1/blobs/" + sha, io.MultiReader(bytes.NewReader(make([]byte, wire.MaxModuleSize+1))), 413},
		{"deploy unknown blob", "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: unknownBlob}, 400},
		{"deploy malformed json", "POST", "/api/v1/deployments", []byte(`{"envelope":`), 400},
		{"deploy unsigned", "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: noSig}, 400},
		{"deploy wrong payload type", "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: badType}, 400},
		{"deploy garbage manifest", "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: garbage}, 400},
		{"device bad id", "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: "a/b"}, 400},
		{"device wildcard id", "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: "+"}, 400},
		{"unknown deployment", "GET", "/api/v1/deployments/nope", nil, 404},
		{"unknown device", "GET", "/api/v1/devices/nope", nil, 404},
		{"unknown endpoint", "GET", "/api/v1/nope", nil, 404},
	} {
		if got := call(t, s, tc.method, tc.path, tc.body, nil); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	var deps []wire.Deployment
	var devs []wire.Device
	call(t, s, "GET", "/api/v1/deployments", nil, &deps)
	call(t, s, "GET", "/api/v1/devices", nil, &devs)
	if len(deps) != 0 || len(devs) != 0 {
		t.Errorf("after bad input: deployments %v, devices %v, want none", deps, devs)
	}
	// Now upload for real; a manifest that targets nobody is still refused,
	// and so is one whose size disagrees with the blob.
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+sha, blob, nil), 201)
	m := wire.Manifest{Schema: wire.ManifestSchema, Name: "orders", Version: "1.0.0", SHA256: sha, Size: int64(len(blob)) + 1,
		Created: time.Now(), Expires: time.Now().Add(time.Hour), Targets: wire.Targets{Nodes: []string{"x"}}}
	wrongSize, err := wire.Sign(&m, sg.key)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "deploy size mismatch", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: *wrongSize}, nil), 400)
	wantCode(t, "deploy no targets", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: noTargets}, nil), 400)
	wantCode(t, "deploy good", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: good, AllowUnregistered: true}, nil), 201)
	wantCode(t, "healthz", call(t, s, "GET", "/healthz", nil, nil), 200)
	wantCode(t, "dashboard", call(t, s, "GET", "/", nil, nil), 200)
}
