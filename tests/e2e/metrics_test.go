package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// watcher is an anonymous client of the embedded broker (edge-control
// --allow-anonymous) that keeps every metrics report and log batch the
// devices publish, decoded with the controller's strict parser.
type watcher struct {
	c       mqtt.Client
	mu      sync.Mutex
	metrics []wire.Metrics
	logs    []wire.LogBatch
}

func watch(t *testing.T, broker string) *watcher {
	t.Helper()
	w := &watcher{}
	subscribe := func(c mqtt.Client) {
		c.Subscribe(wire.DeviceWildcard(wire.KindMetrics), 0, func(_ mqtt.Client, m mqtt.Message) {
			var r wire.Metrics
			if err := wire.Decode(m.Payload(), &r); err != nil {
				t.Errorf("metrics report that does not parse: %v\n%s", err, m.Payload())
				return
			}
			if err := r.Validate(); err != nil {
				t.Errorf("metrics report that does not validate: %v", err)
			}
			if len(m.Payload()) > wire.MaxReportSize {
				t.Errorf("metrics report of %d bytes", len(m.Payload()))
			}
			w.mu.Lock()
			w.metrics = append(w.metrics, r)
			w.mu.Unlock()
		})
		c.Subscribe(wire.DeviceWildcard(wire.KindLogs), 1, func(_ mqtt.Client, m mqtt.Message) {
			var b wire.LogBatch
			if err := wire.Decode(m.Payload(), &b); err != nil {
				t.Errorf("log batch that does not parse: %v", err)
				return
			}
			w.mu.Lock()
			w.logs = append(w.logs, b)
			w.mu.Unlock()
		})
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("watcher-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).SetConnectRetry(true).
		SetOnConnectHandler(subscribe)
	w.c = mqtt.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

// waitMetrics returns the first report of device (after skipping seen
// ones) for which ok holds, within a minute.
func (w *watcher) waitMetrics(t *testing.T, device, what string, ok func(*wire.Metrics) bool) wire.Metrics {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		for i := range w.metrics {
			if m := &w.metrics[i]; m.Device == device && ok(m) {
				r := *m
				w.mu.Unlock()
				return r
			}
		}
		var last string
		if n := len(w.metrics); n > 0 {
			b, _ := json.Marshal(w.metrics[n-1])
			last = string(b)
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no metrics report of %s with %s within a minute; the last:\n%s", device, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// askLogs publishes req on device's logreq topic (as the controller does)
// and waits for the batch that answers it.
func (w *watcher) askLogs(t *testing.T, device string, req wire.LogRequest) wire.LogBatch {
	t.Helper()
	b, _ := json.Marshal(req)
	if tok := w.c.Publish(wire.DeviceTopic(device, wire.KindLogReq), 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish log request: %v", tok.Error())
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, lb := range w.logs {
			if lb.ID == req.ID {
				w.mu.Unlock()
				return lb
			}
		}
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("log request %s of %s not answered within 10s", req.ID, device)
	return wire.LogBatch{}
}

func module(m *wire.Metrics, name, version string) *wire.ModuleMetrics {
	for i := range m.Modules {
		if m.Modules[i].Name == name && m.Modules[i].Version == version {
			return &m.Modules[i]
		}
	}
	return nil
}

// load sends n GETs of path from 4 clients and returns the responses by
// status.
func load(t *testing.T, url string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := c; i < n; i += 4 {
				resp, err := client.Get(url)
				if err != nil {
					t.Errorf("GET %s: %v", url, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				got[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// TestAgentMetrics drives a real agent with the embedded broker: metrics
// every --metrics-interval (shortened from 10s), counters equal to what
// was sent, a histogram that adds up, the same numbers on the agent's own
// /metrics, log requests answered, a label push to a fresh labelled agent,
// the serving version apart from a rejected attempt, a worker restart
// seen as a new Start, and reports counted as dropped while the broker is
// down.
func TestAgentMetrics(t *testing.T) {
	httpPort, mqttPort, adminPort := freePort(t), freePort(t), freePort(t)
	f := startFleet(t, "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--mqtt", fmt.Sprintf("127.0.0.1:%d", mqttPort), "--allow-anonymous")
	w := watch(t, "tcp://"+f.mqtt)
	marker := fmt.Sprintf("metrics-%d-%d", os.Getpid(), time.Now().UnixNano())
	args := append(f.device(t, "m1"), "--label", "site=north", "--metrics-interval", "1s",
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort))
	data := args[indexOf(args, "--data")+1]
	start(t, agentRunning, []string{agentMarker + "=" + marker}, bin(t, "edge-agent"), args...)

	// Labels from the first connect: a push by label to an agent that
	// never received a desired state reaches it.
	eventually(t, "m1 online", func() bool {
		var d wire.Device
		status, body := call(t, "GET", f.control+wire.APIPrefix+"/devices/m1", "")
		return status == 200 && json.Unmarshal([]byte(body), &d) == nil && d.Online
	})
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	out, errOut, code := edgectl(t, "push", bin(t, "orders.wasm"), "--control", f.control,
		"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "orders", "--version", "1.0.0",
		"--label", "site=north", "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "2m")
	if code != 0 {
		t.Fatalf("push --label site=north to a fresh labelled agent = exit %d\n%s%s", code, out, errOut)
	}

	// Counters equal what was sent, once traffic stops.
	sent := load(t, base+"/", 150)
	for k, v := range load(t, base+"/missing", 30) {
		sent[k] += v
	}
	if sent[200] != 150 || sent[404] != 30 {
		t.Fatalf("load generator got %v, want 150×200 and 30×404", sent)
	}
	m := w.waitMetrics(t, "m1", "180 requests on orders@1.0.0", func(m *wire.Metrics) bool {
		e := module(m, "orders", "1.0.0")
		return e != nil && e.Requests == 180
	})
	e := module(&m, "orders", "1.0.0")
	checkReport(t, &m, e)

	// The same numbers on the agent's own /metrics (loopback only).
	status, body := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort), "")
	for _, want := range []string{
		`edge_module_requests_total{module="orders",version="1.0.0"} 180`,
		`edge_module_responses_total{module="orders",version="1.0.0",class="4xx"} 30`,
		`edge_module_request_duration_seconds_count{module="orders",version="1.0.0"} 180`,
		`edge_module_info{module="orders",version="1.0.0",state="running"} 1`,
		`edge_agent_broker_connected 1`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("agent /metrics (%d) lacks %q", status, want)
		}
	}
	if status, _ := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/status", adminPort), ""); status != 404 {
		t.Errorf("GET /status on the TCP admin address = %d, want 404 (only the 0600 socket serves it)", status)
	}

	checkLogs(t, w)
	checkRejectedAttempt(t, f, w, data, port)
	checkWorkerRestart(t, w, marker, base, e.Start)
	checkDropped(t, f, w)
}

func indexOf(s []string, v string) int {
	for i := range s {
		if s[i] == v {
			return i
		}
	}
	return -1
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkReport checks a report's agent part and one module entry after
// 150 2xx and 30 4xx.
func checkReport(t *testing.T, m *wire.Metrics, e *wire.ModuleMetrics) {
	t.Helper()
	if e.Responses2xx != 150 || e.Responses4xx != 30 || e.Responses5xx != 0 {
		t.Errorf("responses 2xx %d, 4xx %d, 5xx %d; want 150, 30, 0", e.Responses2xx, e.Responses4xx, e.Responses5xx)
	}
	if n := e.Latency.Count(); n != e.Requests || e.Latency.Sum <= 0 {
		t.Errorf("histogram counts %v add up to %d (sum %vs), want %d", e.Latency.Counts, n, e.Latency.Sum, e.Requests)
	}
	if e.Instances < 1 || e.RSSBytes <= 0 || e.PSSBytes <= 0 || e.CPUSeconds <= 0 || e.CompileSeconds <= 0 || e.Start.IsZero() {
		t.Errorf("module entry %+v: want instances, worker RSS/PSS/CPU, compile time and a start", e)
	}
	a := &m.Agent
	if a.Version == "" || a.Arch == "" || a.Board == "" || a.Engine == "" || !a.Connected || a.RSSBytes <= 0 || a.PSSBytes <= 0 ||
		a.DiskTotal <= 0 || a.DiskFree <= 0 || a.Start.IsZero() || a.CPUSeconds <= 0 {
		t.Errorf("agent part %+v: want version, arch, board, engine, connected, memory, CPU, disk", a)
	}
	if m.Seq < 1 || m.Device != "m1" {
		t.Errorf("report seq %d device %q", m.Seq, m.Device)
	}
}

// checkLogs asks m1 for its module's and its own log lines.
func checkLogs(t *testing.T, w *watcher) {
	t.Helper()
	b := w.askLogs(t, "m1", wire.LogRequest{ID: "mod-1", Module: "orders"})
	var text []string
	for _, l := range b.Lines {
		text = append(text, l.Level+" "+l.Version+" "+l.Msg)
		if l.Version != "1.0.0" {
			t.Errorf("module log line of version %q: %+v", l.Version, l)
		}
	}
	if b.Device != "m1" || !strings.Contains(strings.Join(text, "\n"), "worker ready") {
		t.Errorf("module log batch from %q:\n%s\nwant the worker's \"worker ready\"", b.Device, strings.Join(text, "\n"))
	}
	one := w.askLogs(t, "m1", wire.LogRequest{ID: "mod-2", Module: "orders", Max: 1})
	if len(one.Lines) != 1 || !one.More {
		t.Errorf("max 1: %d lines, more %v", len(one.Lines), one.More)
	} else if rest := w.askLogs(t, "m1", wire.LogRequest{ID: "mod-3", Module: "orders", Since: one.Lines[0].Time}); len(rest.Lines) != len(b.Lines)-1 && len(rest.Lines) < len(b.Lines)-1 {
		t.Errorf("since the first line: %d lines, want the other %d", len(rest.Lines), len(b.Lines)-1)
	}
	own := w.askLogs(t, "m1", wire.LogRequest{ID: "agent-1"})
	var found bool
	for _, l := range own.Lines {
		found = found || strings.Contains(l.Msg, "mqtt connected")
	}
	if !found {
		t.Errorf("the agent's own log (%d lines) lacks \"mqtt connected\"", len(own.Lines))
	}
}

// checkRejectedAttempt pushes an older version (refused): the status, on
// the controller and from edge-agent status, names 1.0.0 serving and the
// refused 0.9.0 apart; the module's rejections count it.
func checkRejectedAttempt(t *testing.T, f *fleet, w *watcher, data string, port int) {
	t.Helper()
	if out, reason, code := f.push(t, bin(t, "orders.wasm"), "0.9.0", "m1", port); code != 1 || !strings.Contains(reason, "rejected") {
		t.Fatalf("push of older 0.9.0 = exit %d (%s), want 1, rejected\n%s", code, reason, out)
	}
	eventually(t, "controller status with 1.0.0 serving and 0.9.0 rejected", func() bool {
		var d wire.Device
		status, body := call(t, "GET", f.control+wire.APIPrefix+"/devices/m1", "")
		if status != 200 || json.Unmarshal([]byte(body), &d) != nil || d.Status == nil || len(d.Status.Modules) != 1 {
			return false
		}
		ms := d.Status.Modules[0]
		return ms.Version == "1.0.0" && ms.State == wire.StateRunning && ms.Port == port &&
			ms.Attempt != nil && ms.Attempt.Version == "0.9.0" && ms.Attempt.State == wire.StateRejected && ms.Attempt.Reason != ""
	})
	out, err := exec.Command(bin(t, "edge-agent"), "status", "--data", data, "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Modules []struct {
			Name, Serving, State string
			Port                 int
			Attempt              *wire.ModuleAttempt
		}
	}
	if err := json.Unmarshal(out, &st); err != nil || len(st.Modules) != 1 {
		t.Fatalf("edge-agent status --json: %v\n%s", err, out)
	}
	if m := st.Modules[0]; m.Serving != "1.0.0" || m.State != wire.StateRunning || m.Port != port || m.Attempt == nil || m.Attempt.Version != "0.9.0" || m.Attempt.State != wire.StateRejected {
		t.Errorf("edge-agent status: %s", out)
	}
	text, _ := exec.Command(bin(t, "edge-agent"), "status", "--data", data).Output()
	if !bytes.Contains(text, []byte("0.9.0 rejected")) {
		t.Errorf("edge-agent status does not show the rejected attempt:\n%s", text)
	}
	w.waitMetrics(t, "m1", "one rejection on orders@1.0.0", func(m *wire.Metrics) bool {
		e := module(m, "orders", "1.0.0")
		return e != nil && e.Rejections == 1
	})
}

// checkWorkerRestart kills the worker: the next reports carry a new Start,
// counters from zero and one restart.
func checkWorkerRestart(t *testing.T, w *watcher, marker, base string, was time.Time) {
	t.Helper()
	var worker int
	for _, pid := range markedProcs(marker) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.HasSuffix(bytes.TrimRight(cmdline, "\x00"), []byte("\x00worker")) {
			worker = pid
		}
	}
	if worker == 0 {
		t.Fatal("no worker process found")
	}
	syscall.Kill(worker, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probes := 0            // each may reach the new worker: one that timed out here waited in the listener's queue
	for ctx.Err() == nil { // until the restarted worker serves
		probes++
		if status, _, err := harness.TryCall("GET", base+"/", "", 2*time.Second); err == nil && status == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := load(t, base+"/", 7); got[200] != 7 {
		t.Fatalf("after the restart: %v", got)
	}
	m := w.waitMetrics(t, "m1", "a new worker start with 7+ requests", func(m *wire.Metrics) bool {
		e := module(m, "orders", "1.0.0")
		return e != nil && e.Start.After(was) && e.Requests >= 7
	})
	e := module(&m, "orders", "1.0.0")
	// 7, plus the probe that found the restarted worker serving, plus any
	// earlier probe that gave up while queued for it (a loaded machine).
	if e.Requests != e.Latency.Count() || e.Requests < 7 || e.Requests > uint64(7+probes) || e.WorkerRestarts != 1 {
		t.Errorf("after a worker restart (%d probes): requests %d, histogram %d, restarts %d; want 7 to %d from zero, 1 restart",
			probes, e.Requests, e.Latency.Count(), e.WorkerRestarts, 7+probes)
	}
}

// checkDropped stops the controller (and its broker) for a few intervals:
// the reports made meanwhile are counted as dropped and their numbers
// skipped.
func checkDropped(t *testing.T, f *fleet, w *watcher) {
	t.Helper()
	before := w.waitMetrics(t, "m1", "any report", func(*wire.Metrics) bool { return true })
	w.mu.Lock()
	for _, m := range w.metrics {
		if m.Device == "m1" && m.Seq > before.Seq {
			before = m
		}
	}
	w.mu.Unlock()
	f.ctl.Stop(t)
	time.Sleep(4 * time.Second)
	f.startControl(t) // same ports: the agent and the watcher reconnect
	m := w.waitMetrics(t, "m1", "dropped reports", func(m *wire.Metrics) bool { return m.Agent.Dropped >= before.Agent.Dropped+2 })
	gap := m.Seq - before.Seq - 1
	if dropped := m.Agent.Dropped - before.Agent.Dropped; gap < dropped || m.Agent.Reconnects < 1 || !m.Agent.Connected {
		t.Errorf("after 4s without a broker: %d dropped, seq %d → %d (gap %d), reconnects %d; want the gap ≥ dropped ≥ 2 and a reconnect",
			dropped, before.Seq, m.Seq, gap, m.Agent.Reconnects)
	}
	t.Logf("broker down 4s: %d reports dropped, seq %d → %d", m.Agent.Dropped-before.Agent.Dropped, before.Seq, m.Seq)
}
