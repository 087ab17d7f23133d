package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// TestEmbedded runs the whole controller path against the embedded broker.
func TestEmbedded(t *testing.T) {
	s := startServer(t, nil)
	id := uniqueID("dev")
	var creds wire.DeviceCredentials
	wantCode(t, "register device", call(t, s, "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: id}, &creds), 201)
	if creds.ID != id || creds.Password == "" {
		t.Fatalf("credentials = %+v, want id %s and a password", creds, id)
	}
	scenario(t, s, "tcp://"+s.MQTTAddr(), id, creds.Password)
}

// TestMosquitto runs the same path against the machine's Mosquitto
// (anonymous), when EDGE_TEST_MQTT names it.
func TestMosquitto(t *testing.T) {
	broker := os.Getenv("EDGE_TEST_MQTT")
	if broker == "" {
		t.Skip("EDGE_TEST_MQTT not set (e.g. tcp://127.0.0.1:1883): skipping the external broker test")
	}
	s := startServer(t, func(c *Config) {
		c.Broker = broker
		c.ClientID = uniqueID("edge-control-test")
		c.CleanSession = true
	})
	scenario(t, s, broker, uniqueID("dev"), "")
}

// scenario: a device comes online, a module is uploaded and deployed, the
// device gets its desired state, fetches and checks every chunk, reports
// progress; then a second version replaces the first; bad input changes
// nothing.
func scenario(t *testing.T, s *Server, broker, id, password string) {
	ghost := id + "-ghost" // listed, never seen
	dev := connectDevice(t, broker, id, password)
	site := uniqueID("site")
	t.Cleanup(func() { clearRetained(t, broker, id, ghost) })

	dev.publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Time: time.Now(), Arch: "amd64", Engine: "compiler", Labels: map[string]string{"site": site}})
	eventually(t, "device online", func() bool {
		var d wire.Device
		return call(t, s, "GET", "/api/v1/devices/"+id, nil, &d) == 200 && d.Online && d.Status != nil && d.Status.Labels["site"] == site
	})

	// Upload: 201 new, 200 known.
	blob := moduleBytes(300 << 10)
	sha := digest(blob)
	var ref wire.BlobRef
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+sha, blob, &ref), 201)
	wantCode(t, "put blob again", call(t, s, "PUT", "/api/v1/blobs/"+sha, blob, nil), 200)
	if err := ref.Validate(); err != nil || ref.SHA256 != sha || ref.Size != int64(len(blob)) || len(ref.Chunks) < 2 {
		t.Fatalf("blob ref %+v (err %v): want valid, sha %s, size %d, several chunks", ref, err, sha, len(blob))
	}

	// Deploy to the device by id.
	sg := newSigner(t)
	env := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{id}})
	var dep wire.Deployment
	wantCode(t, "deploy", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, &dep), 201)
	if dep.Module != "orders" || dep.Version != "1.0.0" || dep.SHA256 != sha || dep.Done ||
		len(dep.Devices) != 1 || dep.Devices[0].Device != id || dep.Devices[0].State != "pending" {
		t.Fatalf("deployment = %+v, want orders 1.0.0 pending on %s", dep, id)
	}

	ds := dev.nextDesired(1)
	if ds.Device != id || ds.Generation != 1 || len(ds.Modules) != 1 {
		t.Fatalf("desired = %+v, want generation 1 with one module", ds)
	}
	m := ds.Modules[0]
	if m.Deployment != dep.ID || m.Envelope.PayloadType != env.PayloadType || !bytes.Equal(m.Envelope.Payload, env.Payload) ||
		len(m.Envelope.Signatures) != 1 || !bytes.Equal(m.Envelope.Signatures[0].Sig, env.Signatures[0].Sig) {
		t.Fatalf("desired module does not carry the signed envelope unchanged: %+v", m)
	}
	if _, err := wire.NewKeyring(sg.pub).Verify(&m.Envelope, time.Now()); err != nil {
		t.Fatalf("envelope from desired state does not verify: %v", err)
	}

	// Fetch every chunk (in two requests, one with a duplicate), reassemble, check.
	got := fetchAll(t, dev, m.Blob)
	if digest(got) != sha {
		t.Fatalf("reassembled module sha256 %s, want %s", digest(got), sha)
	}

	// Progress through events; running makes the deployment done.
	for _, st := range []string{wire.StateFetching, wire.StateVerifying, wire.StateCompiling, wire.StateStarting, wire.StateProbing} {
		dev.publish(wire.KindEvents, false, wire.Event{Device: id, Deployment: dep.ID, Module: "orders", Version: "1.0.0", State: st, Time: time.Now()})
	}
	waitState(t, s, dep.ID, id, wire.StateProbing)
	dev.publish(wire.KindEvents, false, wire.Event{Device: id, Deployment: dep.ID, Module: "orders", Version: "1.0.0", State: wire.StateRunning, Time: time.Now()})
	d := waitState(t, s, dep.ID, id, wire.StateRunning)
	if !d.Done {
		t.Fatalf("deployment %+v: running everywhere but not done", d)
	}
	// A late duplicate of an earlier step does not reopen it.
	dev.publish(wire.KindEvents, false, wire.Event{Device: id, Deployment: dep.ID, Module: "orders", Version: "1.0.0", State: wire.StateFetching})

	// Bad input, each of which must change nothing.
	before := snapshot(t, s, dep.ID, id)
	dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: digest([]byte("unknown")), Indices: []int{0}})
	dev.noChunk("fetch of an unknown blob")
	dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: sha, Indices: []int{0, len(ref.Chunks)}})
	dev.noChunk("fetch with an index out of range")
	dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: sha, Indices: []int{-1}})
	dev.noChunk("fetch with a negative index")
	dev.publish(wire.KindFetch, false, []byte(`{"sha256": 12`))
	dev.noChunk("malformed fetch")
	dev.publish(wire.KindStatus, false, []byte(`{"device": "`+id+`", "online": fals`))
	dev.publish(wire.KindEvents, false, []byte(`not json`))
	dev.publish(wire.KindEvents, false, wire.Event{Device: id, Deployment: dep.ID, State: "exploded"})
	dev.publish(wire.KindEvents, false, wire.Event{Device: "someone-else", Deployment: dep.ID, State: wire.StateFailed})
	dev.publish(wire.KindMetrics, false, []byte(`[1,2,3]`))
	time.Sleep(300 * time.Millisecond)
	if after := snapshot(t, s, dep.ID, id); after != before {
		t.Fatalf("bad input changed state:\nbefore %s\nafter  %s", before, after)
	}

	// Version 1.0.1 by label plus a node never seen: replaces the module.
	blob2 := moduleBytes(100 << 10)
	wantCode(t, "put blob 2", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob2), blob2, nil), 201)
	env2 := sg.sign(t, "orders", "1.0.1", blob2, wire.Targets{Nodes: []string{ghost}, Labels: map[string]string{"site": site}})
	var dep2 wire.Deployment
	if code, msg := callErr(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env2}); code != 400 || !strings.Contains(msg, ghost+" never registered") {
		t.Fatalf("deploy to a node never registered = %d %q, want 400 naming %s", code, msg, ghost)
	}
	wantCode(t, "deploy 2", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env2, AllowUnregistered: true}, &dep2), 201)
	if n := len(dep2.Devices); n != 2 || dep2.Devices[0].Device != id || dep2.Devices[1].Device != ghost {
		t.Fatalf("deployment 2 devices = %+v, want %s and %s", dep2.Devices, id, ghost)
	}
	ds2 := dev.nextDesired(2)
	if ds2.Generation != 2 || len(ds2.Modules) != 1 || ds2.Modules[0].Deployment != dep2.ID || ds2.Modules[0].Blob.SHA256 != digest(blob2) {
		t.Fatalf("desired 2 = %+v, want generation 2 with orders replaced by 1.0.1", ds2)
	}
	// Level-triggered progress from the retained status, and a rejection
	// reason from an event.
	dev.publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Generation: 2, Labels: map[string]string{"site": site},
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", SHA256: sha, State: wire.StateRunning, Deployment: dep.ID}}})
	dev.publish(wire.KindEvents, false, wire.Event{Device: id, Deployment: dep2.ID, Module: "orders", Version: "1.0.1", State: wire.StateRejected, Reason: "signed by an untrusted key"})
	d2 := waitState(t, s, dep2.ID, id, wire.StateRejected)
	if d2.Devices[0].Reason != "signed by an untrusted key" || d2.Devices[1].State != "pending" || d2.Done {
		t.Fatalf("deployment 2 = %+v, want rejection reason kept, ghost pending, not done", d2)
	}
	var list []wire.Deployment
	wantCode(t, "list deployments", call(t, s, "GET", "/api/v1/deployments", nil, &list), 200)
	if len(list) != 2 || list[0].ID != dep2.ID || list[1].ID != dep.ID {
		t.Fatalf("deployments = %+v, want newest first", list)
	}

	// The Last Will marks the device offline. An agent's will carries its
	// labels, board and version (registered at connect, before any
	// desired state) but no modules: the modules last reported are kept.
	dev.c.Disconnect(0)
	will, _ := json.Marshal(wire.Status{Device: id, Online: false, AgentVersion: "9.9.9", Labels: map[string]string{"site": site}})
	forceClose(t, broker, id, password, string(will))
	eventually(t, "device offline after its will, labels and modules kept", func() bool {
		var d wire.Device
		return call(t, s, "GET", "/api/v1/devices/"+id, nil, &d) == 200 && !d.Online && d.Status != nil && d.Status.Labels["site"] == site &&
			len(d.Status.Modules) == 1 && d.Status.Modules[0].Version == "1.0.0" && d.Status.Generation == 2 && d.Status.AgentVersion == "9.9.9"
	})
	// A bare will (an agent of before labels in the will) keeps the
	// labels too.
	forceClose(t, broker, id, password, `{"device":"`+id+`","online":false}`)
	time.Sleep(300 * time.Millisecond)
	var dv wire.Device
	if call(t, s, "GET", "/api/v1/devices/"+id, nil, &dv) != 200 || dv.Online || dv.Status == nil || dv.Status.Labels["site"] != site || len(dv.Status.Modules) != 1 {
		t.Errorf("after a bare will: %+v", dv)
	}
}

// forceClose makes the broker send a device's Last Will: a clean
// disconnect discards it, so connect again under the same id and drop the
// connection without DISCONNECT.
func forceClose(t *testing.T, broker, id, password, will string) {
	t.Helper()
	c := paho.NewClient(dialOpts(broker, id, password, id).SetWill(wire.DeviceTopic(id, wire.KindStatus), will, 1, true).SetKeepAlive(1 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reconnect %s: %v", id, tok.Error())
	}
	// Taking over the session with a second connection under the same
	// client id makes the broker drop the first one uncleanly, which
	// publishes its will; then leave cleanly.
	c2 := paho.NewClient(dialOpts(broker, id, password, id))
	if tok := c2.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("take over %s: %v", id, tok.Error())
	}
	c2.Disconnect(100)
	c.Disconnect(0)
}

func fetchAll(t *testing.T, dev *device, ref wire.BlobRef) []byte {
	t.Helper()
	if err := ref.Validate(); err != nil {
		t.Fatalf("blob ref in desired state: %v", err)
	}
	n := len(ref.Chunks)
	first := []int{0, 0}
	var rest []int
	for i := 1; i < n; i++ {
		rest = append(rest, i)
	}
	dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: ref.SHA256, Indices: first})
	if len(rest) > 0 {
		dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: ref.SHA256, Indices: rest})
	}
	parts := make([][]byte, n)
	for have := 0; have < n; {
		select {
		case frame := <-dev.chunks:
			c, err := wire.DecodeChunk(frame)
			if err != nil {
				t.Fatalf("chunk frame: %v", err)
			}
			if err := ref.CheckChunk(&c); err != nil {
				t.Fatalf("chunk %d: %v", c.Index, err)
			}
			if parts[c.Index] != nil {
				t.Fatalf("chunk %d sent twice", c.Index)
			}
			parts[c.Index] = c.Data
			have++
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for chunks")
		}
	}
	enc := bytes.Join(parts, nil)
	if int64(len(enc)) != ref.Stored {
		t.Fatalf("stored bytes %d, want %d", len(enc), ref.Stored)
	}
	zr, err := gzip.NewReader(bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, wire.MaxModuleSize+1))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if int64(len(raw)) != ref.Size {
		t.Fatalf("module size %d, want %d", len(raw), ref.Size)
	}
	return raw
}

func waitState(t *testing.T, s *Server, depID, id, state string) wire.Deployment {
	t.Helper()
	var d wire.Deployment
	eventually(t, "device "+id+" "+state+" in "+depID, func() bool {
		d = wire.Deployment{}
		if call(t, s, "GET", "/api/v1/deployments/"+depID, nil, &d) != 200 {
			return false
		}
		i := slices.IndexFunc(d.Devices, func(x wire.DeploymentDevice) bool { return x.Device == id })
		return i >= 0 && d.Devices[i].State == state
	})
	return d
}

// snapshot returns the API's view of a deployment and a device, without
// the last-seen time.
func snapshot(t *testing.T, s *Server, depID, id string) string {
	t.Helper()
	var d wire.Deployment
	var dev wire.Device
	call(t, s, "GET", "/api/v1/deployments/"+depID, nil, &d)
	call(t, s, "GET", "/api/v1/devices/"+id, nil, &dev)
	dev.LastSeen = time.Time{}
	return jsonString(d) + " " + jsonString(dev)
}

// clearRetained removes the retained messages a test left on a broker.
func clearRetained(t *testing.T, broker string, ids ...string) {
	if broker == "" || os.Getenv("EDGE_TEST_MQTT") != broker {
		return // the embedded broker dies with the test
	}
	c := paho.NewClient(dialOpts(broker, "", "", uniqueID("cleanup")))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("cleanup connect: %v", tok.Error())
		return
	}
	defer c.Disconnect(100)
	for _, id := range ids {
		for _, kind := range []string{wire.KindDesired, wire.KindStatus} {
			c.Publish(wire.DeviceTopic(id, kind), 1, true, []byte{}).WaitTimeout(5 * time.Second)
		}
	}
}

// TestRetainedStatusesCaughtUp: on an external broker the controller
// takes statuses through a shared subscription ($share/...), and relies on
// the broker handing it the retained ones when it subscribes: a status (or
// a Last Will) published while no controller was connected, before a
// start or during a restart, must still be read. Mosquitto does this for
// the controller's MQTT 3.1.1 session; a broker that did not would leave
// such a device unknown, or listed online after it had gone.
func TestRetainedStatusesCaughtUp(t *testing.T) {
	broker := os.Getenv("EDGE_TEST_MQTT")
	if broker == "" {
		t.Skip("EDGE_TEST_MQTT not set (e.g. tcp://127.0.0.1:1883): skipping the external broker test")
	}
	id := uniqueID("dev")
	t.Cleanup(func() { clearRetained(t, broker, id) })
	dev := connectDevice(t, broker, id, "")
	dev.publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Time: time.Now(), Arch: "amd64", Engine: "compiler"})
	dev.c.Disconnect(250)

	s := startServer(t, func(c *Config) {
		c.Broker = broker
		c.ClientID = uniqueID("edge-control-test")
		c.CleanSession = true
	})
	eventually(t, "the status published before the controller started", func() bool {
		var d wire.Device
		return call(t, s, "GET", "/api/v1/devices/"+id, nil, &d) == 200 && d.Online && d.Status != nil && d.Status.Arch == "amd64"
	})
}
