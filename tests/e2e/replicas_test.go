package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// replica is one edge-control of the replicas test.
type replica struct {
	name, control string
	p             *proc
}

// leading reads the replica's edge_controller_leader gauge (false when it
// does not answer).
func (r *replica) leading(t *testing.T) bool {
	status, body, err := tryCall("GET", r.control+"/metrics/controller")
	return err == nil && status == 200 && strings.Contains(body, "\nedge_controller_leader 1\n")
}

func tryCall(method, url string) (int, string, error) {
	return harness.TryCall(method, url, "", 5*time.Second)
}

// desiredLog records every desired state the broker delivers for the
// test's devices, in arrival order.
type desiredLog struct {
	mu  sync.Mutex
	got map[string][]int64 // device → generations
	all []string           // "device generation" in order
}

func (l *desiredLog) add(device string, gen int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[device] = append(l.got[device], gen)
	l.all = append(l.all, fmt.Sprintf("%s %d", device, gen))
}

func (l *desiredLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// regressions lists the deliveries of a generation lower than one the
// device was sent before.
func (l *desiredLog) regressions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for dev, gens := range l.got {
		var high int64
		for _, g := range gens {
			if g < high {
				out = append(out, fmt.Sprintf("%s: generation %d after %d", dev, g, high))
			}
			high = max(high, g)
		}
	}
	return out
}

// TestReplicas: three edge-control processes share the machine's MariaDB
// (EDGE_TEST_MYSQL) and Mosquitto (EDGE_TEST_MQTT) with three agents.
// Pushes go through a replica that does not lead. A staged rollout runs;
// the leader is killed (SIGKILL) while it drives it; another replica
// takes the lease and the rollout completes on every device. Then the new
// leader is stopped (SIGSTOP) until its lease has gone to the third,
// which makes a change; resumed, the old leader publishes nothing. Across
// the whole test no device is sent a desired state older than one it was
// sent before, and each agent ends at the controller's generation.
func TestReplicas(t *testing.T) {
	broker := os.Getenv("EDGE_TEST_MQTT")
	if broker == "" || os.Getenv("EDGE_TEST_MYSQL") == "" {
		t.Skip("EDGE_TEST_MQTT and EDGE_TEST_MYSQL not both set; skipping the replicas test")
	}
	dsn := mysqlDatabase(t)
	db, err := dbbind.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	desiredGeneration := func(device string) int64 { return storedGeneration(t, db, device) }
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	blobs := t.TempDir()
	const ttl = 2 * time.Second
	var reps []*replica
	var ids []string // device ids
	for i := 1; i <= 3; i++ {
		ids = append(ids, fmt.Sprintf("rep-%s-d%d", run, i))
	}
	clientIDs := []string{}
	var token string
	t.Cleanup(func() {
		for _, id := range ids {
			cleanBroker(t, broker, run+"-"+id, id, id)
		}
		for _, c := range clientIDs {
			cleanBroker(t, broker, run+"-"+c, "rep-none-"+run, c)
		}
	})
	for i := 1; i <= 3; i++ {
		r := &replica{name: fmt.Sprintf("r%d", i)}
		cid := fmt.Sprintf("edge-control-rep-%s-%d", run, i)
		clientIDs = append(clientIDs, cid)
		var line string
		data := t.TempDir()
		r.p, line = start(t, controlReady, []string{"EDGE_CONTROL_DB=" + dsn}, bin(t, "edge-control"),
			"--data", data, "--blobs", blobs, "--http", "127.0.0.1:0", "--broker", broker,
			"--client-id", cid, "--lease-ttl", ttl.String(), "--deploy-timeout", "3m")
		m := controlHTTP.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("cannot parse edge-control ready line %q", line)
		}
		r.control = m[1]
		// The first replica makes the admin token, in the shared database
		// (and its data folder); the others take it as it is.
		if i == 1 {
			token = harness.ControlToken(t, data, r.control)
		} else {
			harness.RegisterToken(t, r.control, token)
		}
		reps = append(reps, r)
	}
	leader := func(among []*replica) *replica {
		t.Helper()
		deadline := time.Now().Add(5 * ttl)
		for time.Now().Before(deadline) {
			var found []*replica
			for _, r := range among {
				if r.leading(t) {
					found = append(found, r)
				}
			}
			if len(found) == 1 {
				return found[0]
			}
			if len(found) > 1 {
				t.Fatalf("%d replicas lead at once", len(found))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("no replica leads")
		return nil
	}
	lead := leader(reps)
	var followers []*replica
	for _, r := range reps {
		if r != lead {
			followers = append(followers, r)
		}
	}
	t.Logf("leader %s; pushes go through %s", lead.name, followers[0].name)

	// Every desired state the broker delivers for the test's devices.
	log := &desiredLog{got: map[string][]int64{}}
	mon := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("rep-monitor-" + run).SetCleanSession(true))
	if tok := mon.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("monitor: %v", tok.Error())
	}
	defer mon.Disconnect(100)
	for _, id := range ids {
		tok := mon.Subscribe(wire.DeviceTopic(id, wire.KindDesired), 1, func(_ mqtt.Client, m mqtt.Message) {
			var ds wire.DesiredState
			if len(m.Payload()) > 0 && json.Unmarshal(m.Payload(), &ds) == nil {
				log.add(ds.Device, ds.Generation)
			}
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("monitor subscribe: %v", tok.Error())
		}
	}

	// Devices registered through a follower; agents on the same broker.
	f := &fleet{control: followers[0].control, keyDir: t.TempDir()}
	if out, errOut, code := edgectl(t, "keygen", "--out", f.keyDir, "--force"); code != 0 {
		t.Fatalf("edgectl keygen = %d\n%s%s", code, out, errOut)
	}
	port := freePort(t)
	cache := t.TempDir()
	var agents []*proc
	var bases []string
	for i, id := range ids {
		args := f.device(t, id)
		args[slices.Index(args, "--broker")+1] = broker
		data := args[slices.Index(args, "--data")+1]
		if err := os.Symlink(cache, filepath.Join(data, "cache")); err != nil {
			t.Fatal(err)
		}
		host := fmt.Sprintf("127.0.0.%d", i+2)
		bases = append(bases, fmt.Sprintf("http://%s:%d", host, port))
		p, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), append(args, "--listen", host, "--metrics-interval", "1s")...)
		agents = append(agents, p)
	}
	key := filepath.Join(f.keyDir, "edge.key")
	nodes := []string{}
	for _, id := range ids {
		nodes = append(nodes, "--node", id)
	}
	wasm := bin(t, "orders.wasm")
	push := func(control, version string, extra ...string) (string, string, int) {
		args := append([]string{"push", wasm, "--control", control, "--key", key, "--name", "orders", "--version", version,
			"--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "3m", "--json"}, nodes...)
		return edgectl(t, append(args, extra...)...)
	}
	if out, errOut, code := push(followers[0].control, "1.0.0"); code != 0 {
		t.Fatalf("push 1.0.0 through a follower = %d\n%s%s", code, out, errOut)
	}

	// A staged rollout through a follower; the leader dies while it runs.
	done := inBackground(func() (string, string, int) {
		return push(followers[0].control, "1.1.0", "--waves", "1,2,100%", "--soak", "3s", "--low-traffic", "pass")
	})
	waitUntil(t, "the rollout's first wave to start", time.Minute, func() bool {
		var rs []wire.Rollout
		code, _ := getJSON(followers[0].control+"/api/v1/rollouts", &rs)
		return code == 200 && len(rs) == 1 && rs[0].Waves[0].Deployment != ""
	})
	lead.p.Cmd.Process.Kill() // SIGKILL
	<-lead.p.Done
	killedAt := time.Now()
	next := leader(followers)
	t.Logf("leader %s killed during the rollout; %s leads %v later", lead.name, next.name, time.Since(killedAt).Round(time.Millisecond))
	res := <-done
	var r wire.Rollout
	if err := json.Unmarshal([]byte(res.out), &r); err != nil || res.code != 0 || r.State != wire.RolloutSucceeded {
		t.Fatalf("rollout after the leader's death = exit %d, %s (%v)\n%s%s", res.code, r.State, err, res.out, res.errOut)
	}
	for i, id := range ids {
		if v := servingVersion(t, next.control, id); v != "1.1.0" {
			t.Errorf("%s serves %q after the rollout, want 1.1.0", id, v)
		}
		for _, path := range []string{"/init", "/orders"} {
			if status, body := call(t, "GET", bases[i]+path, ""); status != 200 {
				t.Errorf("%s %s = %d %q", id, path, status, body)
			}
		}
	}

	// SIGSTOP the new leader until the third replica holds the lease.
	var third *replica
	for _, r := range followers {
		if r != next {
			third = r
		}
	}
	next.p.Cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			next.p.Cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitUntil(t, third.name+" to take the lease", 5*ttl, func() bool { return third.leading(t) })
	// A change the paused leader never saw: central labels, a new
	// generation for the first device.
	if out, errOut, code := edgectl(t, "label", ids[0], "zone=b", "--control", third.control); code != 0 {
		t.Fatalf("edgectl label through %s = %d\n%s%s", third.name, code, out, errOut)
	}
	waitUntil(t, "the labels' desired state to be delivered", 10*time.Second, func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		g := log.got[ids[0]]
		return len(g) > 0 && g[len(g)-1] == desiredGeneration(ids[0])
	})
	before := log.count()
	next.p.Cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	time.Sleep(3 * ttl) // its renewals fail, its publisher finds its lease expired
	if n := log.count() - before; n != 0 {
		log.mu.Lock()
		t.Errorf("%d desired states delivered after the paused leader resumed (the third replica changed nothing): %v", n, log.all[before:])
		log.mu.Unlock()
	}
	if next.leading(t) || !third.leading(t) {
		t.Errorf("after the resume: %s leading %v, %s leading %v; want %s only", next.name, next.leading(t), third.name, third.leading(t), third.name)
	}

	// Never an older desired state; every agent at the controller's
	// generation.
	if reg := log.regressions(); len(reg) > 0 {
		t.Errorf("desired states older than one sent before: %v", reg)
	}
	for _, id := range ids {
		want := desiredGeneration(id)
		waitUntil(t, id+" to apply generation "+fmt.Sprint(want), 30*time.Second, func() bool {
			return statusGeneration(t, third.control, id) == want
		})
	}
	log.mu.Lock()
	t.Logf("desired states delivered: %d", len(log.all))
	log.mu.Unlock()
	for _, a := range agents {
		if strings.Contains(a.Out.String(), "ignoring older desired state") {
			t.Logf("an agent refused an older desired state (fenced at the agent):\n%s", a.Out)
		}
	}
}

// storedGeneration is device's desired generation in the database.
func storedGeneration(t *testing.T, db *sql.DB, device string) int64 {
	t.Helper()
	var g int64
	if err := db.QueryRow(`SELECT generation FROM desired WHERE device = ?`, device).Scan(&g); err != nil {
		t.Fatalf("desired generation of %s: %v", device, err)
	}
	return g
}

// waitUntil polls ok until it holds or d has passed.
func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// getJSON GETs url and decodes its JSON answer into out.
func getJSON(url string, out any) (int, error) {
	status, body, err := harness.TryCall("GET", url, "", 10*time.Second)
	if err != nil {
		return 0, err
	}
	return status, json.Unmarshal([]byte(body), out)
}

func deviceOf(t *testing.T, control, id string) wire.Device {
	t.Helper()
	var d wire.Device
	if code, err := getJSON(control+"/api/v1/devices/"+id, &d); code != 200 || err != nil {
		t.Fatalf("GET device %s = %d, %v", id, code, err)
	}
	return d
}

// servingVersion is the version of orders device id serves, as control
// shows it.
func servingVersion(t *testing.T, control, id string) string {
	t.Helper()
	d := deviceOf(t, control, id)
	if d.Status != nil {
		for _, m := range d.Status.Modules {
			if m.Name == "orders" {
				return m.Version
			}
		}
	}
	return ""
}

// statusGeneration is the desired generation device id reports applied.
func statusGeneration(t *testing.T, control, id string) int64 {
	t.Helper()
	if d := deviceOf(t, control, id); d.Status != nil {
		return d.Status.Generation
	}
	return 0
}
