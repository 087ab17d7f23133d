package server

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// simAgent acts as an agent over real MQTT for the controller's tests: it
// applies each desired state it receives at once (reports running for
// every module entry; a removed module stops), publishes its status, and
// publishes wire.Metrics every period with the counters of the version it
// serves, which answers as its behaviour says. It verifies no signature:
// the agent's checks are tested with real agents in tests/e2e.
type simAgent struct {
	t        *testing.T
	id, pw   string
	labels   map[string]string
	period   time.Duration
	behave   func(version string) (requests, errs uint64, latency time.Duration) // per period
	agentRun time.Time

	mu       sync.Mutex
	c        paho.Client
	desired  []wire.DesiredState
	serving  map[string]*simWorker // module → worker
	seq      uint64
	stop     chan struct{}
	stopOnce sync.Once
}

type simWorker struct {
	version, sha, deployment string
	start                    time.Time
	requests, errs           uint64
	hist                     wire.Histogram
}

func newSimAgent(t *testing.T, id, pw string, labels map[string]string) *simAgent {
	a := &simAgent{t: t, id: id, pw: pw, labels: labels, period: 100 * time.Millisecond, agentRun: time.Now().UTC(),
		serving: map[string]*simWorker{}, stop: make(chan struct{}),
		behave: func(string) (uint64, uint64, time.Duration) { return 20, 0, 2 * time.Millisecond }}
	t.Cleanup(a.close)
	return a
}

// connect connects to broker (again, after a controller restart) and
// starts reporting.
func (a *simAgent) connect(broker string) {
	a.t.Helper()
	will, _ := json.Marshal(wire.Status{Device: a.id, Online: false})
	opts := dialOpts(broker, a.id, a.pw, a.id).SetWill(wire.DeviceTopic(a.id, wire.KindStatus), string(will), 1, true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		a.t.Fatalf("sim %s connect: %v", a.id, tok.Error())
	}
	a.mu.Lock()
	old := a.c
	a.c = c
	a.mu.Unlock()
	if old != nil {
		old.Disconnect(0)
	} else {
		go a.report()
	}
	tok := c.Subscribe(wire.DeviceTopic(a.id, wire.KindDesired), 1, func(_ paho.Client, m paho.Message) {
		var ds wire.DesiredState
		if len(m.Payload()) == 0 || wire.Decode(m.Payload(), &ds) != nil {
			return
		}
		a.apply(ds)
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		a.t.Fatalf("sim %s subscribe: %v", a.id, tok.Error())
	}
	a.publishStatus()
}

func (a *simAgent) close() {
	a.stopOnce.Do(func() {
		close(a.stop)
		a.mu.Lock()
		if a.c != nil {
			a.c.Disconnect(0)
		}
		a.mu.Unlock()
	})
}

// apply runs ds: a new version of a module starts a new worker (counters
// from zero, a new Start), reported running under its deployment.
func (a *simAgent) apply(ds wire.DesiredState) {
	a.mu.Lock()
	a.desired = append(a.desired, ds)
	want := map[string]bool{}
	var events []wire.Event
	for _, dm := range ds.Modules {
		m, err := wire.ParseManifest(dm.Envelope.Payload)
		if err != nil {
			continue
		}
		want[m.Name] = true
		w := a.serving[m.Name]
		if w == nil || w.version != m.Version || w.sha != m.SHA256 {
			a.serving[m.Name] = &simWorker{version: m.Version, sha: m.SHA256, deployment: dm.Deployment,
				start: time.Now().UTC(), hist: wire.NewHistogram()}
		} else {
			w.deployment = dm.Deployment
		}
		events = append(events, wire.Event{Device: a.id, Deployment: dm.Deployment, Module: m.Name, Version: m.Version,
			State: wire.StateRunning, Time: time.Now().UTC()})
	}
	for name := range a.serving {
		if !want[name] {
			delete(a.serving, name)
		}
	}
	c := a.c
	a.mu.Unlock()
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		c.Publish(wire.DeviceTopic(a.id, wire.KindEvents), 1, false, b).WaitTimeout(5 * time.Second)
	}
	a.publishStatus()
}

func (a *simAgent) publishStatus() {
	a.mu.Lock()
	st := wire.Status{Device: a.id, Online: true, Time: time.Now().UTC(), Labels: a.labels}
	for _, ds := range a.desired {
		st.Generation = max(st.Generation, ds.Generation)
	}
	for name, w := range a.serving {
		st.Modules = append(st.Modules, wire.ModuleStatus{Name: name, Version: w.version, SHA256: w.sha,
			State: wire.StateRunning, Deployment: w.deployment, Since: w.start})
	}
	c := a.c
	a.mu.Unlock()
	b, _ := json.Marshal(st)
	c.Publish(wire.DeviceTopic(a.id, wire.KindStatus), 1, true, b).WaitTimeout(5 * time.Second)
}

// report publishes metrics every period until closed.
func (a *simAgent) report() {
	t := time.NewTicker(a.period)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		a.mu.Lock()
		a.seq++
		m := wire.Metrics{Device: a.id, Time: time.Now().UTC(), Seq: a.seq, Agent: wire.AgentMetrics{Start: a.agentRun, Arch: "amd64"}}
		for name, w := range a.serving {
			n, e, lat := a.behave(w.version)
			for range n {
				w.hist.Observe(lat)
			}
			w.requests += n
			w.errs += e
			m.Modules = append(m.Modules, wire.ModuleMetrics{Name: name, Version: w.version, Start: w.start,
				Requests: w.requests, Responses2xx: w.requests - w.errs, Responses5xx: w.errs,
				Latency: wire.Histogram{Counts: append([]uint64(nil), w.hist.Counts...), Sum: w.hist.Sum}})
		}
		c := a.c
		a.mu.Unlock()
		b, _ := json.Marshal(m)
		if c != nil && c.IsConnectionOpen() {
			c.Publish(wire.DeviceTopic(a.id, wire.KindMetrics), 0, false, b)
		}
	}
}

// generations lists the desired generations the sim received.
func (a *simAgent) generations() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var g []int64
	for _, ds := range a.desired {
		g = append(g, ds.Generation)
	}
	return g
}

// serves returns the version of module the sim serves ("" for none).
func (a *simAgent) serves(module string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.serving[module]; w != nil {
		return w.version
	}
	return ""
}

// lastDesired is the newest desired state received.
func (a *simAgent) lastDesired() wire.DesiredState {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last wire.DesiredState
	for _, ds := range a.desired {
		if ds.Generation >= last.Generation {
			last = ds
		}
	}
	return last
}

// fleetOf registers and connects n sim agents named prefix-1..n.
func fleetOf(t *testing.T, s *Server, prefix string, n int) []*simAgent {
	var out []*simAgent
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		a := newSimAgent(t, id, register(t, s, id), nil)
		a.connect("tcp://" + s.MQTTAddr())
		out = append(out, a)
	}
	return out
}

// freeTCPPort returns a loopback port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}
