package edgectl

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func TestPushRunning(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub,
		[]string{"pending"},
		[]string{wire.StateFetching, "pending"},
		[]string{wire.StateCompiling},
		[]string{wire.StateRunning, wire.StateProbing},
		[]string{wire.StateRunning},
	)
	mod := testModule(t, "orders.wasm")
	code, stdout, stderr := run(t, "push", mod, "--key", key, "--version", "1.4.0", "--control", f.srv.URL,
		"--node", "pi-1", "--node", "pi-2", "--label", "site=lyon", "--db", "sqlite", "--port", "8081",
		"--probe", "/healthz", "--http-allow", "api.example.com:443", "--config", "greeting=hi", "--config", "empty=",
		"--memory-pages", "512", "--deadline", "250ms", "--pool", "3")
	if code != ExitOK {
		t.Fatalf("push: exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"pi-1: pending", "pi-1: fetching", "pi-1: compiling", "pi-1: running", "pi-2: probing", "pi-2: running", "deployment d-1 created"} {
		if !strings.Contains(stderr, want+"\n") {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "pi-1: compiling"); n != 1 {
		t.Errorf("stderr shows pi-1: compiling %d times, want once (one line per change)", n)
	}
	if !strings.Contains(stdout, "2 running") {
		t.Errorf("stdout = %q, want a summary with 2 running", stdout)
	}

	m := f.manifest
	module, _ := os.ReadFile(mod)
	if got := f.blobs[m.SHA256]; string(got) != string(module) {
		t.Errorf("stored blob differs from the module")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", m.Name, "orders"},
		{"size", m.Size, int64(len(module))},
		{"nodes", strings.Join(m.Targets.Nodes, ","), "pi-1,pi-2"},
		{"labels", m.Targets.Labels["site"], "lyon"},
		{"db", m.Bindings.DB, "sqlite"},
		{"port", m.Port, 8081},
		{"probe", m.Probe.Path, "/healthz"},
		{"http allow", strings.Join(m.Capabilities.HTTPAllow, ","), "api.example.com:443"},
		{"config", m.Config["greeting"], "hi"},
		{"empty config", len(m.Config), 2},
		{"memory pages", m.Limits.MemoryPages, uint32(512)},
		{"deadline", m.Limits.DeadlineMS, int64(250)},
		{"pool", m.Limits.Pool, 3},
		{"key id", m.KeyID, wire.KeyID(pub)},
		{"validity", m.Expires.Sub(m.Created).Hours(), 720.0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("manifest %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestPushMessaging: the messaging flags make a schema 3 manifest.
func TestPushMessaging(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	code, _, stderr := run(t, "push", testModule(t, "telemetry.wasm"), "--key", key, "--version", "1.0.0", "--control", f.srv.URL,
		"--node", "pi-1", "--port", "8082", "--publish", "alerts/#", "--publish", "summary",
		"--subscribe", "edge/v1/dev/{device}/in/readings/#", "--subscribe-qos0", "edge/v1/dev/+/app/sensor/temp",
		"--publish-rate", "50", "--publish-max", "2048", "--timer", "sample=1s", "--timer", "flush=1m")
	if code != ExitOK {
		t.Fatalf("push: exit %d\n%s", code, stderr)
	}
	m := f.manifest
	want := wire.Messaging{Publish: []string{"alerts/#", "summary"}, Rate: 50, MaxPayload: 2048, Subscribe: []wire.Subscription{
		{Filter: "edge/v1/dev/{device}/in/readings/#", QoS: 1}, {Filter: "edge/v1/dev/+/app/sensor/temp"}}}
	if m.Schema != wire.ManifestSchemaPlatform || !reflect.DeepEqual(m.Messaging, want) {
		t.Errorf("manifest schema %d, messaging %+v; want schema 3, %+v", m.Schema, m.Messaging, want)
	}
	if wantT := []wire.Timer{{Name: "flush", EveryMS: 60000}, {Name: "sample", EveryMS: 1000}}; !reflect.DeepEqual(m.Timers, wantT) {
		t.Errorf("timers %+v, want %+v", m.Timers, wantT)
	}
}

func TestPushJSON(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateCompiling}, []string{wire.StateRunning})
	code, stdout, stderr := run(t, "push", testModule(t, "m.wasm"), "--json", "--key", key, "--version", "2.0.0-rc.1", "--port", "8080",
		"--name", "orders", "--node", "pi-1", "--control", f.srv.URL)
	if code != ExitOK {
		t.Fatalf("push --json: exit %d: %s", code, stderr)
	}
	var d wire.Deployment
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not a wire.Deployment: %v\n%s", err, stdout)
	}
	if d.ID != "d-1" || d.Module != "orders" || d.Version != "2.0.0-rc.1" || !d.Done || len(d.Devices) != 1 || d.Devices[0].State != wire.StateRunning {
		t.Errorf("deployment = %+v", d)
	}
	if dec.More() {
		t.Error("stdout holds more than one JSON value")
	}
}

func TestPushRejected(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub,
		[]string{wire.StateVerifying, wire.StateCompiling},
		[]string{wire.StateRejected, wire.StateRunning},
	)
	f.reasons[wire.StateRejected] = "version 1.0.0 is not newer than 1.2.0"
	code, stdout, stderr := run(t, "push", testModule(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080",
		"--node", "pi-1", "--node", "pi-2", "--control", f.srv.URL)
	if code != ExitFailed {
		t.Fatalf("push: exit %d, want 1\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "pi-1 rejected: version 1.0.0 is not newer than 1.2.0") {
		t.Errorf("stderr lacks the failing device's reason:\n%s", stderr)
	}
	if strings.Contains(stderr, "pi-2 running:") {
		t.Errorf("stderr lists the running pi-2 as a failure:\n%s", stderr)
	}
	if !strings.Contains(stdout, "1 rejected, 1 running") {
		t.Errorf("stdout = %q, want the final table with 1 rejected, 1 running", stdout)
	}
}

func TestPushTimeout(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateCompiling})
	code, stdout, stderr := run(t, "push", testModule(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080",
		"--node", "pi-1", "--wait", "200ms", "--json", "--control", f.srv.URL)
	if code != ExitTimeout {
		t.Fatalf("push: exit %d, want 3\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "pi-1 (compiling)") {
		t.Errorf("stderr does not name the unfinished device:\n%s", stderr)
	}
	var d wire.Deployment
	if err := json.Unmarshal([]byte(stdout), &d); err != nil || d.Done {
		t.Errorf("stdout = %q (%v), want the last, unfinished deployment", stdout, err)
	}
}

func TestPushNoWait(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{"pending"})
	code, _, stderr := run(t, "push", testModule(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080",
		"--node", "pi-1", "--wait", "0", "--control", f.srv.URL)
	if code != ExitOK || f.polls != 0 {
		t.Errorf("push --wait 0: exit %d after %d polls, want 0 after 0\n%s", code, f.polls, stderr)
	}
}

func TestPushControllerErrors(t *testing.T) {
	key, _ := testKey(t)
	_, otherPub := testKey(t)
	mod := testModule(t, "orders.wasm")

	// The controller trusts another key: its APIError is shown.
	f := newFakeControl(t, otherPub, []string{wire.StateRunning})
	code, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "pi-1", "--control", f.srv.URL)
	if code != ExitFailed || !strings.Contains(stderr, "Forbidden: verify: signed by an untrusted key") {
		t.Errorf("untrusted key: exit %d, stderr %q; want 1 and the controller's error", code, stderr)
	}

	// Nobody listens: the message names the controller.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	t.Setenv("EDGE_CONTROL", addr)
	code, _, stderr = run(t, "push", mod, "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "pi-1")
	if code != ExitFailed || !strings.Contains(stderr, "cannot reach the controller at "+addr+": connection refused") {
		t.Errorf("refused: exit %d, stderr %q; want 1 and a message naming %s", code, stderr, addr)
	}
}

func TestPushRefusesBadModule(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	dir := t.TempDir()
	files := map[string][]byte{
		"text.wasm":      []byte("hello, world"),
		"empty.wasm":     nil,
		"short.wasm":     []byte("\x00as"),
		"component.wasm": []byte("\x00asm\x0d\x00\x01\x00"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		code, _, stderr := run(t, "push", p, "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "pi-1", "--control", f.srv.URL)
		if code != ExitFailed || !strings.Contains(stderr, "module") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and a module error", name, code, stderr)
		}
	}
	if len(f.blobs) != 0 || f.manifest != nil {
		t.Errorf("the controller received something for a bad module")
	}
}

func TestUsageErrors(t *testing.T) {
	key, _ := testKey(t)
	mod := testModule(t, "orders.wasm")
	tests := []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"unknown verb", []string{"deploy"}},
		{"unknown noun verb", []string{"device", "frobnicate", "pi-1"}},
		{"unknown flag", []string{"devices", "--verbose"}},
		// Global flags may come before the command (TestGlobalFlags), but
		// only those: bad input tried by hand.
		{"unknown flag before verb", []string{"--verbose", "devices"}},
		{"global flag before verb without its value", []string{"--control"}},
		{"global flag before a command that does not take it", []string{"--control", "http://127.0.0.1:1", "keygen", "--out", "x"}},
		{"global flag and no command", []string{"--json"}},
		{"devices extra argument", []string{"devices", "pi-1"}},
		{"keygen without --out", []string{"keygen"}},
		{"device add without id", []string{"device", "add"}},
		{"device add bad id", []string{"device", "add", "pi/1"}},
		{"device add wildcard", []string{"device", "add", "+"}},
		{"deployment without id", []string{"deployment"}},
		{"bad control url", []string{"devices", "--control", "127.0.0.1:7080"}},
		{"undeploy without name", []string{"undeploy", "--node", "pi-1"}},
		{"undeploy without targets", []string{"undeploy", "orders"}},
		{"undeploy bad node", []string{"undeploy", "orders", "--node", "pi#1"}},
		{"undeploy bad name", []string{"undeploy", "a b", "--node", "pi-1"}},
		{"undeploy negative wait", []string{"undeploy", "orders", "--node", "pi-1", "--wait", "-1s"}},
		{"rollback bad node", []string{"rollback", "orders", "--key", key, "--node", "pi#1"}},
		{"push without file", []string{"push", "--key", key, "--version", "1.0.0", "--node", "pi-1"}},
		{"push two files", []string{"push", mod, mod, "--key", key, "--version", "1.0.0", "--node", "pi-1"}},
		{"push without targets", []string{"push", mod, "--key", key, "--version", "1.0.0"}},
		{"push without key", []string{"push", mod, "--version", "1.0.0", "--node", "pi-1"}},
		{"push without version", []string{"push", mod, "--key", key, "--node", "pi-1"}},
		{"push bad version", []string{"push", mod, "--key", key, "--version", "v1", "--node", "pi-1"}},
		{"push bad name", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "pi-1", "--name", "a b"}},
		{"push bad node", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "pi#1"}},
		{"push bad label", []string{"push", mod, "--key", key, "--version", "1.0.0", "--label", "site"}},
		{"push duplicate config", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--config", "k=1", "--config", "k=2"}},
		{"push bad port", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "70000"}},
		{"push without port", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a"}},
		{"push port 0", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "0"}},
		{"push negative port", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "-1"}},
		{"push bad probe", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--probe", "health"}},
		{"push bad http-allow", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--http-allow", "https://x"}},
		{"push negative expires", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--expires", "-1h"}},
		{"push bad duration", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--wait", "soon"}},
		{"push subscribe control topic", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "80", "--subscribe", "edge/v1/dev/{device}/desired"}},
		{"push bad timer", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "80", "--timer", "t=soon"}},
		{"push fast timer", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "80", "--timer", "t=1ms"}},
		{"push bad publish", []string{"push", mod, "--key", key, "--version", "1.0.0", "--node", "a", "--port", "80", "--publish", "a/#/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2\nstderr: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr == "" {
				t.Error("stderr is empty, want a usage message")
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, _ := run(t, args...)
		if code != ExitOK {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
		for _, verb := range []string{"keygen", "push", "devices", "device add", "deployments", "deployment ID"} {
			if !strings.Contains(stdout, verb) {
				t.Errorf("%v: usage lacks %q", args, verb)
			}
		}
	}
	for want, args := range map[string][]string{"push": {"help", "push"}, "keygen": {"keygen", "-h"}, "device add": {"device", "add", "--help"}} {
		code, stdout, _ := run(t, args...)
		if code != ExitOK || !strings.HasPrefix(stdout, "usage: edgectl "+want+" ") {
			t.Errorf("%v: exit %d, stdout %q; want 0 and the command's usage", args, code, stdout)
		}
	}
}

// TestPushNeverGoesBack: after a staged rollout the plan's epoch is above
// the devices' (it counts the rollout's unused rollback statements), so a
// push signed at it of an older version was installed as a rollback. A push
// older than what a targeted device is meant to run is now signed at the
// devices' epoch, where they refuse it, with a warning naming edgectl
// rollback; a newer version is signed at the plan's epoch.
func TestPushNeverGoesBack(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	f.current = map[string]*wire.PlanVersion{"pi-1": {Deployment: "d-0", Version: "1.1.0", Epoch: 1}}
	f.epoch = 2
	mod := testModule(t, "orders.wasm")
	_, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.0.0", "--control", f.srv.URL,
		"--node", "pi-2", "--node", "pi-1", "--db", "sqlite", "--port", "8081")
	f.mu.Lock()
	signed := f.manifest
	f.mu.Unlock()
	if signed == nil || signed.Epoch != 1 || !strings.Contains(stderr, "edgectl rollback orders --to 1.0.0") {
		t.Fatalf("push of 1.0.0 over 1.1.0: manifest %+v\n%s\nwant it signed at the devices' epoch 1 with a warning", signed, stderr)
	}
	if code, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.2.0", "--control", f.srv.URL,
		"--node", "pi-1", "--db", "sqlite", "--port", "8081"); code != ExitOK {
		t.Fatalf("push of 1.2.0 over 1.1.0: exit %d\n%s", code, stderr)
	}
	f.mu.Lock()
	signed = f.manifest
	f.mu.Unlock()
	if signed.Epoch != 2 {
		t.Errorf("push of 1.2.0 signed at epoch %d, want the plan's 2", signed.Epoch)
	}
	// pi-1's last push, 2.0.0, failed: it serves 1.1.0 still. 1.2.0 is
	// newer than what it serves and installs (the agent places it against
	// its committed 1.1.0); it used to be judged against 2.0.0, signed at
	// the lower epoch with a warning that the device would refuse it.
	f.mu.Lock()
	f.current["pi-1"] = &wire.PlanVersion{Deployment: "d-1", Version: "2.0.0", Epoch: 1}
	f.serving = map[string]string{"pi-1": "1.1.0"}
	f.mu.Unlock()
	code, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.2.0", "--control", f.srv.URL,
		"--node", "pi-1", "--db", "sqlite", "--port", "8081")
	f.mu.Lock()
	signed = f.manifest
	f.mu.Unlock()
	if code != ExitOK || signed.Epoch != 2 || strings.Contains(stderr, "older than") {
		t.Errorf("push of 1.2.0 over a failed 2.0.0 (serving 1.1.0): exit %d, epoch %d\n%s\nwant the plan's epoch 2, no warning",
			code, signed.Epoch, stderr)
	}
}
