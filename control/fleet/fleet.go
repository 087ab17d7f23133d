package fleet

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Errors Deploy returns; the API maps them to 400.
var (
	ErrBadRequest   = errors.New("bad deployment request")
	ErrUnknownBlob  = errors.New("module blob not uploaded")
	ErrBlobMismatch = errors.New("module blob does not match the manifest")
	ErrNoTargets    = errors.New("manifest targets no device")
	ErrUntrusted    = errors.New("manifest signature not trusted")
	// ErrUnknownDevice: a target names a device that never registered nor
	// reported (a typo, or a board not set up yet: allow_unregistered).
	ErrUnknownDevice = errors.New("device not registered")
)

// Publisher publishes an MQTT message and waits for the broker to take it.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// Config configures a Fleet.
type Config struct {
	Store     *store.Store
	Publisher Publisher // may be set later with SetPublisher
	// Trust, when not nil, makes Deploy verify envelopes against it.
	Trust  wire.Keyring
	Logger *slog.Logger
	Now    func() time.Time // time.Now by default
	// DeployTimeout is how long after its creation a deployment may take:
	// then every device that has not reached a terminal state is marked
	// timed_out. DefaultDeployTimeout if zero.
	DeployTimeout time.Duration
	// RolloutTick is how often live rollouts advance (their gates are
	// evaluated); DefaultRolloutTick if zero.
	RolloutTick time.Duration
	// Holder names this controller in the leader lease (leader.go);
	// host/pid/random if empty. LeaseTTL is the lease's TTL,
	// DefaultLeaseTTL if zero.
	Holder   string
	LeaseTTL time.Duration
}

// DefaultDeployTimeout bounds a deployment when Config.DeployTimeout is
// zero: the time Kubernetes gives a rollout to make progress
// (progressDeadlineSeconds), long enough for a cold compile on a slow
// board and a device that reboots, short enough that a push to an offline
// device ends the same day.
const DefaultDeployTimeout = 10 * time.Minute

// Fleet is the controller's fleet logic. Run must be running for fetch
// requests to be served.
type Fleet struct {
	store   *store.Store
	trust   wire.Keyring
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration

	conflicts conflicts // device ids used by two agents (conflict.go)

	labelWarned labelWarnings // agents' labels dropped, logged once (labels.go)

	pubMu sync.RWMutex
	pub   Publisher

	removed removedSet // devices removed: ingest drops their messages (remove.go)

	// deployMu serializes "store new desired state, hand it to the
	// publisher", so the inventory sees a device's states in the order of
	// their generations (the publisher orders its publishes by generation
	// itself: publish.go).
	deployMu sync.Mutex

	lead          leadership
	queue         *publishQueue    // desired states for the publisher (publish.go)
	desiredMu     sync.Mutex       // one batch of desired-state publishes at a time
	lastPublished map[string]int64 // device → generation this leader published
	unmarked      map[string]int64 // published, not recorded in the store yet

	fetches *fetchQueue
	reports *reportQueue // statuses and events not stored yet (reports.go)
	chunks  *chunkCache  // frames of the chunks served lately (chunkcache.go)

	metrics *metricsState // metrics ingest and the history not stored yet
	inv     *inventory    // statuses, desired modules and events, in memory
	logs    *logWaiters   // log requests waiting for their answer

	evMu      sync.Mutex
	lastEvent time.Time // arrival time of the newest stored event
	evCount   int

	// rolloutMu serializes the steps of rollouts: the loop's and the
	// operator's actions. liveMu guards live, the gates in memory, which
	// metrics reports feed.
	rolloutMu   sync.Mutex
	rolloutTick time.Duration
	rolloutKick chan struct{}
	liveMu      sync.Mutex
	live        map[string]*live
}

// New returns a Fleet.
func New(cfg Config) *Fleet {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeployTimeout <= 0 {
		cfg.DeployTimeout = DefaultDeployTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RolloutTick <= 0 {
		cfg.RolloutTick = DefaultRolloutTick
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Holder == "" {
		cfg.Holder = newHolder()
	}
	f := &Fleet{
		store:   cfg.Store,
		trust:   cfg.Trust,
		log:     cfg.Logger,
		now:     cfg.Now,
		timeout: cfg.DeployTimeout,
		pub:     cfg.Publisher,
		fetches: newFetchQueue(),
		reports: newReportQueue(),
		chunks:  newChunkCache(chunkCacheBytes),
		metrics: newMetricsState(),
		inv:     newInventory(),
		logs:    newLogWaiters(),

		lead:          leadership{holder: cfg.Holder, ttl: cfg.LeaseTTL},
		queue:         newPublishQueue(),
		lastPublished: map[string]int64{},
		unmarked:      map[string]int64{},

		rolloutTick: cfg.RolloutTick,
		rolloutKick: make(chan struct{}, 1),
		live:        map[string]*live{},
	}
	if f.store != nil {
		f.store.SetPublisher(f.Leading)
	}
	return f
}

// SetPublisher sets the MQTT publisher (the client is created after the
// fleet, because its handlers call into it).
func (f *Fleet) SetPublisher(p Publisher) {
	f.pubMu.Lock()
	f.pub = p
	f.pubMu.Unlock()
}

func (f *Fleet) publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	f.pubMu.RLock()
	p := f.pub
	f.pubMu.RUnlock()
	if p == nil {
		return errors.New("publish " + topic + ": no MQTT client yet")
	}
	return p.Publish(ctx, topic, qos, retained, payload)
}

// fetchWorkers serve fetch requests concurrently, so one large transfer
// does not hold up the others; each has up to fetchInFlight chunks awaiting
// the broker's PUBACK. When each waited for the PUBACK of every chunk
// before the next, 4 workers took a push of orders.wasm to 1,000 simulated
// devices in 39.5 s (Mosquitto) and 33.1 s (embedded broker), 16 in 22.9 s
// and 28.7 s (make fleetbench's setup, 1,500 devices, docs/BENCHMARKS.md).
const fetchWorkers = 16

// Run serves fetch requests, times out overdue deployments, drives staged
// rollouts, applies metrics reports and stores their history until ctx is
// done; it then stores what is still in memory.
func (f *Fleet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { f.runLeader(ctx) })
	wg.Go(func() { f.runPublisher(ctx) })
	wg.Go(func() { f.sweep(ctx) })
	wg.Go(func() { f.runRollouts(ctx) })
	for _, shard := range f.metrics.shards {
		wg.Go(func() { f.runIngest(ctx, shard) })
	}
	wg.Go(func() { f.runFlush(ctx) })
	wg.Go(func() { f.runReports(ctx) })
	for range fetchWorkers {
		wg.Go(func() { f.runFetches(ctx) })
	}
	wg.Wait()
}

// logger is the part of *slog.Logger the ingestion helpers use.
type logger interface {
	Debug(string, ...any)
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
}
