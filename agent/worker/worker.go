// Package worker runs one module version in its own process: the agent
// binary re-executed by the supervisor with the hidden "worker" subcommand.
// Guest code never runs in the supervisor (see DESIGN.md, "Guest code runs
// in a worker process").
//
// The supervisor hands the worker:
//
//	fd 3   the module's listening socket (shared with the other version
//	       during a switch: both accept from the same socket)
//	fd 4   the write end of the heartbeat pipe: one JSON Heartbeat line
//	       every 100 ms; at most one a second (and the final one) also
//	       carries the worker's metrics (requests by class, latency,
//	       traps, timeouts, instances, SQL, compile time), measured around
//	       every client request with atomics. The supervisor's probes are
//	       served apart and not counted
//	fd 5   a private listener on 127.0.0.1 the supervisor probes, so a
//	       probe reaches this version and not the one it replaces
//	fd 6   the read end of the gate pipe (Config.Gated): the worker serves
//	       only its probe listener until it reads one byte from it, then
//	       accepts on fd 3 too. This is the switch: a new version takes no
//	       client request, and so no client write, before it passed its
//	       probe and the supervisor switched to it
//	fd 7   the host link (Config.Link; package hostlink): the guest's
//	       publishes go out through it, its messages and timer ticks come
//	       in (the worker answers them only while it serves)
//	stdin  the Config as JSON
//
// The module's key-value store (Capabilities.KV) is a SQLite file the
// worker opens itself, the same file for every version of the module; its
// calls to other modules go straight to their listeners, found in the
// supervisor's routes file (routes.go).
//
// On SIGTERM the worker drains: it closes its copy of the listener, answers
// requests on open connections with "Connection: close", waits for its
// connections to go, then exits. Plain http.Server.Shutdown loses requests
// that race with the closing of idle keep-alive connections.
package worker

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/agent/httpserve"
	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/kvstore"
	"github.com/edgeplane/edge/wire"
)

// File descriptors the supervisor passes (ExtraFiles[i] is fd 3+i).
const (
	ListenerFD  = 3
	HeartbeatFD = 4
	ProbeFD     = 5
	GateFD      = 6
)

// HeartbeatInterval is how often a worker writes a heartbeat.
const HeartbeatInterval = 100 * time.Millisecond

// Config is what the supervisor tells a worker to run.
type Config struct {
	Module       string `json:"module"` // path of the verified .wasm
	Name         string `json:"name"`   // for logs, e.g. orders@1.4.0
	Pool         int    `json:"pool,omitempty"`
	DeadlineMS   int64  `json:"deadline_ms,omitempty"`
	DeadlineMode string `json:"deadline_mode,omitempty"` // "fast" (default) or "interrupt"
	MemoryPages  uint32 `json:"memory_pages,omitempty"`
	BodyBytes    int64  `json:"body_bytes,omitempty"`
	// Reading a request: the body within BodyTimeout, no gap longer than
	// BodyIdleTimeout (408 after), at most BufferedBodyBytes of bodies
	// held at once (503 after), at most MaxConns connections (503 and
	// closed after). Zero: the defaults of wasmhost and httpserve.
	BodyTimeoutMS     int64             `json:"body_timeout_ms,omitempty"`
	BodyIdleTimeoutMS int64             `json:"body_idle_timeout_ms,omitempty"`
	BufferedBodyBytes int64             `json:"buffered_body_bytes,omitempty"`
	MaxConns          int               `json:"max_conns,omitempty"`
	DB                string            `json:"db,omitempty"` // DSN; "" → no database
	CacheDir          string            `json:"cache_dir,omitempty"`
	Engine            string            `json:"engine,omitempty"` // auto, compiler, interpreter
	Settings          map[string]string `json:"settings,omitempty"`
	AllowHosts        []string          `json:"allow_hosts,omitempty"`
	// DrainIdle is how long idle keep-alive connections get to send one
	// more request (answered with Connection: close) before they are
	// closed; 1s if zero.
	DrainIdleMS int64 `json:"drain_idle_ms,omitempty"`
	// DrainMax bounds the whole drain; deadline + 5s if zero.
	DrainMaxMS int64 `json:"drain_max_ms,omitempty"`
	// Gated: accept on the module's listener only once the gate (fd 6)
	// opens; see the package doc.
	Gated bool `json:"gated,omitempty"`

	// Messaging (ABI version 2). Link: fd 7 is the host link (LinkFD).
	// The grant to publish, relative to the module's namespace, and the
	// trigger exports the manifest declares.
	Link              bool     `json:"link,omitempty"`
	PublishAllow      []string `json:"publish_allow,omitempty"`
	PublishRate       int      `json:"publish_rate,omitempty"`
	PublishMaxPayload int      `json:"publish_max_payload,omitempty"`
	Triggers          []string `json:"triggers,omitempty"`
	// Platform capabilities (issue 11): see below.
	Capabilities
}

// Capabilities are the key-value store and module calls a worker's module
// is granted.
type Capabilities struct {
	// ModuleName is the module's name: its calls' Edge-Caller.
	ModuleName string `json:"module_name,omitempty"`
	// KV is the SQLite file of the module's key-value store ("": none),
	// with its quotas (0: kvstore's defaults). Every version of the
	// module opens the same file.
	KV         string `json:"kv,omitempty"`
	KVMaxKeys  int64  `json:"kv_max_keys,omitempty"`
	KVMaxBytes int64  `json:"kv_max_bytes,omitempty"`
	// Calls are the modules the module may call, found in the Routes
	// file; CallSecret is the device's secret of module calls (see
	// wasmhost's hostcallmod.go).
	Calls      []string `json:"calls,omitempty"`
	Routes     string   `json:"routes,omitempty"`
	CallSecret string   `json:"call_secret,omitempty"`
}

// Heartbeat is one line on the heartbeat pipe.
type Heartbeat struct {
	Ready        bool   `json:"ready"`
	Draining     bool   `json:"draining,omitempty"`
	OldestCallMS int64  `json:"oldest_call_ms"`
	Requests     uint64 `json:"requests"`      // guest calls (wasmhost)
	Errors       uint64 `json:"errors"`        // failed guest calls
	HTTP         uint64 `json:"http"`          // HTTP responses written
	HTTP5xx      uint64 `json:"http_5xx"`      // of which status >= 500
	Conns        int64  `json:"conns"`         // open connections
	Err          string `json:"err,omitempty"` // fatal load error, then exit
	// Writes and RowsWritten count the module's committed writes
	// (wasmhost.Stats.Writes): what the supervisor reports a version did
	// to the data when it rolls it back.
	Writes      uint64 `json:"writes,omitempty"`
	RowsWritten uint64 `json:"rows_written,omitempty"`
	// Final marks the last heartbeat, written after the worker drained
	// and closed its module and database: its counters are complete.
	Final bool `json:"final,omitempty"`
	// Metrics are the worker's counters since it started (Start), in each
	// heartbeat after they changed, at least one per MetricsEvery, and in
	// the final one. Name,
	// Version and what only the supervisor knows are left empty.
	Metrics *wire.ModuleMetrics `json:"metrics,omitempty"`
}

// Deadline is the per-request deadline of the worker: the one the config
// asks for, else its engine's default (longer for the interpreter). The
// supervisor's watchdog and drain use the same value.
func (c *Config) Deadline() time.Duration {
	if c.DeadlineMS <= 0 {
		kind, _ := c.engine()
		return wasmhost.DefaultDeadlineFor(kind)
	}
	return time.Duration(c.DeadlineMS) * time.Millisecond
}

func (c *Config) mode() (wasmhost.DeadlineMode, error) {
	switch c.DeadlineMode {
	case "", "fast":
		return wasmhost.DeadlineFast, nil
	case "interrupt":
		return wasmhost.DeadlineInterrupt, nil
	}
	return 0, fmt.Errorf("deadline mode %q: want fast or interrupt", c.DeadlineMode)
}

func (c *Config) engine() (wasmhost.EngineKind, error) {
	switch c.Engine {
	case "", "auto":
		return wasmhost.EngineAuto, nil
	case "compiler":
		return wasmhost.EngineCompiler, nil
	case "interpreter":
		return wasmhost.EngineInterpreter, nil
	}
	return 0, fmt.Errorf("engine %q: want auto, compiler or interpreter", c.Engine)
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Module == "" {
		return errors.New("worker: no module path")
	}
	if c.Pool < 0 || c.Pool > 64 {
		return fmt.Errorf("worker: pool %d: want 0..64", c.Pool)
	}
	if _, err := c.mode(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if c.MaxConns < 0 || c.BodyTimeoutMS < 0 || c.BodyIdleTimeoutMS < 0 || c.BufferedBodyBytes < 0 {
		return errors.New("worker: negative limit")
	}
	if _, err := c.engine(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

// Worker serves one module.
type Worker struct {
	cfg Config
	log *slog.Logger

	mod      atomic.Pointer[wasmhost.Module]
	engine   atomic.Pointer[wasmhost.Engine] // set before Load: its OldestInit until mod is
	ready    atomic.Bool
	draining atomic.Bool
	reqs     *requestMetrics
	loadTime atomic.Int64 // nanoseconds the module took to compile or load
	conns    atomic.Int64
	loadErr  atomic.Pointer[string]
	gate     io.Reader     // nil: accept on the listener at once
	nudge    chan struct{} // a heartbeat now, not at the next tick
	link     *hostlink.Conn
	kv       *kvstore.Store // the module's key-value store; nil: none
}

// router is the wasmhost.Router of the config's routes file, or nil.
func (w *Worker) router() wasmhost.Router {
	if w.cfg.Routes == "" {
		return nil
	}
	return &routeFile{path: w.cfg.Routes}
}

// New returns a worker for cfg.
func New(cfg Config, log *slog.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log.With("worker", cfg.Name, "pid", os.Getpid()), reqs: newRequestMetrics(time.Now().UTC()),
		nudge: make(chan struct{}, 1)}, nil
}

// Heartbeat returns the current heartbeat, without metrics.
func (w *Worker) Heartbeat() Heartbeat {
	hb := Heartbeat{Ready: w.ready.Load(), Draining: w.draining.Load(), Conns: w.conns.Load()}
	hb.HTTP, hb.HTTP5xx = w.reqs.answered()
	if m := w.mod.Load(); m != nil {
		st := m.Stats()
		hb.OldestCallMS = st.OldestCall.Milliseconds()
		hb.Requests, hb.Errors = st.Requests, st.Errors
		hb.Writes, hb.RowsWritten = st.Writes, st.RowsWritten
	} else if e := w.engine.Load(); e != nil {
		// Loading: the first instance's _initialize is guest code the
		// watchdog must see too.
		hb.OldestCallMS = e.OldestInit().Milliseconds()
	}
	if e := w.loadErr.Load(); e != nil {
		hb.Err = *e
	}
	return hb
}

// Metrics returns the worker's metrics since it started.
func (w *Worker) Metrics() *wire.ModuleMetrics {
	var st *wasmhost.Stats
	if m := w.mod.Load(); m != nil {
		s := m.Stats()
		st = &s
	}
	return w.reqs.snapshot(st, time.Duration(w.loadTime.Load()))
}

// beat writes heartbeats to hb until ctx ends, with the metrics in every
// beat after they changed and at least once per MetricsEvery; a write
// error (the supervisor is gone) calls lost.
func (w *Worker) beat(ctx context.Context, hb io.Writer, lost func()) {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	enc := json.NewEncoder(hb)
	var sent time.Time           // of the last metrics
	var last *wire.ModuleMetrics // the last metrics sent
	for {
		b := w.Heartbeat()
		m := w.Metrics()
		if now := time.Now(); now.Sub(sent) >= MetricsEvery || !sameCounters(m, last) {
			b.Metrics, sent, last = m, now, m
		}
		if err := enc.Encode(b); err != nil {
			w.log.Error("heartbeat pipe broken: supervisor gone", "err", err)
			lost()
			return
		}
		select {
		case <-ctx.Done():
			final := w.Heartbeat()
			final.Final, final.Metrics = true, w.Metrics()
			enc.Encode(final) // the final counters
			return
		case <-t.C:
		case <-w.nudge:
		}
	}
}

// beatNow makes the heartbeat loop send at once: the supervisor waits for
// the ready heartbeat before it probes and switches (deploys, restarts),
// and a tick would add up to HeartbeatInterval to every start.
func (w *Worker) beatNow() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// Run loads the module and serves it on ln (and probe, if not nil) until
// ctx ends, then drains. Heartbeats go to hb (nil: none). A broken
// heartbeat pipe ends the worker.
func (w *Worker) Run(ctx context.Context, ln, probe net.Listener, hb io.Writer) error {
	pool := w.cfg.Pool
	if pool <= 0 {
		pool = wasmhost.DefaultPoolSize
	}
	// Keep a P free for the worker's own goroutines (heartbeat, HTTP).
	runtime.GOMAXPROCS(pool + 1)
	debug.SetGCPercent(compileGOGC) // servingGOGC once ready

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	beatCtx, cancelBeat := context.WithCancel(context.WithoutCancel(ctx))
	beatDone := make(chan struct{})
	stopBeat := func() { cancelBeat(); <-beatDone }
	defer stopBeat()
	if hb != nil {
		go func() { defer close(beatDone); w.beat(beatCtx, hb, cancel) }()
	} else {
		close(beatDone)
	}

	defer func() { // after the module's close (defers run last first)
		if w.kv != nil {
			w.kv.Close()
		}
	}()
	if w.link != nil {
		linkCtx := context.WithoutCancel(ctx)
		go w.link.Serve(func(f hostlink.Frame) { w.handleLink(linkCtx, f) })
		defer w.link.Close() // after the module closed: its last calls answered
	}
	mod, db, err := w.load(ctx, pool)
	if err != nil {
		msg := err.Error()
		w.loadErr.Store(&msg)
		w.beatNow()
		time.Sleep(2 * HeartbeatInterval) // let the supervisor read why
		ln.Close()
		if probe != nil {
			probe.Close()
		}
		return err
	}
	if db != nil {
		defer db.Close()
	}
	defer mod.Close(context.WithoutCancel(ctx))
	w.mod.Store(mod)

	var (
		mu    sync.Mutex
		conns = map[net.Conn]http.ConnState{}
	)
	handler := mod.Handler()
	srv := httpserve.New(w.wrap(handler), httpserve.Config{
		MaxConns: w.cfg.MaxConns,
		Logger:   w.log,
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case http.StateClosed, http.StateHijacked:
				if _, ok := conns[c]; ok {
					delete(conns, c)
					w.conns.Add(-1)
				}
			default:
				if _, ok := conns[c]; !ok {
					w.conns.Add(1)
				}
				conns[c] = s
			}
		},
	})
	errc := make(chan error, 2)
	// serving closes once the compile's memory is back with the OS: only
	// then does the module's listener take requests (see below).
	serving := make(chan struct{})
	go func() {
		if w.gate != nil && !w.waitGate(ctx) {
			return // drained before the switch: never took a request
		}
		select {
		case <-serving:
		case <-ctx.Done():
			return
		}
		errc <- srv.Serve(ln)
	}()
	// The supervisor's probes have a server of their own: they are not
	// client requests and are not counted in the metrics.
	var psrv *httpserve.Server
	if probe != nil {
		psrv = httpserve.New(handler, httpserve.Config{Logger: w.log})
		go func() { errc <- psrv.ServePrivate(probe) }()
	}
	w.ready.Store(true)
	w.beatNow()
	w.log.Info("worker ready", "addr", ln.Addr())
	// Before the module's listener takes a request, not beside it: the
	// full collection must stop the world, and compiled guest code is
	// never preempted, so a runaway call entered meanwhile (a client
	// retrying the request that got the last worker killed, waiting in
	// the listener's backlog) froze the whole worker: no 504, no
	// heartbeat, EOF for the client when the watchdog killed it for its
	// silence. The collection and the release of free pages took 19 ms on
	// a warm start and 81 ms after a compile on the busy 2-core machine;
	// a blue/green switch does them while the supervisor probes.
	returnCompileMemory(w.log)
	debug.SetGCPercent(servingGOGC)
	close(serving)

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	// Drain.
	w.draining.Store(true)
	start := time.Now()
	ln.Close()
	if probe != nil {
		probe.Close()
	}
	idle := time.Duration(w.cfg.DrainIdleMS) * time.Millisecond
	if idle <= 0 {
		idle = time.Second
	}
	max := time.Duration(w.cfg.DrainMaxMS) * time.Millisecond
	if max <= 0 {
		max = w.cfg.Deadline() + 5*time.Second
	}
	for time.Since(start) < idle && w.conns.Load() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	// What is left: idle connections that sent nothing more (closed now)
	// and requests still running (waited for).
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), max-time.Since(start))
	defer scancel()
	err = srv.Shutdown(sctx)
	if psrv != nil {
		psrv.Close()
	}
	w.log.Info("worker drained", "took", time.Since(start).Round(time.Millisecond), "err", err)
	// The final heartbeat follows the deferred closes of the module and
	// the database, so its write counters are complete.
	return err
}

// SetGate makes Run accept on the module's listener only after it read a
// byte from gate (see the package doc, fd 6); the probe listener is
// served at once.
func (w *Worker) SetGate(gate io.Reader) { w.gate = gate }

// waitGate waits until the gate opens (true) or ctx ends or the gate's
// writer is gone without opening it (false).
func (w *Worker) waitGate(ctx context.Context) bool {
	opened := make(chan bool, 1)
	go func() {
		var b [1]byte
		n, _ := w.gate.Read(b[:])
		opened <- n == 1
	}()
	select {
	case ok := <-opened:
		if ok {
			w.log.Info("switched in: accepting on the module's listener")
		}
		return ok
	case <-ctx.Done():
		return false
	}
}

func (w *Worker) load(ctx context.Context, pool int) (*wasmhost.Module, *sql.DB, error) {
	wasm, err := os.ReadFile(w.cfg.Module)
	if err != nil {
		return nil, nil, fmt.Errorf("read module: %w", err)
	}
	var db *sql.DB
	if w.cfg.DB != "" {
		if db, err = dbbind.Open(ctx, w.cfg.DB); err != nil {
			return nil, nil, err
		}
	}
	if w.cfg.KV != "" {
		kv, err := kvstore.Open(ctx, w.cfg.KV, kvstore.Limits{MaxKeys: w.cfg.KVMaxKeys, MaxBytes: w.cfg.KVMaxBytes})
		if err != nil {
			if db != nil {
				db.Close()
			}
			return nil, nil, err
		}
		w.kv = kv
	}
	kind, _ := w.cfg.engine()
	mode, _ := w.cfg.mode()
	engine, err := wasmhost.NewEngine(wasmhost.EngineConfig{Kind: kind, CacheDir: w.cfg.CacheDir, Logger: w.log})
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, nil, err
	}
	w.engine.Store(engine)
	start := time.Now()
	mod, err := engine.Load(ctx, wasm, wasmhost.Config{
		Name:     w.cfg.Name,
		PoolSize: pool,
		Deadline: mode,
		Limits: wasmhost.Limits{
			Deadline:        w.cfg.Deadline(),
			MemoryPages:     w.cfg.MemoryPages,
			MaxRequestBody:  w.cfg.BodyBytes,
			BodyTimeout:     time.Duration(w.cfg.BodyTimeoutMS) * time.Millisecond,
			BodyIdleTimeout: time.Duration(w.cfg.BodyIdleTimeoutMS) * time.Millisecond,
			MaxBufferedBody: w.cfg.BufferedBodyBytes,
		},
		DB:         db,
		Settings:   w.cfg.Settings,
		AllowHosts: w.cfg.AllowHosts,
		KV:         w.kv,
		Calls:      w.cfg.Calls,
		Router:     w.router(),
		Module:     w.cfg.ModuleName,
		CallSecret: w.cfg.CallSecret,
		Publish: wasmhost.PublishPolicy{
			Allow: w.cfg.PublishAllow, Rate: w.cfg.PublishRate, MaxPayload: w.cfg.PublishMaxPayload,
		},
		Publisher: w.publisher(),
		Triggers:  w.cfg.Triggers,
		Logger:    w.log,
	})
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, nil, fmt.Errorf("load %s: %w", w.cfg.Module, err)
	}
	took := time.Since(start)
	w.loadTime.Store(int64(took))
	w.log.Info("module loaded", "took", took.Round(time.Millisecond), "engine", engine.Kind(), "mode", mode)
	return mod, db, nil
}

// compileGOGC is the worker's GOGC while it compiles or loads its module.
// A fresh worker's heap is small, so at Go's default of 100 it collects
// again and again while the compiler allocates hundreds of MiB of
// short-lived data. At 400 the compile of the Go order service took 8 %
// less CPU (2.84 s against 3.08 s, means of 3–4 cold starts on the busy
// 2-core machine) with the same peak RSS (108–112 MiB against 109–110),
// which the worker returns once ready.
const compileGOGC = 400

// servingGOGC is the worker's GOGC once the module is loaded. What a serving worker keeps live is mostly the
// decoded module (~9 MiB for the Go order service: function bodies and
// data segments wazero holds for instantiation) and changes little; what
// it allocates per request is small. At 100 the heap grew to 23 MiB under
// load, at 50 to 18 MiB, with no CPU per request difference measurable on
// the 2-core machine (docs/BENCHMARKS.md, "Memory of a worker").
const servingGOGC = 50

// returnCompileMemory gives the heap the compile used back to the OS. The
// compiler's garbage (tens of MiB for a Go guest) is otherwise held until
// a later collection returns it, and a worker that serves little never
// collects: RSS stayed at the compile's peak.
func returnCompileMemory(log *slog.Logger) {
	before, start := residentBytes(), time.Now()
	debug.FreeOSMemory()
	log.Info("compile memory returned to the OS", "rss_before_mib", before>>20, "rss_after_mib", residentBytes()>>20,
		"took", time.Since(start).Round(time.Microsecond))
}

// residentBytes is the process's resident set size (0 if unknown).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// wrap measures every request (status class and latency, around the whole
// request) and, while draining, asks the client to close the connection
// after this response.
func (w *Worker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		began := time.Now()
		if w.draining.Load() {
			rw.Header().Set("Connection", "close")
		}
		sw := &statusWriter{ResponseWriter: rw, w: w}
		h.ServeHTTP(sw, r)
		// A handler that panics answered nothing (net/http drops the
		// connection) and is not counted.
		w.reqs.observe(sw.status(), time.Since(began))
	})
}

type statusWriter struct {
	http.ResponseWriter
	w    *Worker
	code int // final status written; 0 before
}

// status is the final status of the response: 200 when the handler wrote
// nothing (net/http sends 200).
func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
		if s.w.draining.Load() {
			s.ResponseWriter.Header().Set("Connection", "close")
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Main is the worker process: it reads the Config from stdin, takes the
// inherited descriptors and runs until SIGTERM (ctx). It returns the exit
// code.
func Main(ctx context.Context, stdin io.Reader, log *slog.Logger) error {
	var cfg Config
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&cfg); err != nil {
		return fmt.Errorf("worker: read config from stdin: %w", err)
	}
	w, err := New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := inherit(ListenerFD, "listener")
	if err != nil {
		return err
	}
	probe, _ := inherit(ProbeFD, "probe") // optional
	if cfg.Gated {
		gate := os.NewFile(GateFD, "gate")
		if gate == nil {
			return fmt.Errorf("worker: no gate on fd %d", GateFD)
		}
		w.SetGate(gate)
	}
	if cfg.Link {
		link, err := hostlink.Inherit(LinkFD)
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		w.SetLink(link)
	}
	hb := os.NewFile(HeartbeatFD, "heartbeat")
	var hw io.Writer
	if hb != nil {
		if _, err := hb.Stat(); err == nil {
			hw = hb
		}
	}
	return w.Run(ctx, ln, probe, hw)
}

func inherit(fd uintptr, name string) (net.Listener, error) {
	f := os.NewFile(fd, name)
	if f == nil {
		return nil, fmt.Errorf("worker: no %s on fd %d", name, fd)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("worker: %s on fd %d: %w", name, fd, err)
	}
	return ln, nil
}
