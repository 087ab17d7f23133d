package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/agent/admin"
	"github.com/edgeplane/edge/agent/logring"
	"github.com/edgeplane/edge/agent/metrics"
	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/agent/supervisor"
	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/boards"
	"github.com/edgeplane/edge/internal/buildinfo"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/internal/secretfile"
	"github.com/edgeplane/edge/wire"
)

// runConfig is the configuration of `edge-agent run`: defaults, then the
// --config file (JSON, these field names), then flags.
type runConfig struct {
	ID           string `json:"id"`
	Broker       string `json:"broker"`
	Password     string `json:"password,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	// CAFile verifies the broker's certificate (ssl:// brokers; default:
	// the system's roots); CertFile and KeyFile are the device's client
	// certificate, for a broker that identifies devices by certificate.
	CAFile      string            `json:"ca_file,omitempty"`
	CertFile    string            `json:"cert_file,omitempty"`
	KeyFile     string            `json:"key_file,omitempty"`
	Data        string            `json:"data,omitempty"`
	Trust       []string          `json:"trust,omitempty"` // PEM public key files (edgectl keygen)
	Labels      map[string]string `json:"labels,omitempty"`
	DB          map[string]string `json:"db,omitempty"`           // named bindings: name → DSN
	Board       string            `json:"board,omitempty"`        // profile name; default $EDGE_BOARD, else detected
	Pool        int               `json:"pool,omitempty"`         // overrides the board profile
	MemoryPages uint32            `json:"memory_pages,omitempty"` // overrides the board profile
	// WorkerLauncher runs workers through a command (a sandbox such as
	// bwrap, or qemu-user in the emulated tests): launcher + agent + "worker".
	WorkerLauncher []string `json:"worker_launcher,omitempty"`
	// HeartbeatTimeout is the heartbeat silence that kills a serving worker
	// (a guest frozen in loop-free recursion); e.g. "300ms".
	HeartbeatTimeout string `json:"heartbeat_timeout,omitempty"`
	Listen           string `json:"listen,omitempty"` // host modules are served on; "" = all
	Engine           string `json:"engine,omitempty"`
	Grace            string `json:"grace,omitempty"` // after a switch; e.g. "5s"
	// WorkerMemory caps each worker process: bytes, or with a KiB, MiB
	// or GiB suffix; "0" = no cap. Enforced with cgroup v2 only.
	WorkerMemory string `json:"worker_memory,omitempty"`
	LogLevel     string `json:"log_level,omitempty"`
	// MetricsInterval is how often metrics are sent to the controller
	// (e.g. "10s"); "0" sends none.
	MetricsInterval string `json:"metrics_interval,omitempty"`
	// AdminAddr is a loopback address (127.0.0.1:PORT, [::1]:PORT) where
	// the agent also serves /metrics; "" (the default) serves it on the
	// admin socket only.
	AdminAddr string `json:"admin_addr,omitempty"`
}

const runUsage = `Usage: edge-agent run [flags]

Runs the agent: connects to the controller's broker as device --id,
applies the desired state it is sent (modules signed by a --trust key),
and runs each module in a worker process.

Flags (a --config file gives defaults for all of them):
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge-agent run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	var (
		configFile             = fs.String("config", "", "JSON config `file` (fields: id, broker, password, password_file, ca_file, cert_file, key_file, data, trust, labels, db, board, pool, memory_pages, listen, engine, grace, worker_memory, worker_launcher, heartbeat_timeout, log_level, metrics_interval, admin_addr)")
		id                     = fs.String("id", "", "device `id` (MQTT client id and username)")
		broker                 = fs.String("broker", "", "broker `URL`, e.g. ssl://controller:8883 (TLS) or tcp://controller:1883")
		caFile                 = fs.String("ca-file", "", "CA certificate `file` (PEM) the broker's certificate is verified with (ssl:// brokers; default: the system's CAs)")
		certFile               = fs.String("cert", "", "client certificate `file` (PEM) naming this device (CommonName = --id), for a broker that requires one")
		keyFile                = fs.String("key", "", "private key `file` (PEM) of --cert")
		password               = fs.String("password", "", "broker password (prefer --password-file)")
		passwordFile           = fs.String("password-file", "", "`file` holding the broker password")
		data                   = fs.String("data", "", "private state `folder` (default "+defaultDataDir()+")")
		board                  = fs.String("board", "", "board profile `name` (default $EDGE_BOARD, else detected; see edge-agent board)")
		pool                   = fs.Int("pool", 0, "warm instances per module when the manifest sets none (default: the board profile's)")
		memoryPages            = fs.Uint("memory-pages", 0, "guest memory limit in 64 KiB pages when the manifest sets none (default: the board profile's)")
		workerLauncher         = fs.String("worker-launcher", "", "run workers through this `command` (space-separated), e.g. a sandbox")
		heartbeatTimeout       = fs.String("heartbeat-timeout", "", "heartbeat silence that kills a serving worker (default 300ms; raise it only for emulated or very slow boards)")
		listen                 = fs.String("listen", "", "`host` modules are served on (default all interfaces)")
		engine                 = fs.String("engine", "", "wazero engine: auto, compiler or interpreter")
		grace                  = fs.String("grace", "", "after a switch, how long a crash or 5xx burst of the new version switches back (default 5s)")
		workerMemory           = fs.String("worker-memory", "", "memory cap of each worker process in `BYTES` (suffix KiB, MiB or GiB allowed; 0: none; default 256MiB); enforced through a cgroup v2 child where the memory controller is delegated (systemd Delegate=yes), else only logged")
		logLevel               = fs.String("log-level", "", "debug, info, warn or error")
		metricsInterval        = fs.String("metrics-interval", "", "how often metrics go to the controller (default 10s; 0: never)")
		adminAddr              = fs.String("admin-addr", "", "also serve /metrics (Prometheus) on this loopback `address`, e.g. 127.0.0.1:9101 (default: only on DATA/admin.sock)")
		trust, labels, dbFlags multiFlag
	)
	fs.Var(&trust, "trust", "PEM public key `file` whose signatures are trusted (repeatable)")
	fs.Var(&labels, "label", "device label `k=v` (repeatable)")
	fs.Var(&dbFlags, "db", "named database binding `NAME=DSN` (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edge-agent run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg := runConfig{Grace: "5s", HeartbeatTimeout: "300ms", LogLevel: "info", MetricsInterval: "10s", Board: os.Getenv("EDGE_BOARD")}
	if *configFile != "" {
		if err := cfg.load(*configFile); err != nil {
			fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
			return exitUsage
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.ID, *id)
	set(&cfg.Broker, *broker)
	set(&cfg.Password, *password)
	set(&cfg.PasswordFile, *passwordFile)
	set(&cfg.CAFile, *caFile)
	set(&cfg.CertFile, *certFile)
	set(&cfg.KeyFile, *keyFile)
	set(&cfg.Data, *data)
	set(&cfg.Board, *board)
	set(&cfg.Listen, *listen)
	set(&cfg.Engine, *engine)
	set(&cfg.Grace, *grace)
	set(&cfg.WorkerMemory, *workerMemory)
	set(&cfg.LogLevel, *logLevel)
	set(&cfg.HeartbeatTimeout, *heartbeatTimeout)
	set(&cfg.MetricsInterval, *metricsInterval)
	set(&cfg.AdminAddr, *adminAddr)
	if *pool != 0 {
		cfg.Pool = *pool
	}
	if *memoryPages != 0 {
		cfg.MemoryPages = uint32(*memoryPages)
	}
	if *workerLauncher != "" {
		cfg.WorkerLauncher = strings.Fields(*workerLauncher)
	}
	cfg.Trust = append(cfg.Trust, trust...)
	for _, kv := range labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "edge-agent run: --label %q: want k=v\n", kv)
			return exitUsage
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	for _, kv := range dbFlags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			fmt.Fprintf(stderr, "edge-agent run: --db %q: want NAME=DSN\n", dbbind.Redact(kv))
			return exitUsage
		}
		if cfg.DB == nil {
			cfg.DB = map[string]string{}
		}
		cfg.DB[k] = v
	}
	profile, model, err := cfg.applyBoard()
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
		return exitUsage
	}
	keys, graceD, err := cfg.validate()
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
		return exitUsage
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
		return exitUsage
	}
	// The agent's own lines go to stderr and into its log ring, which the
	// controller can ask for (edgectl logs DEVICE).
	logs := logring.NewSet()
	agentLogs := logring.NewWriter(logs.Agent(), "")
	log, err := newLogger(io.MultiWriter(stderr, agentLogs), cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
		return exitUsage
	}
	log.Info("board", "profile", profile.Name, "model", model, "engine", cfg.Engine, "pool", cfg.Pool,
		"memory_pages", cfg.MemoryPages, "worker_memory", cfg.WorkerMemory)
	if err := runAgent(ctx, &cfg, keys, graceD, agentParts{log: log, logs: logs, agentLogs: agentLogs, tls: tlsCfg}, stdout); err != nil {
		log.Error("agent failed", "err", err)
		fmt.Fprintf(stderr, "edge-agent run: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

// load reads a JSON configuration file over the defaults in c; unknown
// fields are an error (a misspelt key must not silently do nothing).
func (c *runConfig) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	// A file that holds a secret (the broker password, a database
	// password in a DSN) is held to the rule of secret files.
	if c.holdsSecret() {
		if err := secretfile.Check(path); err != nil {
			return fmt.Errorf("--config holds a password: %w", err)
		}
	}
	return nil
}

// holdsSecret tells whether the configuration holds a password itself
// rather than naming the file that does.
func (c *runConfig) holdsSecret() bool {
	if c.Password != "" {
		return true
	}
	for _, dsn := range c.DB {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return true
			}
		}
	}
	return false
}

// applyBoard picks the board profile (cfg.Board, else detected) and fills
// every setting the configuration leaves empty from it; a value set in the
// configuration overrides the profile's. The result is validated as a
// profile, so an override that cannot work (the compiler on riscv64, guest
// memory above the worker cap) is refused.
func (c *runConfig) applyBoard() (boards.Profile, string, error) {
	p, model, err := selectBoard(c.Board)
	if err != nil {
		return p, model, fmt.Errorf("--board: %w", err)
	}
	c.Board = p.Name
	if c.Data == "" {
		c.Data = defaultDataDir()
	}
	if c.Engine == "" {
		c.Engine = "auto" // the profile's engine where it works; see resolveEngine
	}
	if c.Pool == 0 {
		c.Pool = p.Pool
	}
	if c.MemoryPages == 0 {
		c.MemoryPages = p.MemoryPages
	}
	if c.WorkerMemory == "" {
		c.WorkerMemory = fmt.Sprintf("%dMiB", p.WorkerMemoryMiB)
	}
	eff := p
	eff.Pool, eff.MemoryPages = c.Pool, c.MemoryPages
	if c.Engine != "auto" {
		eff.Engine = c.Engine
	}
	if mem, err := parseBytes(c.WorkerMemory); err != nil {
		return p, model, fmt.Errorf("--worker-memory: %w", err)
	} else if mem > 0 {
		eff.WorkerMemoryMiB = int(mem >> 20)
	}
	if err := eff.Validate(); err != nil {
		return p, model, err
	}
	return eff, model, nil
}

// validate checks cfg, reads the password file and the trusted keys.
func (c *runConfig) validate() (wire.Keyring, time.Duration, error) {
	if err := wire.ValidateDeviceID(c.ID); err != nil {
		return nil, 0, fmt.Errorf("--id: %w", err)
	}
	if c.Broker == "" {
		return nil, 0, errors.New("--broker is required")
	}
	if c.PasswordFile != "" {
		if c.Password != "" {
			return nil, 0, errors.New("--password and --password-file: give one")
		}
		b, err := secretfile.Read(c.PasswordFile)
		if err != nil {
			return nil, 0, fmt.Errorf("--password-file: %w", err)
		}
		c.Password = strings.TrimSpace(string(b))
	}
	if c.Data == "" {
		return nil, 0, errors.New("--data must not be empty")
	}
	if err := wire.ValidateLabels(c.Labels); err != nil {
		return nil, 0, fmt.Errorf("--label: %w", err)
	}
	if len(c.Trust) == 0 {
		return nil, 0, errors.New("at least one --trust PUBKEY.pem is required: nothing could be deployed")
	}
	var pubs []ed25519.PublicKey
	for _, f := range c.Trust {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, fmt.Errorf("--trust: %w", err)
		}
		k, err := wire.ParsePublicKey(b)
		if err != nil {
			return nil, 0, fmt.Errorf("--trust %s: %w", f, err)
		}
		pubs = append(pubs, k)
	}
	for name, dsn := range c.DB {
		if name == "sqlite" {
			return nil, 0, errors.New("--db: \"sqlite\" is reserved for the per-module SQLite binding")
		}
		if err := wire.ValidateModuleName(name); err != nil {
			return nil, 0, fmt.Errorf("--db %s: %w", name, err)
		}
		if err := dbbind.Check(dsn); err != nil {
			return nil, 0, fmt.Errorf("--db %s: %w", name, err)
		}
	}
	if _, err := parseEngine(c.Engine); err != nil {
		return nil, 0, err
	}
	g, err := time.ParseDuration(c.Grace)
	if err != nil || g < 0 {
		return nil, 0, fmt.Errorf("--grace %q: want a duration like 5s", c.Grace)
	}
	if g == 0 {
		g = -1 // no grace period
	}
	if hb, err := time.ParseDuration(c.HeartbeatTimeout); err != nil || hb < 100*time.Millisecond || hb > time.Minute {
		return nil, 0, fmt.Errorf("--heartbeat-timeout %q: want a duration from 100ms to 1m", c.HeartbeatTimeout)
	}
	if d, err := time.ParseDuration(c.MetricsInterval); err != nil || d < 0 || (d > 0 && d < time.Second) {
		return nil, 0, fmt.Errorf("--metrics-interval %q: want a duration of at least 1s (e.g. 10s), or 0 to send none", c.MetricsInterval)
	}
	if c.AdminAddr != "" {
		if err := admin.CheckLoopback(c.AdminAddr); err != nil {
			return nil, 0, fmt.Errorf("--admin-addr: %w", err)
		}
	}
	if u, err := url.Parse(c.Broker); err != nil || u.Hostname() == "" || u.Port() == "" || strings.Trim(u.Path, "/") != "" && !strings.HasPrefix(u.Scheme, "ws") ||
		!slices.Contains([]string{"tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"}, u.Scheme) {
		return nil, 0, fmt.Errorf("--broker %q: want a URL like tcp://HOST:PORT", c.Broker)
	}
	return wire.NewKeyring(pubs...), g, nil
}

// resolveEngine reports the engine the workers will use: "auto" becomes
// the compiler where it can run (amd64/arm64 with executable memory; not
// under systemd's MemoryDenyWriteExecute) and the interpreter elsewhere.
func resolveEngine(name string, log *slog.Logger) (string, error) {
	kind, err := parseEngine(name)
	if err != nil {
		return "", err
	}
	e, err := wasmhost.NewEngine(wasmhost.EngineConfig{Kind: kind, Logger: log})
	if err != nil {
		return "", err
	}
	return e.Kind().String(), nil
}

// parseBytes reads a size: "268435456", "256MiB", "1GiB", "512KiB"; "" or
// "0" is no cap.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q: want a size in bytes, e.g. 268435456 or 256MiB", s)
	}
	if n*mult < 16<<20 {
		return 0, fmt.Errorf("%d bytes is below 16MiB: no worker could load a module", n*mult)
	}
	return n * mult, nil
}

// agentParts are what runRun made before runAgent: the logger and the
// log rings it feeds.
type agentParts struct {
	log       *slog.Logger
	logs      *logring.Set
	agentLogs *logring.Writer // the agent's own lines: its dropped count is reported
	tls       *tls.Config     // ssl:// brokers; nil: plain
}

// runAgent wires store, session, supervisor and reconciler and runs them
// until ctx ends; then it drains every worker.
func runAgent(ctx context.Context, cfg *runConfig, keys wire.Keyring, grace time.Duration, parts agentParts, stdout io.Writer) error {
	log := parts.log
	started := time.Now()
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data folder %s: %w", cfg.Data, err)
	}
	// The admin socket first: it also makes sure no other agent uses
	// this data folder.
	adm, err := admin.Listen(cfg.Data, log)
	if err != nil {
		return fmt.Errorf("data folder %s: %w", cfg.Data, err)
	}
	defer adm.Close()
	st, err := store.Open(filepath.Join(cfg.Data, "store"), log.With("part", "store"), store.Options{})
	if err != nil {
		return fmt.Errorf("data folder %s: %w", cfg.Data, err)
	}
	gen, _, err := st.LoadDesired()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	engine, err := resolveEngine(cfg.Engine, log)
	if err != nil {
		return err
	}
	// What the status says from the first connect on (and in the Will):
	// a fresh agent is targetable by its labels before any desired state.
	base := wire.Status{AgentVersion: buildinfo.Version, Arch: runtime.GOARCH, Board: cfg.Board, Engine: engine, Labels: cfg.Labels}
	sess, err := session.New(session.Config{
		Broker: cfg.Broker, Device: cfg.ID, Password: cfg.Password, TLS: parts.tls, MinGeneration: gen, Status: base,
	}, st.Outbox(), log.With("part", "session"))
	if err != nil {
		return err
	}
	sess.SetLogSource(parts.logs)
	var rec *reconcile.Reconciler
	supCfg, err := supervisorConfig(cfg, grace, log, func(name, version, reason string) { rec.Unhealthy(name, version, reason) })
	if err != nil {
		return err
	}
	supCfg.Logs = parts.logs
	// Modules publish and receive messages through the agent's session.
	supCfg.Device, supCfg.Bus = cfg.ID, sess
	sup, err := supervisor.New(supCfg)
	if err != nil {
		return err
	}
	sess.SetAppHandler(sup.Receive)
	rec = reconcile.New(reconcile.Config{
		Device: cfg.ID, Labels: cfg.Labels, Keys: keys, Store: st,
		Fetcher: sess, Deployer: sup, Reporter: sess,
		Log:    log.With("part", "reconcile"),
		Status: base,
	})
	if err := rec.Boot(); err != nil {
		return err
	}
	collector, pub := newMetrics(cfg, started, base, st, sess, sup, rec, parts)
	prom := metrics.Handler(collector, rec.Modules, pub.Dropped)
	if err := serveAdmin(ctx, cfg, adm, prom, func() any {
		return buildStatus(cfg.ID, started, sess, rec.Status(), st.Outbox().Len())
	}, log); err != nil {
		return err
	}
	sess.Start(ctx)
	go pub.Run(ctx)
	go publishOnSwitch(ctx, sup, rec)
	fmt.Fprintf(stdout, "edge-agent: running as %s (broker %s, data %s, %s, generation %d, board %s, engine %s)\n",
		cfg.ID, cfg.Broker, cfg.Data, plural.Count(len(keys), "trusted key"), gen, cfg.Board, engine)
	fmt.Fprintf(stdout, "edge-agent: worker memory cap: %s\n", sup.MemoryCap())
	go notifySystemd(ctx, sup, log)

	err = rec.Run(ctx, sess.Desired())
	log.Info("shutting down: draining workers")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sup.Close(sctx)
	sess.Close()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// supervisorConfig is the supervisor's part of cfg.
func supervisorConfig(cfg *runConfig, grace time.Duration, log *slog.Logger, unhealthy func(name, version, reason string)) (supervisor.Config, error) {
	workerMem, _ := parseBytes(cfg.WorkerMemory)             // checked by applyBoard
	hbTimeout, _ := time.ParseDuration(cfg.HeartbeatTimeout) // checked by validate
	supCfg := supervisor.Config{
		DataDir:     cfg.Data,
		Pool:        cfg.Pool,
		MemoryPages: cfg.MemoryPages,
		CacheDir:    cacheDir(cfg.Data),
		Engine:      cfg.Engine,
		DBs:         cfg.DB,
		ListenHost:  cfg.Listen,
		Grace:       grace,
		// A worker that is still loading gets at least 2 s (see
		// supervisor.Config.FirstBeat), more when the timeout is raised.
		Silence:      hbTimeout,
		FirstBeat:    max(2*time.Second, 5*hbTimeout),
		WorkerMemory: workerMem,
		Log:          log.With("part", "supervisor"),
		// A crash-looping committed version: back to last-known-good.
		OnUnhealthy: unhealthy,
	}
	if len(cfg.WorkerLauncher) > 0 {
		exe, err := os.Executable()
		if err != nil {
			return supCfg, fmt.Errorf("worker launcher: %w", err)
		}
		supCfg.Exe = cfg.WorkerLauncher[0]
		supCfg.Args = append(slices.Clone(cfg.WorkerLauncher[1:]), exe, "worker")
	}
	return supCfg, nil
}

// newMetrics makes the publisher of the agent's metrics (see package
// metrics for where each number comes from).
func newMetrics(cfg *runConfig, started time.Time, base wire.Status, st *store.Store, sess *session.Session,
	sup *supervisor.Supervisor, rec *reconcile.Reconciler, parts agentParts) (*metrics.Collector, *metrics.Publisher) {
	interval, _ := time.ParseDuration(cfg.MetricsInterval) // checked by validate
	c := metrics.NewCollector(metrics.Sources{
		Start:      started,
		Agent:      wire.AgentMetrics{Version: base.AgentVersion, Board: base.Board, Arch: base.Arch, Engine: base.Engine},
		DataDir:    cfg.Data,
		Modules:    sup.ModuleMetrics,
		Serving:    sup.Running,
		Rejections: rec.Rejections,
		Broker: func() (bool, uint64) {
			cs := sess.State()
			return cs.Connected, cs.Lost
		},
		EventsQueued: st.Outbox().Len,
		LogsDropped:  parts.agentLogs.Dropped,
	})
	return c, metrics.NewPublisher(c, metrics.PublisherConfig{
		Interval: interval,
		Changed:  sup.ServingChanged,
		Log:      parts.log.With("part", "metrics"),
		Publish: func(m *wire.Metrics) error {
			err := sess.PublishMetrics(m)
			if errors.Is(err, session.ErrNotConnected) {
				return fmt.Errorf("%w: %w", metrics.ErrOffline, err)
			}
			return err
		},
	})
}

// serveAdmin serves the admin socket (/status, /metrics) and, with
// --admin-addr, /metrics on a loopback TCP address.
func serveAdmin(ctx context.Context, cfg *runConfig, adm *admin.Server, prom http.Handler, status func() any, log *slog.Logger) error {
	adm.HandleJSON("/status", status)
	adm.Handle("GET /metrics", prom)
	go func() {
		if err := adm.Serve(); err != nil {
			log.Error("admin socket", "err", err)
		}
	}()
	if cfg.AdminAddr == "" {
		return nil
	}
	addr, err := adm.ServeMetricsTCP(ctx, cfg.AdminAddr, prom)
	if err != nil {
		return fmt.Errorf("--admin-addr: %w", err)
	}
	log.Info("serving /metrics", "addr", "http://"+addr+"/metrics")
	return nil
}

// publishOnSwitch republishes the status whenever what serves changes, so
// the controller learns of a switch (or a switch back) when it happens.
func publishOnSwitch(ctx context.Context, sup *supervisor.Supervisor, rec *reconcile.Reconciler) {
	changed := sup.ServingChanged()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			changed = sup.ServingChanged()
			rec.PublishStatus()
		}
	}
}
