// Package supervisor runs module versions in worker processes (the agent
// binary re-executed with the hidden "worker" subcommand; see package
// worker) and implements reconcile.Deployer.
//
// The supervisor owns one listening socket per port, created once and kept
// across versions, and hands it to each worker as a file descriptor: the
// worker accepts on it directly, nothing is proxied. A switch from v1 to v2
// starts v2 on the same socket, gated: v2 serves only a private listener of
// its own until the switch. The supervisor waits for v2's ready heartbeat,
// probes it on the private listener, then opens v2's gate (v2 accepts from
// the shared socket) and sends v1 SIGTERM (it drains). Both accept from the
// same socket for a moment, so no connection is refused, and v2 takes no
// client request, nor any client write, before it passed its probe.
// During a grace period after the switch, a v2 crash or a high 5xx rate
// restarts v1 and drains v2 again: reconcile.ErrRolledBack.
//
//	start v2 (gated) ─▶ ready ─▶ probe ─▶ switch: note the data, open v2's gate, drain v1
//	      │                        │                │
//	      └── fails ───────────────┴─▶ failed       └─ grace: crash / 5xx ─▶ restart v1, drain v2 ─▶ rolled_back
//
// # A rollback is of code, never of data
//
// A module's database is never restored by the platform: every 200 a
// client got is a confirmed write, whichever version answered it, and a
// remote MySQL shared by several devices could not be restored by one of
// them anyway. Schema changes are the module's job and must be backward
// compatible (expand/contract: the old version must run on the schema the
// new one leaves). What the supervisor does instead, at the switch (right
// before v2's gate opens): it notes the schema (a fingerprint of
// sqlite_schema and PRAGMA schema_version, or of MySQL's
// information_schema for the bound database) and, for a SQLite binding,
// writes a safety copy of the database with VACUUM INTO, crash-safely, to
// DATA/modules/NAME/safety-copy.db (the last switch only), for an operator
// to recover from by hand. A rollback's error then says that the data was
// kept, how many writes v2 committed (each worker counts them and reports
// them in its heartbeat; the count is "at least" when a worker was killed
// before its final heartbeat), whether the schema changed since the
// switch, and where the safety copy is.
//
// Each worker writes a heartbeat every 100 ms; a worker silent for
// Config.Silence, or with a guest call older than its deadline + 1s (a
// runaway guest, which compiled wazero code never preempts: a request, or
// an instance's _initialize, while loading or refilling the pool), is killed
// with SIGKILL and restarted with back-off. CrashLimit crashes within
// CrashWindow mark the version unhealthy (Config.OnUnhealthy).
//
// Each worker's stdout and stderr go through a pipe the supervisor reads:
// every line is copied to Config.Stderr and kept in the module's log ring
// (Config.Logs). ModuleMetrics reports each version's metrics (from the
// heartbeats, with restarts and the worker's /proc memory and CPU), and
// ServingChanged tells when what serves changes.
//
// Modules reach MQTT through the supervisor (Config.Bus, the agent's
// session): each worker has a host link (fd 7, package hostlink) over
// which its guest publishes, in the module's namespace, and receives the
// messages of its manifest's filters from a queue per module that the
// supervisor delivers to the version serving, and its timers' ticks
// (msgqueue.go, triggers.go; docs/ABI.md 3.1 and 3.2).
//
// Each worker can be capped in memory (Config.WorkerMemory) through a
// cgroup v2 child of the agent's cgroup; see memcap.go for the mechanism
// and why there is no GOMEMLIMIT or RLIMIT_AS fallback.
package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/agent/logring"
	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/wire"
)

// Config configures a Supervisor. Zero values take the defaults noted.
type Config struct {
	Exe  string   // the agent binary; os.Executable()
	Args []string // arguments that make it a worker; ["worker"]

	DataDir string // sqlite bindings live in DATA/modules/NAME/data.db
	// Pool and MemoryPages apply when a manifest sets no limit of its own
	// (the board profile's values); zero: the runtime's defaults.
	Pool        int
	MemoryPages uint32
	CacheDir    string            // compilation cache shared by workers
	Engine      string            // auto, compiler or interpreter; auto
	DBs         map[string]string // named database bindings → DSN
	// ListenHost is the address modules are served on; "" = all interfaces.
	ListenHost string

	ReadyTimeout time.Duration // a new version must report ready within; 60s
	ProbeTimeout time.Duration // 5s
	// Grace is how long after a switch a crash or a high 5xx rate of the
	// new version switches back; 5s. Negative: no grace period.
	Grace       time.Duration
	ErrorRate   float64       // 5xx share that rolls back during Grace; 0.5
	MinRequests uint64        // responses needed before ErrorRate counts; 20
	Silence     time.Duration // heartbeat silence that kills a worker; 300ms
	// BusySilence is the silence tolerated while the worker is starved
	// of CPU (Linux: a thread of it runnable, and it used less than half
	// a CPU since its heartbeat was late), not hung; 5s. Never less than
	// Silence.
	BusySilence  time.Duration
	FirstBeat    time.Duration // time to the first heartbeat; 2s
	CrashLimit   int           // crashes within CrashWindow → unhealthy; 5
	CrashWindow  time.Duration // 1m
	MinBackoff   time.Duration // restart back-off; 100ms
	MaxBackoff   time.Duration // 5s
	DrainTimeout time.Duration // beyond the module's deadline; 10s

	// WorkerMemory caps each worker process (guest memory, compiled code
	// and the worker's own runtime) in bytes, through a cgroup v2 child
	// with memory.max where the agent's cgroup has the memory controller
	// delegated (see MemoryCap); 0: no cap.
	WorkerMemory int64
	cgroupRoot   string // /sys/fs/cgroup (tests use a folder)
	selfCgroup   string // /proc/self/cgroup

	Stderr io.Writer // workers' stdout and stderr are copied here; os.Stderr
	// Logs, if set, also gets each worker's output, line by line, into
	// its module's ring (the worker's own lines, its guest's log records,
	// a crash's output), for the controller's log requests.
	Logs *logring.Set
	Log  *slog.Logger
	// Device is the agent's device id and Bus its MQTT session, through
	// which modules publish (in edge/v1/dev/DEVICE/app/MODULE/) and
	// receive the messages of their subscriptions (Receive). Without
	// them a guest's publish is answered unavailable; timers run anyway.
	Device string
	Bus    Bus

	// OnUnhealthy is called, once per running version, when its worker
	// crashed CrashLimit times within CrashWindow; reason reads "crash
	// loop: N crashes in 1m (last: ...)". It runs on the version's restart
	// loop and must not block: reconcile.Reconciler.Unhealthy queues the
	// rollback to the last-known-good version. The version keeps being
	// restarted with back-off until something replaces it.
	OnUnhealthy func(name, version, reason string)
}

func (c *Config) defaults() error {
	if c.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("supervisor: find own binary: %w", err)
		}
		c.Exe = exe
	}
	if c.Args == nil {
		c.Args = []string{"worker"}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadyTimeout, 60*time.Second)
	def(&c.ProbeTimeout, 5*time.Second)
	def(&c.Grace, 5*time.Second)
	def(&c.Silence, 300*time.Millisecond)
	def(&c.BusySilence, 5*time.Second)
	c.BusySilence = max(c.BusySilence, c.Silence)
	def(&c.FirstBeat, 2*time.Second)
	def(&c.CrashWindow, time.Minute)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 5*time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	if c.ErrorRate <= 0 {
		c.ErrorRate = 0.5
	}
	if c.MinRequests == 0 {
		c.MinRequests = 20
	}
	if c.CrashLimit <= 0 {
		c.CrashLimit = 5
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.cgroupRoot == "" {
		c.cgroupRoot = "/sys/fs/cgroup"
	}
	if c.selfCgroup == "" {
		c.selfCgroup = "/proc/self/cgroup"
	}
	return nil
}

// Supervisor runs modules in worker processes. It implements
// reconcile.Deployer.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	mem    *memCap // nil: worker memory is not capped
	memWhy string  // how it is capped, or why not

	mu     sync.Mutex
	ports  map[int]*portListener
	mods   map[string]*module
	one    *runner // the module of RunOne
	closed bool

	// For metrics (metrics.go), guarded by mu.
	runners  map[*runner]struct{} // every version whose loop runs
	ended    []endedRun           // versions that stopped lately, newest last
	restarts map[string]uint64    // worker restarts by name@version, since New
	changed  chan struct{}        // closed and replaced when what serves changes

	callSecret string // the device's secret of module calls (capabilities.go)
	// Triggers (triggers.go, msgqueue.go), guarded by tmu.
	tmu      sync.Mutex
	trig     map[string]*modTriggers
	msgCount map[string]*msgCounters
	msgBase  uint64        // high bits of message ids: the start time
	msgSeq   atomic.Uint64 // low bits
	trigKick chan struct{}
	trigStop context.CancelFunc
	trigDone chan struct{}
}

var _ reconcile.Deployer = (*Supervisor)(nil)

type portListener struct {
	ln    *net.TCPListener
	f     *os.File // what workers inherit
	owner string
}

type module struct {
	deploy sync.Mutex // one deploy or stop at a time
	cur    *runner    // guarded by Supervisor.mu
	port   int
}

// New returns a Supervisor.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	secret, err := newCallSecret()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: cfg.Log, ports: map[int]*portListener{}, mods: map[string]*module{},
		runners: map[*runner]struct{}{}, restarts: map[string]uint64{}, changed: make(chan struct{}),
		trig: map[string]*modTriggers{}, msgCount: map[string]*msgCounters{},
		msgBase: uint64(time.Now().Unix()) << 32, trigKick: make(chan struct{}, 1), trigDone: make(chan struct{}),
		callSecret: secret}
	// No routes from an earlier run: its addresses may belong to anything
	// by now, and calls carry the call secret.
	s.mu.Lock()
	s.writeRoutesLocked()
	s.mu.Unlock()
	tctx, stop := context.WithCancel(context.Background())
	s.trigStop = stop
	go s.triggerLoop(tctx)
	mem, err := setupMemCap(cfg.cgroupRoot, cfg.selfCgroup, os.Getpid(), cfg.WorkerMemory)
	switch {
	case cfg.WorkerMemory <= 0:
		s.memWhy = "none: no worker memory cap configured"
		s.log.Info("worker memory cap", "mechanism", "none", "reason", "no cap configured")
	case err != nil:
		s.memWhy = "none: " + err.Error()
		s.log.Warn("worker memory cap NOT enforced", "want_bytes", cfg.WorkerMemory, "reason", err.Error())
	default:
		s.mem = mem
		s.memWhy = mem.String()
		s.log.Info("worker memory cap", "mechanism", "cgroup v2 memory.max", "bytes", cfg.WorkerMemory, "cgroup", mem.dir)
	}
	return s, nil
}

// MemoryCap says how worker memory is capped ("cgroup v2 memory.max=...")
// or why it is not ("none: ...").
func (s *Supervisor) MemoryCap() string { return s.memWhy }

// Running maps module name to the version serving now.
func (s *Supervisor) Running() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for name, m := range s.mods {
		if m.cur != nil {
			out[name] = m.cur.version()
		}
	}
	return out
}

// Unhealthy maps module name to the serving version when it crashed
// CrashLimit times within CrashWindow.
func (s *Supervisor) Unhealthy() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for name, m := range s.mods {
		if r := m.cur; r != nil {
			r.mu.Lock()
			if r.unhealthy {
				out[name] = r.version()
			}
			r.mu.Unlock()
		}
	}
	return out
}

// Addr is the address module name is served on, or "".
func (s *Supervisor) Addr(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mods[name]
	if m == nil || s.ports[m.port] == nil {
		return ""
	}
	return s.ports[m.port].ln.Addr().String()
}

func (s *Supervisor) module(name string) (*module, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("supervisor closed")
	}
	m := s.mods[name]
	if m == nil {
		m = &module{}
		s.mods[name] = m
	}
	return m, nil
}

// listen returns the listener of port for module name, creating it once.
func (s *Supervisor) listen(port int, name string) (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pl := s.ports[port]; pl != nil {
		if pl.owner != name {
			return nil, fmt.Errorf("port %d is already used by module %s: %w", port, pl.owner, reconcile.ErrConfig)
		}
		return pl.f, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(port)))
	if err != nil {
		// In use by another program, or not allowed (a port under 1024):
		// the board's business, not the module's.
		return nil, fmt.Errorf("listen on port %d: %w: %w", port, err, reconcile.ErrConfig)
	}
	tl := ln.(*net.TCPListener)
	f, err := tl.File()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on port %d: %w", port, err)
	}
	s.ports[port] = &portListener{ln: tl, f: f, owner: name}
	return f, nil
}

func (s *Supervisor) release(port int, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pl := s.ports[port]; pl != nil && pl.owner == name {
		pl.f.Close()
		pl.ln.Close()
		delete(s.ports, port)
	}
}

// dsn resolves the manifest's database binding.
func (s *Supervisor) dsn(m *wire.Manifest) (string, error) {
	switch m.Bindings.DB {
	case "":
		return "", nil
	case "sqlite":
		if s.cfg.DataDir == "" {
			return "", errors.New("sqlite binding: the agent has no data folder")
		}
		dir := filepath.Join(s.cfg.DataDir, "modules", m.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("sqlite binding: %w", err)
		}
		return "sqlite:" + filepath.Join(dir, "data.db"), nil
	}
	dsn, ok := s.cfg.DBs[m.Bindings.DB]
	if !ok {
		return "", fmt.Errorf("database binding %q is not defined on this device (agent --db %s=DSN): %w",
			m.Bindings.DB, m.Bindings.DB, reconcile.ErrConfig)
	}
	return dsn, nil
}

func (s *Supervisor) spec(m *wire.Manifest, wasmPath string) (spec, error) {
	dsn, err := s.dsn(m)
	if err != nil {
		return spec{}, err
	}
	caps, err := s.capabilities(m)
	if err != nil {
		return spec{}, err
	}
	return spec{m: m, wasmPath: wasmPath, wcfg: worker.Config{
		Module:       wasmPath,
		Name:         m.Name + "@" + m.Version,
		Pool:         cmp.Or(m.Limits.Pool, s.cfg.Pool),
		DeadlineMS:   m.Limits.DeadlineMS,
		DeadlineMode: "fast", // the watchdog stops runaway guests
		MemoryPages:  cmp.Or(m.Limits.MemoryPages, s.cfg.MemoryPages),
		BodyBytes:    m.Limits.BodyBytes,
		DB:           dsn,
		CacheDir:     s.cfg.CacheDir,
		Engine:       s.cfg.Engine,
		Settings:     m.Config,
		AllowHosts:   m.Capabilities.HTTPAllow,
		Gated:        true, // no client request before the switch
		Capabilities: caps,
	}}, nil
}

// specFor is spec with the messaging part of the worker's config.
func (s *Supervisor) specFor(m *wire.Manifest, wasmPath string) (spec, error) {
	sp, err := s.spec(m, wasmPath)
	if err == nil {
		s.workerConfigMessaging(&sp)
	}
	return sp, err
}

func (s *Supervisor) drainTimeout(r *runner) time.Duration {
	return r.spec.wcfg.Deadline() + s.cfg.DrainTimeout
}

// start starts a runner for sp and waits for its ready heartbeat.
func (s *Supervisor) start(ctx context.Context, sp spec, ln *os.File) (*runner, error) {
	r := s.newRunner(sp, ln)
	t := time.NewTimer(s.cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case <-r.ready:
		return r, nil
	case err := <-r.failed:
		r.stop(false, time.Second)
		return nil, fmt.Errorf("worker failed to start: %w", err)
	case <-t.C:
		r.stop(false, time.Second)
		return nil, fmt.Errorf("worker not ready within %s", s.cfg.ReadyTimeout)
	case <-ctx.Done():
		r.stop(false, time.Second)
		return nil, ctx.Err()
	}
}

// probe GETs the manifest's probe path on the worker's private listener.
// Only a 2xx answer is healthy: a 404 (a probe path the version does not
// serve), a 405 or a redirect (not followed) is as much a failed probe as
// a 5xx, since none of them says the version can serve what it should.
func (s *Supervisor) probe(ctx context.Context, r *runner) error {
	addr := r.probeAddr()
	if addr == "" {
		return errors.New("probe: worker has no probe address")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeTimeout)
	defer cancel()
	url := "http://" + addr + r.spec.m.ProbePath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("probe GET %s: %w", r.spec.m.ProbePath(), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probe GET %s: status %d, want 2xx", r.spec.m.ProbePath(), resp.StatusCode)
	}
	return nil
}

// Deploy starts m beside the running version of m.Name, probes it,
// switches to it and watches it for the grace period. See
// reconcile.Deployer.
func (s *Supervisor) Deploy(ctx context.Context, m *wire.Manifest, wasmPath string, progress func(state, reason string)) error {
	if progress == nil {
		progress = func(string, string) {}
	}
	if m.Port <= 0 {
		return fmt.Errorf("module %s@%s: the manifest sets no port; each module needs its own port", m.Name, m.Version)
	}
	mod, err := s.module(m.Name)
	if err != nil {
		return err
	}
	mod.deploy.Lock()
	defer mod.deploy.Unlock()

	s.mu.Lock()
	old := mod.cur
	oldPort := mod.port
	s.mu.Unlock()
	if old != nil && old.spec.m.Version == m.Version && old.spec.m.SHA256 == m.SHA256 && oldPort == m.Port {
		return nil // already serving
	}
	sp, err := s.specFor(m, wasmPath)
	if err != nil {
		return err
	}
	ln, err := s.listen(m.Port, m.Name)
	if err != nil {
		return err
	}
	log := s.log.With("module", m.Name, "version", m.Version)
	fail := func(err error) error {
		if old == nil || oldPort != m.Port {
			s.release(m.Port, m.Name)
		}
		return fmt.Errorf("deploy %s@%s: %w", m.Name, m.Version, err)
	}

	r, err := s.startProbed(ctx, sp, ln, progress)
	if err != nil {
		return fail(err)
	}
	var data *switchData
	if old != nil {
		if data, err = s.noteData(ctx, r); err != nil {
			r.stop(false, time.Second)
			return fail(err)
		}
	}
	r.serve() // the switch: v2 accepts on the socket from now on; v1 drains
	s.mu.Lock()
	mod.cur, mod.port = r, m.Port
	s.servingChangedLocked()
	s.mu.Unlock()
	if old == nil {
		log.Info("serving", "port", m.Port)
		return nil
	}
	drained := make(chan struct{})
	go func() {
		old.stop(true, s.drainTimeout(old))
		close(drained)
	}()
	log.Info("switched", "from", old.version())

	if reason := s.grace(ctx, r); reason != "" {
		<-drained
		return s.switchBack(ctx, mod, old, oldPort, r, reason, data)
	}
	<-drained
	if oldPort != m.Port {
		s.release(oldPort, m.Name)
	}
	return nil
}

// startProbed starts sp gated (it serves its probe listener only), waits
// for it to be ready and probes it.
func (s *Supervisor) startProbed(ctx context.Context, sp spec, ln *os.File, progress func(state, reason string)) (*runner, error) {
	progress(wire.StateStarting, "")
	startAt := time.Now()
	r, err := s.start(ctx, sp, ln)
	if err != nil {
		return nil, err
	}
	s.log.Info("worker ready", "module", sp.m.Name, "version", sp.m.Version, "took", time.Since(startAt).Round(time.Millisecond))
	progress(wire.StateProbing, "")
	if err := s.probe(ctx, r); err != nil {
		r.stop(false, time.Second)
		return nil, err
	}
	return r, nil
}

// noteData notes the module's data right before r is switched in. Nothing
// of it is undone later: the schema and, for SQLite, a safety copy an
// operator may recover from by hand serve the report of a rollback only.
func (s *Supervisor) noteData(ctx context.Context, r *runner) (*switchData, error) {
	m := r.spec.m
	copyAt := time.Now()
	data, err := s.atSwitch(ctx, m.Name, r.spec.wcfg.DB)
	if kv := r.spec.wcfg.KV; kv != "" && err == nil {
		if data == nil {
			data = &switchData{}
		}
		data.kv = s.kvAtSwitch(ctx, m.Name, kv)
		if data.kv.copyErr != nil {
			s.log.Warn("no safety copy of the key-value store before the switch", "module", m.Name, "version", m.Version, "err", data.kv.copyErr)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case data != nil && data.copy != "":
		s.log.Info("safety copy of the database before the switch", "module", m.Name, "version", m.Version,
			"path", data.copy, "took", time.Since(copyAt).Round(time.Millisecond))
	case data != nil && data.copyErr != nil:
		s.log.Warn("no safety copy of the database before the switch", "module", m.Name, "version", m.Version, "err", data.copyErr)
	}
	return data, nil
}

// switchBack restarts old, which was drained, after the new version r
// failed its grace period, then drains r. The data is left as both
// versions wrote it; the error says what r committed.
func (s *Supervisor) switchBack(ctx context.Context, mod *module, old *runner, oldPort int, r *runner, reason string, data *switchData) error {
	m := r.spec.m
	log := s.log.With("module", m.Name, "version", m.Version)
	log.Warn("new version unhealthy after switch; switching back", "reason", reason, "to", old.version())
	bctx := context.WithoutCancel(ctx)
	back, err := s.start(bctx, old.spec, old.ln)
	if err != nil {
		// v2 keeps running (and restarting): better than nothing.
		if rep := data.report(bctx, m.Version, r.writes()); rep != "" {
			reason += "; " + rep
		}
		return fmt.Errorf("deploy %s@%s: %s; restarting %s failed: %w", m.Name, m.Version, reason, old.version(), err)
	}
	back.serve()
	s.mu.Lock()
	mod.cur, mod.port = back, oldPort
	s.servingChangedLocked()
	s.mu.Unlock()
	r.stop(true, s.drainTimeout(r)) // its final heartbeat completes the write count
	if oldPort != m.Port {
		s.release(m.Port, m.Name)
	}
	if rep := data.report(bctx, m.Version, r.writes()); rep != "" {
		reason += "; " + rep
		log.Warn("rolled back; data kept", "report", rep)
	}
	return fmt.Errorf("deploy %s@%s: %w to %s: %s", m.Name, m.Version, reconcile.ErrRolledBack, old.version(), reason)
}

// grace watches r after a switch; it returns why to switch back, or "".
func (s *Supervisor) grace(ctx context.Context, r *runner) string {
	if s.cfg.Grace < 0 {
		return ""
	}
	base := r.heartbeat()
	crashes := r.crashCount()
	end := time.NewTimer(s.cfg.Grace)
	defer end.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-end.C:
			return ""
		case <-ctx.Done():
			return "" // keep the new version: it serves and is healthy so far
		case <-tick.C:
			if r.crashCount() > crashes {
				return "worker crashed during the grace period: " + r.lastCrashReason()
			}
			hb := r.heartbeat()
			if hb.HTTP < base.HTTP { // restarted: counters reset
				base = worker.Heartbeat{}
			}
			n, bad := hb.HTTP-base.HTTP, hb.HTTP5xx-base.HTTP5xx
			if n >= s.cfg.MinRequests && float64(bad) > s.cfg.ErrorRate*float64(n) {
				return fmt.Sprintf("%d of %d responses were 5xx during the grace period", bad, n)
			}
		}
	}
}

// Stop stops every version of module name.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	s.mu.Lock()
	mod := s.mods[name]
	s.mu.Unlock()
	if mod == nil {
		return nil
	}
	mod.deploy.Lock()
	defer mod.deploy.Unlock()
	s.mu.Lock()
	r, port := mod.cur, mod.port
	mod.cur = nil
	delete(s.mods, name)
	if r != nil {
		s.servingChangedLocked()
	}
	s.mu.Unlock()
	if r != nil {
		r.stop(true, s.drainTimeout(r))
		s.release(port, name)
	}
	return nil
}

// Close drains every module and closes the listeners.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	var names []string
	for name := range s.mods {
		names = append(names, name)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() { s.Stop(ctx, name) })
	}
	wg.Wait()
	s.trigStop()
	<-s.trigDone
	s.mu.Lock()
	defer s.mu.Unlock()
	for port, pl := range s.ports {
		pl.f.Close()
		pl.ln.Close()
		delete(s.ports, port)
	}
	return nil
}
