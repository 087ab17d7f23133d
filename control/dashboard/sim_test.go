package dashboard_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/control/server"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// controller is the real edge-control, in process, on free ports, with its
// embedded broker.
type controller struct {
	t     *testing.T
	srv   *server.Server
	url   string
	token string       // the admin token of its first start
	hc    *http.Client // sends token
}

func startController(t *testing.T) *controller {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	s, err := server.Start(ctx, cfg, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatalf("start controller: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close controller: %v", err)
		}
	})
	return &controller{t: t, srv: s, url: "http://" + s.HTTPAddr(), token: s.NewAdminToken(), hc: harness.Client(s.NewAdminToken())}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// call makes an API request with a JSON body (unless nil) and decodes a
// 2xx JSON answer into out (unless nil); any other answer fails the test.
func (c *controller) call(method, path string, body io.Reader, out any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil && method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bytes.NewReader(b)
}

// register issues broker credentials for a device and returns its password.
func (c *controller) register(id string) string {
	c.t.Helper()
	var creds wire.DeviceCredentials
	c.call("POST", "/api/v1/devices", jsonBody(wire.DeviceCredentialsRequest{ID: id}), &creds)
	return creds.Password
}

// push uploads a module and deploys a signed manifest of it to the nodes,
// as edgectl push does.
func (c *controller) push(key ed25519.PrivateKey, name, version string, port int, nodes ...string) wire.Deployment {
	c.t.Helper()
	var d wire.Deployment
	c.call("POST", "/api/v1/deployments", jsonBody(wire.DeployRequest{Envelope: c.signed(key, name, version, port, 0, nodes...)}), &d)
	return d
}

// signed uploads a module's bytes and returns its manifest for the nodes,
// signed with key; an epoch above 0 makes it a rollback statement, as
// edgectl push --waves signs them.
func (c *controller) signed(key ed25519.PrivateKey, name, version string, port int, epoch uint64, nodes ...string) wire.Envelope {
	c.t.Helper()
	blob := []byte(fmt.Sprintf("\x00asm module %s %s", name, version))
	sum := sha256.Sum256(blob)
	sha := hex.EncodeToString(sum[:])
	c.call("PUT", "/api/v1/blobs/"+sha, bytes.NewReader(blob), nil)
	now := time.Now().UTC().Truncate(time.Second)
	m := &wire.Manifest{
		Schema: wire.ManifestSchema, Name: name, Version: version, SHA256: sha, Size: int64(len(blob)),
		Created: now, Expires: now.Add(24 * time.Hour), Targets: wire.Targets{Nodes: nodes}, Port: port,
		KeyID: wire.KeyID(key.Public().(ed25519.PublicKey)),
	}
	if epoch > 0 {
		m.Schema, m.Epoch = wire.ManifestSchemaEpoch, epoch
	}
	env, err := wire.Sign(m, key)
	if err != nil {
		c.t.Fatal(err)
	}
	return *env
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// simDevice is a real MQTT client speaking the agent's side of the wire
// protocol: it authenticates as the device, keeps a retained Status with a
// Last Will, reports events and metrics, and receives its desired state.
// Everything it sends is a wire type the controller parses with its strict
// parser, exactly as from edge-agent.
type simDevice struct {
	t      *testing.T
	id     string
	c      paho.Client
	desire chan wire.DesiredState

	mu       sync.Mutex
	status   wire.Status
	events   []wire.Event // newest first
	metrics  wire.Metrics
	logCalls int
}

func connectSim(t *testing.T, broker, id, password string, st wire.Status) *simDevice {
	t.Helper()
	d := &simDevice{t: t, id: id, desire: make(chan wire.DesiredState, 16), status: st}
	d.status.Device, d.status.Online = id, true
	will, _ := json.Marshal(wire.Status{Device: id, Online: false})
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(id).SetPassword(password).
		SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5*time.Second).
		SetWill(wire.DeviceTopic(id, wire.KindStatus), string(will), 1, true)
	d.c = paho.NewClient(opts)
	if tok := d.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(100) })
	tok := d.c.Subscribe(wire.DeviceTopic(id, wire.KindDesired), 1, func(_ paho.Client, m paho.Message) {
		var ds wire.DesiredState
		if len(m.Payload()) > 0 && wire.Decode(m.Payload(), &ds) == nil {
			select { // never block paho's handler: the client would stop reading
			case d.desire <- ds:
			default:
				select {
				case <-d.desire:
				default:
				}
				d.desire <- ds
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s subscribe: %v", id, tok.Error())
	}
	// Log requests are answered as the agent does. (A broker whose ACL
	// does not know the log topics refuses the subscription; the test's
	// front then serves the same batches itself.)
	tok = d.c.Subscribe(wire.DeviceTopic(id, wire.KindLogReq), 1, func(_ paho.Client, m paho.Message) {
		var req wire.LogRequest
		if wire.Decode(m.Payload(), &req) != nil || req.Validate() != nil {
			return
		}
		batch := d.logBatch(req)
		go func() { // never publish and wait inside paho's handler
			if err := d.send(wire.KindLogs, false, batch); err != nil {
				t.Errorf("device %s: answer log request: %v", id, err)
			}
		}()
	})
	tok.WaitTimeout(5 * time.Second)
	d.metrics = wire.Metrics{Device: id, Agent: wire.AgentMetrics{
		Start: time.Now().Add(-2 * time.Hour), Version: st.AgentVersion, Board: st.Board, Arch: st.Arch, Engine: st.Engine,
		RSSBytes: 11 << 20, PSSBytes: 6 << 20, CPUSeconds: 12.5, DiskFree: 3 << 30, DiskTotal: 8 << 30, Connected: true,
	}}
	d.publishStatus()
	return d
}

func (d *simDevice) publish(kind string, retained bool, v any) {
	d.t.Helper()
	if err := d.send(kind, retained, v); err != nil {
		d.t.Fatal(err)
	}
}

// send publishes v on one of the device's topics and waits for the broker.
func (d *simDevice) send(kind string, retained bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tok := d.c.Publish(wire.DeviceTopic(d.id, kind), 1, retained, b)
	if !tok.WaitTimeout(5 * time.Second) {
		return fmt.Errorf("device %s publish %s: no answer from the broker", d.id, kind)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("device %s publish %s: %w", d.id, kind, err)
	}
	return nil
}

// logBatch answers a log request: two fixed lines, then one line for each
// request so far, so that every refresh shows something new.
func (d *simDevice) logBatch(req wire.LogRequest) wire.LogBatch {
	d.mu.Lock()
	d.logCalls++
	n := d.logCalls
	d.mu.Unlock()
	b := wire.LogBatch{Device: d.id, ID: req.ID, Module: req.Module, Lines: []wire.LogLine{}}
	start := time.Now().Add(-time.Minute)
	lines := []wire.LogLine{
		{Time: start, Level: "INFO", Version: "1.0.0", Msg: "listening on :8080"},
		{Time: start.Add(time.Second), Level: "WARN", Version: "1.0.0", Msg: "slow query: 120 ms"},
	}
	for i := 1; i <= n; i++ {
		lines = append(lines, wire.LogLine{Time: start.Add(time.Duration(i+1) * time.Second), Level: "INFO", Version: "1.0.0",
			Msg: fmt.Sprintf("request served n=%d", i)})
	}
	max := req.Max
	if max == 0 {
		max = wire.MaxLogLines
	}
	for _, l := range lines {
		if !l.Time.After(req.Since) {
			continue
		}
		if len(b.Lines) == max {
			b.More = true
			break
		}
		b.Lines = append(b.Lines, l)
	}
	return b
}

func (d *simDevice) publishStatus() {
	d.mu.Lock()
	st := d.status
	st.Time = time.Now()
	d.mu.Unlock()
	d.publish(wire.KindStatus, true, st)
}

// waitDesired returns the first desired state of at least generation gen.
func (d *simDevice) waitDesired(gen int64) wire.DesiredState {
	d.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ds := <-d.desire:
			if ds.Generation >= gen {
				return ds
			}
		case <-timeout:
			d.t.Fatalf("device %s: no desired state of generation %d", d.id, gen)
		}
	}
}

func (d *simDevice) event(ev wire.Event) {
	ev.Device = d.id
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.mu.Lock()
	d.events = append([]wire.Event{ev}, d.events...)
	d.mu.Unlock()
	d.publish(wire.KindEvents, false, ev)
}

// Events returns the events sent, newest first.
func (d *simDevice) Events() []wire.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]wire.Event(nil), d.events...)
}

// serve goes through a deployment's steps to running, as an agent reports
// them, and then serves it.
func (d *simDevice) serve(dep wire.Deployment, port int) {
	for _, st := range []string{wire.StateFetching, wire.StateVerifying, wire.StateCompiling, wire.StateStarting, wire.StateProbing, wire.StateRunning} {
		d.event(wire.Event{Deployment: dep.ID, Module: dep.Module, Version: dep.Version, State: st, Millis: 40})
	}
	d.mu.Lock()
	d.status.Generation++
	d.status.Modules = []wire.ModuleStatus{{Name: dep.Module, Version: dep.Version, SHA256: dep.SHA256, State: wire.StateRunning,
		Port: port, Since: time.Now(), Deployment: dep.ID}}
	d.mu.Unlock()
	d.publishStatus()
}

// reject refuses a deployment with reason and keeps serving what it served.
func (d *simDevice) reject(dep wire.Deployment, reason string) {
	d.event(wire.Event{Deployment: dep.ID, Module: dep.Module, Version: dep.Version, State: wire.StateRejected, Reason: reason})
	d.mu.Lock()
	d.status.Generation++
	for i := range d.status.Modules {
		if d.status.Modules[i].Name == dep.Module {
			d.status.Modules[i].Attempt = &wire.ModuleAttempt{Version: dep.Version, SHA256: dep.SHA256, Deployment: dep.ID,
				State: wire.StateRejected, Reason: reason, Time: time.Now()}
		}
	}
	d.mu.Unlock()
	d.publishStatus()
}

// report sends a metrics report after requests more requests (of which
// errors answered 5xx) on every serving module.
func (d *simDevice) report(requests, errors uint64) wire.Metrics {
	d.mu.Lock()
	m := &d.metrics
	m.Seq++
	m.Time = time.Now()
	m.Agent.CPUSeconds += 0.2
	for _, s := range d.status.Modules {
		i := -1
		for j := range m.Modules {
			if m.Modules[j].Name == s.Name && m.Modules[j].Version == s.Version {
				i = j
			}
		}
		if i < 0 {
			m.Modules = append(m.Modules, wire.ModuleMetrics{Name: s.Name, Version: s.Version, Start: time.Now(),
				Latency: wire.NewHistogram(), Instances: 1, RSSBytes: 44 << 20, PSSBytes: 38 << 20})
			i = len(m.Modules) - 1
		}
		mm := &m.Modules[i]
		mm.Requests += requests
		mm.Responses2xx += requests - errors
		mm.Responses5xx += errors
		for range requests {
			mm.Latency.Observe(3 * time.Millisecond)
		}
	}
	out := *m
	out.Modules = append([]wire.ModuleMetrics(nil), m.Modules...)
	d.mu.Unlock()
	d.publish(wire.KindMetrics, false, out)
	return out
}

// shutdown stops as an agent does: it says it is offline (a clean
// disconnect suppresses the Last Will) and disconnects.
func (d *simDevice) shutdown() {
	d.publish(wire.KindStatus, true, wire.Status{Device: d.id, Online: false, Time: time.Now()})
	d.c.Disconnect(100)
}
