package fleet

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Metrics ingest. Reports are taken off the MQTT client's delivery
// goroutine at once (a copy into a bounded queue; full: dropped and
// counted), then decoded, checked and applied by ingestShards workers, each
// owning the devices that hash to it, so one device's reports stay in order
// and no device waits for another's lock. Nothing touches the database per
// report: the history and the latest reports are written once a minute in
// one transaction (flush.go).
//
//	MQTT ──▶ queue (drop when full) ──▶ shard worker: decode, check, apply ──▶ memory
//	                                                                             │ each minute
//	                                                                             ▼
//	                                                                     store (history, latest)
const (
	ingestShards = 2
	shardQueue   = 2048
)

// IngestStats are the ingest counters, cumulative since the controller
// started.
type IngestStats struct {
	Received  uint64 // reports taken from MQTT
	Applied   uint64 // accepted and applied
	Malformed uint64 // not valid JSON, failing wire.Metrics.Validate, or naming another device
	Unknown   uint64 // from a device neither registered nor seen
	Late      uint64 // older than the device's latest (Seq, agent Start): dropped
	Lost      uint64 // gaps in Seq: reports that never arrived
	Dropped   uint64 // queue full: the controller is behind
	Capped    uint64 // module entries left out by the label bounds
	Resets    uint64 // module counters that restarted (worker restart)
	Queued    int    // reports waiting now
	// Lag is the time from arrival to applied, per report.
	Lag wire.Histogram
}

type rawReport struct {
	device   string
	payload  []byte
	received time.Time
}

// metricsState is the in-memory side of ingest.
type metricsState struct {
	shards []chan rawReport

	mu      sync.RWMutex
	devices map[string]*deviceMetrics
	points  map[pointKey]*store.Counts // history of minutes not stored yet

	received, applied, malformed, unknown, late, lost, dropped, capped, resets atomic.Uint64

	lagMu sync.Mutex
	lag   wire.Histogram
}

// pointKey names one minute of one history series (module "": the agent).
type pointKey struct {
	device, module string
	minute         int64 // unix seconds
}

func newMetricsState() *metricsState {
	m := &metricsState{devices: map[string]*deviceMetrics{}, points: map[pointKey]*store.Counts{}, lag: wire.NewHistogram()}
	for range ingestShards {
		m.shards = append(m.shards, make(chan rawReport, shardQueue))
	}
	return m
}

// queueMetrics hands a report to its device's shard without waiting.
func (f *Fleet) queueMetrics(id string, payload []byte) {
	m := f.metrics
	m.received.Add(1)
	h := fnv.New32a()
	h.Write([]byte(id))
	r := rawReport{device: id, payload: payload, received: f.now()}
	select {
	case m.shards[h.Sum32()%uint32(len(m.shards))] <- r:
	default:
		if m.dropped.Add(1)%1000 == 1 {
			f.log.Warn("metrics ingest behind: reports dropped (queue full)", "device", id, "dropped_total", m.dropped.Load())
		}
	}
}

// runIngest applies queued reports until ctx is done.
func (f *Fleet) runIngest(ctx context.Context, shard chan rawReport) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-shard:
			f.ingestMetrics(ctx, r)
		}
	}
}

var (
	errLate    = errors.New("late report")
	errUnknown = errors.New("unknown device")
)

func (f *Fleet) ingestMetrics(ctx context.Context, r rawReport) {
	m := f.metrics
	if f.removed.has(r.device) {
		return // queued before the device was removed: its series stay gone
	}
	log := f.log.With("device", r.device, "kind", wire.KindMetrics)
	var rep wire.Metrics
	if !decode(log, r.device, r.payload, &rep, &rep.Device) {
		m.malformed.Add(1)
		return
	}
	if err := rep.Validate(); err != nil {
		log.Warn("metrics dropped", "err", err)
		m.malformed.Add(1)
		return
	}
	if !f.inv.known(ctx, f.store, r.device) {
		if m.unknown.Add(1)%100 == 1 {
			log.Warn("metrics dropped: device neither registered nor seen")
		}
		return
	}
	desired, serving := f.inv.moduleNames(r.device)
	if err := m.apply(&rep, r.received, desired, serving); err != nil {
		log.Debug("metrics dropped", "err", err, "seq", rep.Seq)
		return
	}
	m.applied.Add(1)
	f.observeRollouts(&rep) // the gates of staged rollouts (rollout.go)
	m.lagMu.Lock()
	m.lag.Observe(f.now().Sub(r.received))
	m.lagMu.Unlock()
}

// apply folds one checked report into the device's state and the
// history of the current minute.
func (m *metricsState) apply(rep *wire.Metrics, received time.Time, desired map[string]bool, serving map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.devices[rep.Device]
	if d == nil {
		d = &deviceMetrics{series: map[seriesKey]*Series{}}
		m.devices[rep.Device] = d
	}
	if p := d.last; p != nil {
		sameAgent := p.Agent.Start.Equal(rep.Agent.Start)
		older := rep.Seq <= p.Seq
		if rep.Seq == 0 || p.Seq == 0 { // unnumbered: the agent's clock orders them
			older = !rep.Time.After(p.Time)
		}
		if (sameAgent && older) || (!sameAgent && rep.Agent.Start.Before(p.Agent.Start)) {
			m.late.Add(1)
			return errLate
		}
		if sameAgent && p.Seq > 0 && rep.Seq > p.Seq+1 {
			m.lost.Add(rep.Seq - p.Seq - 1)
		}
	}
	res := d.apply(rep, received, desired, serving)
	m.capped.Add(uint64(res.capped))
	m.resets.Add(uint64(res.resets))
	minute := received.Unix() - received.Unix()%store.StepMinute
	if res.agent.Seconds > 0 {
		m.point(pointKey{rep.Device, "", minute}).Add(&res.agent)
	}
	for name, c := range res.modules {
		m.point(pointKey{rep.Device, name, minute}).Add(c)
	}
	return nil
}

func (m *metricsState) point(k pointKey) *store.Counts {
	c := m.points[k]
	if c == nil {
		c = &store.Counts{}
		m.points[k] = c
	}
	return c
}

// Stats returns the ingest counters.
func (f *Fleet) IngestStats() IngestStats {
	m := f.metrics
	s := IngestStats{
		Received: m.received.Load(), Applied: m.applied.Load(), Malformed: m.malformed.Load(),
		Unknown: m.unknown.Load(), Late: m.late.Load(), Lost: m.lost.Load(), Dropped: m.dropped.Load(),
		Capped: m.capped.Load(), Resets: m.resets.Load(),
	}
	for _, q := range m.shards {
		s.Queued += len(q)
	}
	m.lagMu.Lock()
	s.Lag = wire.Histogram{Counts: append([]uint64(nil), m.lag.Counts...), Sum: m.lag.Sum}
	m.lagMu.Unlock()
	return s
}

// seed sets a device's latest report as stored (at start): the next
// report's increases are computed against it, and its counters are the
// starting totals.
func (m *metricsState) seed(rep *wire.Metrics, received time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := &deviceMetrics{series: map[seriesKey]*Series{}}
	d.apply(rep, received, nil, nil)
	d.dirty = false
	m.devices[rep.Device] = d
}
