package devsim

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Device is one simulated agent. Its exported methods publish exactly
// what they are given (tests use them for reports with known values);
// Tick advances its simulated counters and publishes a metrics report as
// an agent does at each interval.
type Device struct {
	ID       string
	password string
	sim      *Sim

	mu         sync.Mutex
	conn       *conn
	agentStart time.Time
	seq        uint64
	generation int64
	modules    map[string]*module // serving, by name
	labels     map[string]string
	cpu        float64
	reconnects uint64
	logs       []wire.LogLine // ring of the latest lines, oldest first
	rng        *rand.Rand
	applyMu    sync.Mutex                 // one desired state at a time
	fetches    map[string]chan wire.Chunk // by blob sha256, while fetching (FetchBlobs)
	fetched    int64                      // module bytes received (FetchBlobs)
}

type module struct {
	deployment, sha string
	port            int
	lastGood        string
	since           time.Time
	m               wire.ModuleMetrics
}

// maxLogs bounds a simulated device's log ring.
const maxLogs = 200

func newDevice(s *Sim, id, password string, seed uint64) *Device {
	return &Device{ID: id, password: password, sim: s, modules: map[string]*module{}, labels: s.cfg.Labels,
		agentStart: time.Now().UTC(), rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// Connect connects as the agent does: client id and username are the
// device id, a retained Status{Online: false} as the Last Will, subscribed
// to its desired state and log requests, then its retained status.
func (d *Device) Connect(ctx context.Context) error {
	w, _ := json.Marshal(wire.Status{Device: d.ID, Online: false})
	c, err := dial(ctx, d.sim.cfg.Broker, d.ID, d.password, &will{topic: wire.DeviceTopic(d.ID, wire.KindStatus), payload: w},
		30*time.Second, d.onPublish)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	filters := []string{wire.DeviceTopic(d.ID, wire.KindDesired), wire.DeviceTopic(d.ID, wire.KindLogReq)}
	if d.sim.cfg.FetchBlobs {
		filters = append(filters, wire.DeviceTopic(d.ID, wire.KindChunks))
	}
	if err := c.subscribe(ctx, filters...); err != nil {
		c.close(err)
		return fmt.Errorf("device %s: subscribe: %w", d.ID, err)
	}
	return d.PublishStatus(ctx, d.Status())
}

// Close disconnects cleanly (the broker does not publish the Will).
func (d *Device) Close() {
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		c.disconnect()
	}
}

// Drop closes the connection without a DISCONNECT: the broker publishes
// the Will, as for a board that lost power.
func (d *Device) Drop() {
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		c.close(ErrClosed)
	}
}

func (d *Device) publish(ctx context.Context, kind string, qos byte, retain bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c == nil {
		return ErrClosed
	}
	return c.publish(ctx, wire.DeviceTopic(d.ID, kind), qos, retain, b)
}

// PublishStatus publishes st as the retained status, QoS 1.
func (d *Device) PublishStatus(ctx context.Context, st wire.Status) error {
	return d.publish(ctx, wire.KindStatus, 1, true, st)
}

// PublishMetrics publishes m at QoS 0, as agents do.
func (d *Device) PublishMetrics(ctx context.Context, m wire.Metrics) error {
	return d.publish(ctx, wire.KindMetrics, 0, false, m)
}

// PublishEvent publishes ev at QoS 1.
func (d *Device) PublishEvent(ctx context.Context, ev wire.Event) error {
	if ev.Device == "" {
		ev.Device = d.ID
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	return d.publish(ctx, wire.KindEvents, 1, false, ev)
}

// Status is the device's status now, in the wire contract's terms.
func (d *Device) Status() wire.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := wire.Status{Device: d.ID, Online: true, Time: time.Now().UTC(), AgentVersion: d.sim.cfg.AgentVersion,
		Arch: d.sim.cfg.Arch, Board: d.sim.cfg.Board, Engine: "compiler", Labels: d.labels, Generation: d.generation}
	for name, m := range d.modules {
		st.Modules = append(st.Modules, wire.ModuleStatus{Name: name, Version: m.m.Version, SHA256: m.sha, State: wire.StateRunning,
			Port: m.port, Since: m.since, Deployment: m.deployment, LastGood: m.lastGood})
	}
	slices.SortFunc(st.Modules, func(a, b wire.ModuleStatus) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// onPublish runs on the connection's reader: anything that publishes
// (and so waits for an acknowledgement that reader delivers) goes to its
// own goroutine.
func (d *Device) onPublish(topic string, payload []byte) {
	_, kind, err := wire.ParseDeviceTopic(topic)
	if err != nil {
		return
	}
	switch kind {
	case wire.KindDesired:
		var ds wire.DesiredState
		if len(payload) == 0 || wire.Decode(payload, &ds) != nil || ds.Device != d.ID {
			return
		}
		go d.apply(ds)
	case wire.KindLogReq:
		var req wire.LogRequest
		if wire.Decode(payload, &req) != nil || req.Validate() != nil {
			return
		}
		go d.answerLogs(req)
	case wire.KindChunks:
		d.onChunk(payload)
	}
}

// apply acts on a desired state as an agent that deploys every module
// successfully (or as Config.Outcome says): each new version goes
// through the deployment steps with their events, then serves; modules no
// longer desired stop. The status follows.
func (d *Device) apply(ds wire.DesiredState) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.mu.Lock()
	if ds.Generation <= d.generation {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	want := map[string]bool{}
	for _, dm := range ds.Modules {
		m, err := wire.ParseManifest(dm.Envelope.Payload)
		if err != nil {
			continue
		}
		want[m.Name] = true
		d.deploy(ctx, dm.Deployment, m, &dm.Blob)
	}
	d.mu.Lock()
	var stopped []string
	for name := range d.modules {
		if !want[name] {
			delete(d.modules, name)
			stopped = append(stopped, name)
		}
	}
	d.generation = ds.Generation
	d.mu.Unlock()
	for _, name := range stopped {
		d.PublishEvent(ctx, wire.Event{Module: name, State: wire.StateStopped, Reason: "no longer desired"})
	}
	d.PublishStatus(ctx, d.Status())
}

func (d *Device) deploy(ctx context.Context, deployment string, m *wire.Manifest, blob *wire.BlobRef) {
	d.mu.Lock()
	cur := d.modules[m.Name]
	d.mu.Unlock()
	if cur != nil && cur.m.Version == m.Version {
		return
	}
	state, reason := wire.StateRunning, ""
	if f := d.sim.cfg.Outcome; f != nil {
		state, reason = f(d.ID, m)
	}
	steps := []string{wire.StateFetching, wire.StateVerifying, wire.StateCompiling, wire.StateStarting, wire.StateProbing}
	if state == wire.StateRejected {
		steps = nil
	}
	for _, s := range steps {
		d.PublishEvent(ctx, wire.Event{Deployment: deployment, Module: m.Name, Version: m.Version, State: s, Millis: int64(d.rng.IntN(50))})
		if s != wire.StateFetching || !d.sim.cfg.FetchBlobs {
			continue
		}
		n, err := d.fetch(ctx, blob)
		d.mu.Lock()
		d.fetched += n
		d.mu.Unlock()
		if err != nil {
			state, reason = wire.StateFailed, err.Error()
			break
		}
	}
	d.PublishEvent(ctx, wire.Event{Deployment: deployment, Module: m.Name, Version: m.Version, State: state, Reason: reason})
	d.log(m.Name, m.Version, "INFO", fmt.Sprintf("deployment %s of %s %s: %s %s", deployment, m.Name, m.Version, state, reason))
	if state != wire.StateRunning {
		return
	}
	now := time.Now().UTC()
	nm := &module{deployment: deployment, sha: m.SHA256, port: m.Port, since: now,
		m: wire.ModuleMetrics{Name: m.Name, Version: m.Version, Start: now, Latency: wire.NewHistogram(), Instances: 1, RSSBytes: 40 << 20}}
	if cur != nil {
		nm.lastGood = cur.m.Version
	}
	d.mu.Lock()
	d.modules[m.Name] = nm
	d.mu.Unlock()
}

// log adds a line to the device's ring.
func (d *Device) log(module, version, level, msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logs = append(d.logs, wire.LogLine{Time: time.Now().UTC(), Level: level, Version: version, Msg: module + ": " + msg})
	if len(d.logs) > maxLogs {
		d.logs = d.logs[len(d.logs)-maxLogs:]
	}
}

// answerLogs answers a log request from the ring: the lines of the module
// (their message starts with its name; "" is the agent, all lines) after
// Since, oldest first, at most Max.
func (d *Device) answerLogs(req wire.LogRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	limit := req.Max
	if limit == 0 {
		limit = wire.MaxLogLines
	}
	b := wire.LogBatch{Device: d.ID, ID: req.ID, Module: req.Module, Lines: []wire.LogLine{}}
	d.mu.Lock()
	for _, l := range d.logs {
		if !l.Time.After(req.Since) || (req.Module != "" && !strings.HasPrefix(l.Msg, req.Module+": ")) {
			continue
		}
		if len(b.Lines) == limit {
			b.More = true
			break
		}
		b.Lines = append(b.Lines, l)
	}
	d.mu.Unlock()
	d.publish(ctx, wire.KindLogs, 1, false, b)
}

// latencyShares is the share of requests per latency bucket: a
// log-normal with a median of 2 ms and a long tail, as a small HTTP
// service on a board answers.
var latencyShares = func() []float64 {
	const mu, sigma = -6.2, 0.9 // ln(seconds): median ~2 ms
	cdf := func(x float64) float64 { return 0.5 * math.Erfc(-(math.Log(x)-mu)/(sigma*math.Sqrt2)) }
	shares := make([]float64, len(wire.LatencyBuckets)+1)
	prev := 0.0
	for i, le := range wire.LatencyBuckets {
		c := cdf(le)
		shares[i], prev = c-prev, c
	}
	shares[len(wire.LatencyBuckets)] = 1 - prev
	return shares
}()

// Tick advances the simulated counters by elapsed at the configured
// request rate and publishes a metrics report.
func (d *Device) Tick(ctx context.Context, elapsed time.Duration) error {
	m := d.advance(elapsed)
	return d.PublishMetrics(ctx, m)
}

func (d *Device) advance(elapsed time.Duration) wire.Metrics {
	cfg := &d.sim.cfg
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.cpu += elapsed.Seconds() * 0.002 * (0.5 + d.rng.Float64())
	m := wire.Metrics{Device: d.ID, Time: time.Now().UTC(), Seq: d.seq, Agent: wire.AgentMetrics{
		Start: d.agentStart, Version: cfg.AgentVersion, Board: cfg.Board, Arch: cfg.Arch, Engine: "compiler",
		RSSBytes: 11<<20 + d.rng.Int64N(1<<20), PSSBytes: 5 << 20, CPUSeconds: d.cpu,
		DiskFree: 6 << 30, DiskTotal: 8 << 30, Connected: true, Reconnects: d.reconnects}}
	names := make([]string, 0, len(d.modules))
	for n := range d.modules {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		mod := d.modules[n]
		mm := &mod.m
		mean := cfg.RequestRate * elapsed.Seconds()
		k := uint64(max(0, math.Round(mean*(0.8+0.4*d.rng.Float64()))))
		errs := uint64(math.Round(float64(k) * cfg.ErrorRatio))
		client := k / 50
		mm.Requests += k
		mm.Responses5xx += errs
		mm.Responses4xx += client
		mm.Responses2xx += k - errs - client
		left := k
		for i, s := range latencyShares {
			c := min(left, uint64(math.Round(float64(k)*s)))
			if i == len(latencyShares)-1 {
				c = left
			}
			mm.Latency.Counts[i] += c
			left -= c
			lo := 0.0
			if i > 0 {
				lo = wire.LatencyBuckets[i-1]
			}
			hi := wire.LatencyBuckets[min(i, len(wire.LatencyBuckets)-1)]
			mm.Latency.Sum += float64(c) * (lo + hi) / 2
		}
		mm.CPUSeconds += float64(k) * 0.0004
		mm.SQLCalls += k
		mm.SQLSeconds += float64(k) * 0.0003
		mm.RSSBytes = 40<<20 + d.rng.Int64N(8<<20)
		mm.Instances = 2
		cp := *mm
		cp.Latency.Counts = slices.Clone(mm.Latency.Counts)
		m.Modules = append(m.Modules, cp)
		if k > 0 {
			d.logs = append(d.logs, wire.LogLine{Time: m.Time, Level: "INFO", Version: mm.Version,
				Msg: fmt.Sprintf("%s: %d requests in %s, %d 5xx", n, k, elapsed.Round(time.Millisecond), errs)})
		}
	}
	if len(d.logs) > maxLogs {
		d.logs = d.logs[len(d.logs)-maxLogs:]
	}
	return m
}

// Serve makes the device serve module name at version with no deployment
// (as a device restored from its own disk would), for tests and for
// simulators started without a controller push.
func (d *Device) Serve(name, version string, port int) {
	now := time.Now().UTC()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.modules[name] = &module{port: port, since: now,
		m: wire.ModuleMetrics{Name: name, Version: version, Start: now, Latency: wire.NewHistogram(), Instances: 1, RSSBytes: 40 << 20}}
}
