// Package messaging tests module messaging and timers end to end: the
// agent's session on a real broker (the embedded one on a free port with
// the fleet's ACL; the machine's Mosquitto when EDGE_TEST_MQTT is set),
// the supervisor with real worker processes, and the test guests of both
// SDKs: the Go one (agent/wasmhost/testdata/msgguest), built here, and the
// Rust one (modules/sdk-rs/examples/msgguest.rs), committed as
// agent/wasmhost/testdata/msgguest-rs.wasm. What depends on the guest's
// SDK (publish, the message and timer exports, a handler's failure, a
// drop) runs on both; what the agent alone does (the ACL, switches,
// worker restarts) on the Go guest.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/agent/supervisor"
	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/broker"
	"github.com/edgeplane/edge/wire"
)

var agentBin, msgWasm string

// guest is a messaging test guest; suffix keeps its devices apart from the
// other guest's on a shared broker.
type guest struct {
	name, suffix string
	wasm         func() string
}

var guests = []guest{
	{"go", "", func() string { return msgWasm }},
	{"rust", "-rust", func() string {
		return filepath.Join(repoRoot(), "agent", "wasmhost", "testdata", "msgguest-rs.wasm")
	}},
}

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if len(os.Args) > 0 {
			for _, a := range os.Args {
				if a == "-test.short=true" {
					return m.Run()
				}
			}
		}
		dir, err := os.MkdirTemp("", "messaging-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		agentBin, msgWasm = filepath.Join(dir, "edge-agent"), filepath.Join(dir, "msg.wasm")
		builds := []*exec.Cmd{
			exec.Command("go", "build", "-o", agentBin, "./cmd/edge-agent"),
			exec.Command("go", "build", "-buildmode=c-shared", "-o", msgWasm, "./agent/wasmhost/testdata/msgguest"),
		}
		builds[1].Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		for _, c := range builds {
			c.Dir, c.Stderr = repoRoot(), os.Stderr
			if err := c.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build:", c.Args, err)
				return 1
			}
		}
		return m.Run()
	}())
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

const (
	devicePW  = "pw-device"
	controlPW = "pw-control"
	inFilter  = "edge/v1/dev/{device}/in/t/#"
)

type creds map[string]string

func (c creds) CredentialHash(_ context.Context, id string) ([]byte, error) {
	if pw, ok := c[id]; ok {
		return auth.HashPassword(pw), nil
	}
	return nil, errors.New("unknown")
}

// target is a broker and how to log in to it.
type target struct {
	url              string
	ctlUser, ctlPass string
	devPass          string
	device           string // the device id to log in as
}

// targets: the embedded broker always, the machine's Mosquitto (anonymous,
// no ACL) when EDGE_TEST_MQTT is set.
func targets(t *testing.T, device string) map[string]target {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Credentials: creds{device: devicePW},
		ControlPassword: controlPW, Logger: slog.New(slog.DiscardHandler)})
	// (Only the embedded broker applies the fleet's ACL here; tests/deploy
	// runs Mosquitto with the shipped ACL.)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	out := map[string]target{"embedded": {url: "tcp://" + b.DialAddr(), ctlUser: auth.ControlUser, ctlPass: controlPW, devPass: devicePW, device: device}}
	if u := os.Getenv("EDGE_TEST_MQTT"); u != "" {
		out["mosquitto"] = target{url: u, device: device + "-m"}
	} else {
		t.Log("EDGE_TEST_MQTT not set: the machine's Mosquitto is not tried")
	}
	return out
}

// rig is an agent's messaging path: session, supervisor, workers, and a
// controller-side client that sees every module message of the device.
type rig struct {
	t      *testing.T
	device string
	sess   *session.Session
	sup    *supervisor.Supervisor
	ctl    mqtt.Client
	port   int
	wasm   string // the guest deploy installs

	mu  sync.Mutex
	got []mqtt.Message
	new chan struct{}
}

func newRig(t *testing.T, tg target, device, wasm string) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("runs worker processes and a broker")
	}
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sess, err := session.New(session.Config{Broker: tg.url, Device: device, Password: tg.devPass}, st.Outbox(), log)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(supervisor.Config{
		Exe: agentBin, Args: []string{"worker", "--log-level", "warn"},
		DataDir: t.TempDir(), CacheDir: t.TempDir(), ListenHost: "127.0.0.1",
		Grace: 300 * time.Millisecond, Device: device, Bus: sess, Stderr: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	sess.SetAppHandler(sup.Receive)
	ctx, cancel := context.WithCancel(context.Background())
	sess.Start(ctx)
	t.Cleanup(func() {
		sup.Close(context.Background())
		cancel()
		sess.Close()
	})
	r := &rig{t: t, device: device, sess: sess, sup: sup, new: make(chan struct{}, 1), port: freePort(t), wasm: wasm}
	opts := mqtt.NewClientOptions().AddBroker(tg.url).SetClientID(tg.ctlUser + "-" + device).
		SetUsername(tg.ctlUser).SetPassword(tg.ctlPass).SetAutoReconnect(false)
	if tg.ctlUser == "" {
		opts.SetClientID("ctl-" + device)
	}
	r.ctl = mqtt.NewClient(opts)
	if tok := r.ctl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("controller connect: %v", tok.Error())
	}
	t.Cleanup(func() { r.ctl.Disconnect(100) })
	tok := r.ctl.Subscribe(wire.AppTopic(device, "msg", "#"), 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		select {
		case r.new <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("controller subscribe: %v", tok.Error())
	}
	waitFor(t, 10*time.Second, "the agent's session", sess.Connected)
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func msgManifest(version string, port int, mutate func(*wire.Manifest)) *wire.Manifest {
	m := &wire.Manifest{
		Schema: wire.ManifestSchemaPlatform, Name: "msg", Version: version, SHA256: strings.Repeat(version[:1], 64),
		Port: port, Probe: wire.Probe{Path: "/healthz"}, Limits: wire.Limits{Pool: 2, DeadlineMS: 2000},
		Messaging: wire.Messaging{
			Publish:   []string{"echo/#", "ticks", "slow", "x/#"},
			Subscribe: []wire.Subscription{{Filter: inFilter, QoS: 1}},
			Rate:      1000,
		},
	}
	if mutate != nil {
		mutate(m)
	}
	return m
}

func (r *rig) deploy(m *wire.Manifest) {
	r.t.Helper()
	if err := r.sup.Deploy(context.Background(), m, r.wasm, nil); err != nil {
		r.t.Fatalf("deploy %s: %v", m.Version, err)
	}
	// The subscription is made by the trigger loop right after the switch.
	waitFor(r.t, 5*time.Second, "the module's subscription", func() bool {
		return r.sess.AppSubscribed(wire.ExpandFilter(inFilter, r.device))
	})
}

func (r *rig) send(sub, payload string) {
	r.t.Helper()
	tok := r.ctl.Publish(wire.InboxTopic(r.device, sub), 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		r.t.Fatalf("controller publish: %v", tok.Error())
	}
}

// echoed returns the set of payloads the module echoed ("echo/P" topics).
func (r *rig) echoed() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	prefix := wire.AppTopic(r.device, "msg", "echo/")
	for _, m := range r.got {
		if p, ok := strings.CutPrefix(m.Topic(), prefix); ok {
			out[p]++
		}
	}
	return out
}

func (r *rig) topics(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		if m.Topic() == wire.AppTopic(r.device, "msg", sub) {
			out = append(out, string(m.Payload()))
		}
	}
	return out
}

func (r *rig) get(query string) string {
	r.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/publish?%s", r.port, query))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMessageRoundTrip, on both guests: granted (a message on the
// manifest's filter reaches the guest, whose publish reaches the
// controller), denied by the manifest (another inbox topic; a publish off
// the allow-list), quotas (rate, size), redelivery after a failure, dead
// letters.
func TestMessageRoundTrip(t *testing.T) {
	for _, g := range guests {
		for name, tg := range targets(t, "dev-rt"+g.suffix) {
			t.Run(g.name+"/"+name, func(t *testing.T) { testMessageRoundTrip(t, tg, g.wasm()) })
		}
	}
}

func testMessageRoundTrip(t *testing.T, tg target, wasm string) {
	r := newRig(t, tg, tg.device, wasm)
	r.deploy(msgManifest("1.0.0", r.port, func(m *wire.Manifest) { m.Messaging.Rate = 5 }))

	r.send("t/a", "hello")
	waitFor(t, 10*time.Second, "the echo of hello", func() bool { return r.echoed()["hello"] > 0 })
	r.send("u/a", "not-mine") // no filter of the manifest
	if got := r.get("topic=secret&payload=x"); !strings.Contains(got, "denied") {
		t.Errorf("publish off the allow-list: %q, want denied", got)
	}
	if got := r.get("topic=x/big&payload=" + strings.Repeat("z", wire.DefaultMaxPayload+1)); !strings.Contains(got, "too large") {
		t.Errorf("publish over the payload limit: %q, want too large", got)
	}
	limited := 0
	for i := 0; i < 20; i++ {
		if strings.Contains(r.get("topic=x/"+strconv.Itoa(i)+"&payload=p&qos=1"), "limited") {
			limited++
		}
	}
	if limited == 0 || limited > 15 {
		t.Errorf("%d of 20 publishes at once limited at rate 5/s (bursts of 10), want 6 to 15", limited)
	}
	time.Sleep(500 * time.Millisecond)
	if e := r.echoed(); e["not-mine"] > 0 {
		t.Errorf("a message on no filter of the manifest reached the module: %v", e)
	}
	if n := len(r.topics("secret")); n > 0 {
		t.Errorf("a publish off the allow-list reached the broker")
	}
	// Redelivery: a message whose first attempt fails comes again,
	// and the second attempt is acknowledged.
	r.send("t/f", "flaky")
	waitFor(t, 10*time.Second, "the echo of flaky", func() bool { return r.echoed()["flaky"] > 0 })
	if p := r.topics("echo/flaky"); len(p) == 0 || len(strings.Fields(p[0])) < 2 || strings.Fields(p[0])[1] != "2" {
		t.Errorf("echo of flaky: %q, want the echo of attempt 2 (\"ID 2 TOPIC\")", p)
	}
	// Dead letters: one the guest drops, one that fails every
	// attempt (retried 4 times with back-off); both reported in the
	// serving version's metrics, with flaky's retry.
	r.send("t/d", "drop")
	r.send("t/f", "fail")
	var mm wire.ModuleMetrics
	waitFor(t, 10*time.Second, "two dead letters in the metrics", func() bool {
		for _, m := range r.sup.ModuleMetrics(time.Time{}) {
			if m.Name == "msg" && m.Version == "1.0.0" {
				mm = m
			}
		}
		return mm.DeadLetters == 2
	})
	if mm.MessageRetries != supervisor.MaxAttempts || mm.MessagesDelivered < 2 || mm.MessagesReceived != mm.MessagesDelivered+2 {
		t.Errorf("metrics: received %d, delivered %d, retries %d, dead %d; want %d retries, all but the 2 dead delivered",
			mm.MessagesReceived, mm.MessagesDelivered, mm.MessageRetries, mm.DeadLetters, supervisor.MaxAttempts)
	}
}

// TestDeniedByACL: a manifest may name another device's inbox (the wire
// rules allow any device id), but the broker's ACL refuses the
// subscription: nothing arrives, and the session names the filter.
func TestDeniedByACL(t *testing.T) {
	tg := targets(t, "dev-acl")["embedded"]
	r := newRig(t, tg, "dev-acl", msgWasm)
	other := "edge/v1/dev/dev-other/in/#"
	r.deploy(msgManifest("1.0.0", r.port, func(m *wire.Manifest) {
		m.Messaging.Subscribe = append(m.Messaging.Subscribe, wire.Subscription{Filter: other, QoS: 1})
	}))
	waitFor(t, 5*time.Second, "the refused subscription", func() bool {
		for _, f := range r.sess.AppDenied() {
			if f == other {
				return true
			}
		}
		return false
	})
	tok := r.ctl.Publish("edge/v1/dev/dev-other/in/t/a", 1, false, "stolen")
	tok.WaitTimeout(5 * time.Second)
	r.send("t/a", "mine")
	waitFor(t, 10*time.Second, "the echo of mine", func() bool { return r.echoed()["mine"] > 0 })
	if e := r.echoed(); e["stolen"] > 0 {
		t.Errorf("another device's inbox reached the module: %v", e)
	}
}

// sendMany sends n messages m0..m(n-1) at QoS 1, one every gap.
func (r *rig) sendMany(n int, gap time.Duration) {
	for i := 0; i < n; i++ {
		r.send("t/"+strconv.Itoa(i%7), "m"+strconv.Itoa(i))
		time.Sleep(gap)
	}
}

func (r *rig) allEchoed(n int) func() bool {
	return func() bool {
		e := r.echoed()
		for i := 0; i < n; i++ {
			if e["m"+strconv.Itoa(i)] == 0 {
				return false
			}
		}
		return true
	}
}

func (r *rig) missing(n int) []string {
	e := r.echoed()
	var out []string
	for i := 0; i < n; i++ {
		if e["m"+strconv.Itoa(i)] == 0 {
			out = append(out, "m"+strconv.Itoa(i))
		}
	}
	return out
}

// TestNoneLostAcrossSwitch: QoS 1 messages sent while a new version is
// deployed (started, probed, switched in, the old one drained) all reach
// a version of the module.
func TestNoneLostAcrossSwitch(t *testing.T) {
	for name, tg := range targets(t, "dev-sw") {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, tg, tg.device, msgWasm)
			r.deploy(msgManifest("1.0.0", r.port, nil))
			const n = 150
			done := make(chan struct{})
			go func() { defer close(done); r.sendMany(n, 10*time.Millisecond) }()
			time.Sleep(200 * time.Millisecond)
			r.deploy(msgManifest("2.0.0", r.port, nil))
			<-done
			end := time.Now().Add(20 * time.Second)
			for !r.allEchoed(n)() && time.Now().Before(end) {
				time.Sleep(50 * time.Millisecond)
			}
			if miss := r.missing(n); len(miss) > 0 {
				t.Errorf("%d of %d messages never reached the module across the switch: %v (stats %+v)",
					len(miss), n, miss, r.sup.MessagingStats("msg"))
			}
		})
	}
}

// TestNoneLostAcrossWorkerRestart: the worker is killed while messages
// flow; the supervisor restarts it and delivers what the dead one did not
// acknowledge, with the same ids.
func TestNoneLostAcrossWorkerRestart(t *testing.T) {
	tg := targets(t, "dev-rs")["embedded"]
	r := newRig(t, tg, "dev-rs", msgWasm)
	r.deploy(msgManifest("1.0.0", r.port, nil))
	const n = 150
	done := make(chan struct{})
	go func() { defer close(done); r.sendMany(n, 10*time.Millisecond) }()
	time.Sleep(400 * time.Millisecond)
	pids := workerPIDs(t)
	if len(pids) == 0 {
		t.Fatal("no worker process found")
	}
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
	<-done
	end := time.Now().Add(30 * time.Second)
	for !r.allEchoed(n)() && time.Now().Before(end) {
		time.Sleep(50 * time.Millisecond)
	}
	if miss := r.missing(n); len(miss) > 0 {
		t.Errorf("%d of %d messages lost when the worker was killed: %v (stats %+v)", len(miss), n, miss, r.sup.MessagingStats("msg"))
	}
}

// workerPIDs lists this process's children that are workers.
func workerPIDs(t *testing.T) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	me := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(me) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmd), "worker") {
			out = append(out, pid)
		}
	}
	return out
}

// TestTimers, on both guests: a timer ticks at its interval; a timer
// whose call outlasts its interval skips ticks instead of queueing them
// (the next call says how many it missed).
func TestTimers(t *testing.T) {
	for _, g := range guests {
		tg := targets(t, "dev-tm"+g.suffix)["embedded"]
		t.Run(g.name, func(t *testing.T) { testTimers(t, tg, g.wasm()) })
	}
}

func testTimers(t *testing.T, tg target, wasm string) {
	r := newRig(t, tg, tg.device, wasm)
	r.deploy(msgManifest("1.0.0", r.port, func(m *wire.Manifest) {
		m.Timers = []wire.Timer{{Name: "tick", EveryMS: 200}, {Name: "slow", EveryMS: 100}}
	}))
	time.Sleep(2100 * time.Millisecond)
	ticks, slow := r.topics("ticks"), r.topics("slow")
	if len(ticks) < 7 || len(ticks) > 12 {
		t.Errorf("%d ticks of a 200 ms timer in ~2 s, want about 10", len(ticks))
	}
	// Each slow call takes 350 ms: at most ~6 calls in 2 s, each after
	// skipping the ticks that passed meanwhile.
	if len(slow) < 3 || len(slow) > 7 {
		t.Errorf("%d calls of a 100 ms timer whose call takes 350 ms, want 3 to 7 (skipped, not queued)", len(slow))
	}
	for _, s := range slow[1:] {
		if n, _ := strconv.Atoi(s); n < 2 {
			t.Errorf("a slow call reported %d missed ticks, want ≥ 2: %v", n, slow)
			break
		}
	}
}
