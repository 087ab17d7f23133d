package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/agent/httpserve"
	"github.com/edgeplane/edge/agent/supervisor"
	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/kvstore"
)

// serveConfig is the configuration of `edge-agent serve`.
type serveConfig struct {
	module       string
	http         string
	db           string
	data         string
	pool         int
	deadline     time.Duration
	deadlineMode string
	memoryPages  uint
	bodyLimit    int64
	bodyTimeout  time.Duration
	bodyIdle     time.Duration
	bodyBuffer   int64
	maxConns     int
	engine       string
	settings     multiFlag
	allowHosts   multiFlag
	kv           string
	logLevel     string
	inProcess    bool
	workerMemory string
	stderr       io.Writer // the workers' output
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.http, "http", "127.0.0.1:8080", "`address` to serve the module on (port 0 picks a free one)")
	fs.StringVar(&c.db, "db", "", "database `DSN`: sqlite:PATH or mysql://user:pass@host:port/db (default $DATABASE_URL; none: the module gets no database)")
	fs.StringVar(&c.data, "data", defaultServeDir(), "`folder` of serve's compilation cache (default: edge-agent in the user's cache folder, not the fleet agent's data folder)")
	fs.IntVar(&c.pool, "pool", wasmhost.DefaultPoolSize, "warm instances of the module")
	fs.DurationVar(&c.deadline, "deadline", 0, "per-request deadline (default 10s with the compiler, 30s with the interpreter)")
	fs.StringVar(&c.deadlineMode, "deadline-mode", "", "how a guest is stopped at its deadline: fast (the default in a worker, whose watchdog kills a runaway guest) or interrupt (wazero checks the deadline at every loop; the default with --in-process, about half the throughput)")
	fs.BoolVar(&c.inProcess, "in-process", false, "run the module in this process instead of a worker process under the watchdog (for debugging: a guest stuck in loop-free recursion then freezes the whole process)")
	fs.StringVar(&c.workerMemory, "worker-memory", "0", "memory cap of the worker process in `BYTES` (suffix KiB, MiB or GiB allowed; 0: none), through a cgroup v2 child where the memory controller is delegated")
	fs.UintVar(&c.memoryPages, "memory-pages", wasmhost.DefaultMemoryPages, "linear memory limit per instance, in 64 KiB pages")
	fs.Int64Var(&c.bodyLimit, "body-limit", wasmhost.DefaultMaxRequestBody, "request body limit in `bytes` (413 beyond)")
	fs.DurationVar(&c.bodyTimeout, "body-timeout", wasmhost.DefaultBodyTimeout, "time to receive a request body, from its headers (408 beyond)")
	fs.DurationVar(&c.bodyIdle, "body-idle-timeout", wasmhost.DefaultBodyIdleTimeout, "longest wait for the next byte of a request body (408 beyond)")
	fs.Int64Var(&c.bodyBuffer, "body-buffer", wasmhost.DefaultMaxBufferedBody, "`bytes` of request bodies held at once, at least twice --body-limit (503 when full)")
	fs.IntVar(&c.maxConns, "max-conns", httpserve.DefaultMaxConns, "open connections (503 and closed beyond)")
	fs.StringVar(&c.engine, "engine", "auto", "wazero engine: auto, compiler or interpreter")
	fs.Var(&c.settings, "config", "`key=value` the module reads with config_get (repeatable)")
	fs.Var(&c.allowHosts, "http-allow", "`host` the module may call with http_fetch (repeatable)")
	fs.StringVar(&c.kv, "kv", "", "the module's key-value store: a SQLite `FILE`, created if missing, with the default quotas (none: the kv import is denied)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (c *serveConfig) validate() error {
	if c.module == "" {
		return errors.New("a MODULE.wasm argument is required")
	}
	if c.pool < 1 || c.pool > 64 {
		return fmt.Errorf("--pool %d: want 1..64", c.pool)
	}
	if c.deadline < 0 {
		return fmt.Errorf("--deadline %s: must not be negative (0: the engine's default)", c.deadline)
	}
	if c.deadlineMode == "" {
		c.deadlineMode = "fast"
		if c.inProcess {
			c.deadlineMode = "interrupt"
		}
	}
	if _, err := parseDeadlineMode(c.deadlineMode); err != nil {
		return err
	}
	if _, err := parseBytes(c.workerMemory); err != nil {
		return fmt.Errorf("--worker-memory %q: %w", c.workerMemory, err)
	}
	if c.inProcess && c.workerMemory != "0" {
		return errors.New("--worker-memory applies to a worker process, not with --in-process")
	}
	if _, err := parseEngine(c.engine); err != nil {
		return err
	}
	if c.memoryPages < 1 || c.memoryPages > 65536 {
		return fmt.Errorf("--memory-pages %d: want 1..65536", c.memoryPages)
	}
	if c.bodyLimit < 1 {
		return fmt.Errorf("--body-limit %d: must be positive", c.bodyLimit)
	}
	if c.bodyTimeout <= 0 || c.bodyIdle <= 0 {
		return fmt.Errorf("--body-timeout %s, --body-idle-timeout %s: must be positive", c.bodyTimeout, c.bodyIdle)
	}
	if c.bodyBuffer < 1 || c.maxConns < 1 {
		return fmt.Errorf("--body-buffer %d, --max-conns %d: must be positive", c.bodyBuffer, c.maxConns)
	}
	for _, kv := range c.settings {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--config %q: want key=value", kv)
		}
	}
	if _, err := newLogger(io.Discard, c.logLevel); err != nil {
		return err
	}
	return c.checkFiles()
}

// checkFiles checks the files the flags name before anything starts: the
// module can be read, the database DSN parses and a SQLite file's folder
// exists (--db, --kv).
func (c *serveConfig) checkFiles() error {
	if fi, err := os.Stat(c.module); err != nil {
		return fmt.Errorf("module: %w", err)
	} else if fi.IsDir() {
		return fmt.Errorf("module %s: is a folder, want a .wasm file", c.module)
	}
	if c.db != "" {
		if err := dbbind.Check(c.db); err != nil {
			return fmt.Errorf("--db: %w", err)
		}
	}
	if c.kv != "" {
		if err := dbbind.Check("sqlite:" + c.kv); err != nil {
			return fmt.Errorf("--kv: %w", err)
		}
	}
	return nil
}

func parseDeadlineMode(s string) (wasmhost.DeadlineMode, error) {
	switch s {
	case "interrupt":
		return wasmhost.DeadlineInterrupt, nil
	case "fast":
		return wasmhost.DeadlineFast, nil
	}
	return 0, fmt.Errorf("--deadline-mode %q: want interrupt or fast", s)
}

func parseEngine(s string) (wasmhost.EngineKind, error) {
	switch s {
	case "auto":
		return wasmhost.EngineAuto, nil
	case "compiler":
		return wasmhost.EngineCompiler, nil
	case "interpreter":
		return wasmhost.EngineInterpreter, nil
	}
	return 0, fmt.Errorf("--engine %q: want auto, compiler or interpreter", s)
}

// parseArgs accepts the module path before or after the flags.
func parseArgs(fs *flag.FlagSet, args []string) (positional []string, err error) {
	for len(args) > 0 {
		if !strings.HasPrefix(args[0], "-") {
			positional = append(positional, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
	}
	return positional, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg serveConfig
	fs := flag.NewFlagSet("edge-agent serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edge-agent serve MODULE.wasm [flags]\n\nRuns one module on --http with the database --db, without a controller.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.flags(fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "edge-agent serve: one module at a time, got %q\n", pos)
		return exitUsage
	}
	if len(pos) == 1 {
		cfg.module = pos[0]
	}
	cfg.db = dbbind.FromEnv(cfg.db)
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "edge-agent serve: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent serve: %v\n", err)
		return exitUsage
	}
	cfg.stderr = stderr
	run := serveInWorker
	if cfg.inProcess {
		run = serve
	}
	if err := run(ctx, &cfg, log, stdout); err != nil {
		log.Error("serve failed", "err", err)
		fmt.Fprintf(stderr, "edge-agent serve: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

// serveInWorker runs the module in a worker process under the
// supervisor's watchdog, as `edge-agent run` does, until ctx is cancelled:
// the same protection against a runaway guest at the speed of fast mode
// (docs/BENCHMARKS.md has both). This process owns the listener and hands
// it to the worker; a worker that crashes or is killed is restarted on
// the same socket.
func serveInWorker(ctx context.Context, cfg *serveConfig, log *slog.Logger, stdout io.Writer) error {
	module, err := filepath.Abs(cfg.module)
	if err != nil {
		return err
	}
	if _, err := os.Stat(module); err != nil {
		return configError{fmt.Errorf("read module: %w", err)}
	}
	kind, _ := parseEngine(cfg.engine)
	engine := wasmhost.EngineAuto
	if kind == wasmhost.EngineInterpreter || kind == wasmhost.EngineCompiler {
		engine = kind
	}
	wcfg := worker.Config{
		Module:            module,
		Name:              strings.TrimSuffix(filepath.Base(cfg.module), ".wasm"),
		Pool:              cfg.pool,
		DeadlineMS:        cfg.deadline.Milliseconds(),
		DeadlineMode:      cfg.deadlineMode,
		MemoryPages:       uint32(cfg.memoryPages),
		BodyBytes:         cfg.bodyLimit,
		BodyTimeoutMS:     cfg.bodyTimeout.Milliseconds(),
		BodyIdleTimeoutMS: cfg.bodyIdle.Milliseconds(),
		BufferedBodyBytes: cfg.bodyBuffer,
		MaxConns:          cfg.maxConns,
		DB:                cfg.db,
		CacheDir:          cacheDir(cfg.data),
		Engine:            engine.String(),
		Settings:          cfg.settingsMap(),
		AllowHosts:        cfg.allowHosts,
	}
	wcfg.ModuleName, wcfg.KV = wcfg.Name, cfg.kv
	workerMem, _ := parseBytes(cfg.workerMemory) // checked by validate
	sup, err := supervisor.New(supervisor.Config{
		Args:         []string{"worker", "--log-level", cfg.logLevel},
		DataDir:      cfg.data,
		CacheDir:     wcfg.CacheDir,
		WorkerMemory: workerMem,
		Stderr:       cfg.stderr,
		Log:          log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.http)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	dbDesc := "none"
	if cfg.db != "" {
		dbDesc = dbbind.Redact(cfg.db)
	}
	start := time.Now()
	return sup.RunOne(ctx, wcfg.Name, wcfg, ln.(*net.TCPListener), func() {
		log.Info("module loaded", "module", wcfg.Name, "took", time.Since(start).Round(time.Millisecond))
		deadline := cfg.deadline
		if deadline == 0 {
			deadline = wcfg.Deadline()
		}
		fmt.Fprintf(stdout, "edge-agent: serving %s on http://%s (worker process, engine %s, pool %d, deadline %s/%s, db %s)\n",
			wcfg.Name, ln.Addr(), wasmhost.Resolve(engine), cfg.pool, deadline, cfg.deadlineMode, dbDesc)
	})
}

func (c *serveConfig) settingsMap() map[string]string {
	settings := map[string]string{}
	for _, kv := range c.settings {
		k, v, _ := strings.Cut(kv, "=")
		settings[k] = v
	}
	return settings
}

// serve runs the module in this process (--in-process) until ctx is
// cancelled, then shuts down gracefully.
func serve(ctx context.Context, cfg *serveConfig, log *slog.Logger, stdout io.Writer) error {
	wasm, err := os.ReadFile(cfg.module)
	if err != nil {
		return configError{fmt.Errorf("read module: %w", err)}
	}
	var db *sql.DB
	if cfg.db != "" {
		if db, err = dbbind.Open(ctx, cfg.db); err != nil {
			return err
		}
		defer db.Close()
	}
	var kv *kvstore.Store
	if cfg.kv != "" {
		if kv, err = kvstore.Open(ctx, cfg.kv, kvstore.Limits{}); err != nil {
			return err
		}
		defer kv.Close()
	}
	kind, _ := parseEngine(cfg.engine)
	engine, err := wasmhost.NewEngine(wasmhost.EngineConfig{Kind: kind, CacheDir: cacheDir(cfg.data), Logger: log})
	if err != nil {
		return err
	}
	mode, _ := parseDeadlineMode(cfg.deadlineMode)
	settings := cfg.settingsMap()
	name := strings.TrimSuffix(filepath.Base(cfg.module), ".wasm")
	start := time.Now()
	mod, err := engine.Load(ctx, wasm, wasmhost.Config{
		Name:     name,
		PoolSize: cfg.pool,
		Deadline: mode,
		Limits: wasmhost.Limits{
			Deadline:        cfg.deadline,
			MemoryPages:     uint32(cfg.memoryPages),
			MaxRequestBody:  cfg.bodyLimit,
			BodyTimeout:     cfg.bodyTimeout,
			BodyIdleTimeout: cfg.bodyIdle,
			MaxBufferedBody: cfg.bodyBuffer,
		},
		DB:         db,
		Settings:   settings,
		AllowHosts: cfg.allowHosts,
		KV:         kv,
		Logger:     log,
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", cfg.module, err)
	}
	defer mod.Close(context.WithoutCancel(ctx))
	log.Info("module loaded", "module", name, "took", time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", cfg.http)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := httpserve.New(mod.Handler(), httpserve.Config{MaxConns: cfg.maxConns, Logger: log})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	dbDesc := "none"
	if cfg.db != "" {
		dbDesc = dbbind.Redact(cfg.db)
	}
	fmt.Fprintf(stdout, "edge-agent: serving %s on http://%s (engine %s, pool %d, deadline %s/%s, db %s)\n",
		name, ln.Addr(), engine.Kind(), cfg.pool, mod.Limits().Deadline, mode, dbDesc)

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
