package wasmhost

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/edgeplane/edge/agent/wasmhost/internal/tablecap"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Module is a compiled module with its pool of warm instances. It is safe
// for concurrent use.
type Module struct {
	e      *Engine
	cfg    Config
	log    *slog.Logger
	engine EngineKind
	c      *compiled
	env    *hostEnv
	nextID atomic.Uint64
	stats  counters
	bodies *bodyBudget // request bodies held at once
	// abiVersion is the ABI version the guest speaks (its first
	// instance's edge_abi_version; every instance runs the same code).
	abiVersion int32

	idle chan *instance // capacity PoolSize; live ≤ PoolSize

	mu      sync.Mutex
	live    int                    // instances alive or being created, not abandoned
	running map[*instance]struct{} // calls in progress, abandoned ones included
	lastErr error                  // last instance creation failure; nil after a success
	closed  bool
	changed chan struct{} // closed and replaced on every state change

	kick     chan struct{}
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgDone   chan struct{}
	logsDone chan struct{} // the log limiter's reporter has returned
}

// Load compiles wasm, checks its exports and ABI version, starts one
// instance and grows the pool to cfg.PoolSize in the background.
func (e *Engine) Load(ctx context.Context, wasm []byte, cfg Config) (*Module, error) {
	if cfg.Limits.Deadline <= 0 {
		cfg.Limits.Deadline = DefaultDeadlineFor(e.kind)
	}
	cfg = cfg.withDefaults(e.log)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	wasm, err := tablecap.Cap(wasm, MaxTableEntries)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", cfg.Name, err)
	}
	env := newHostEnv(&cfg)
	c, err := e.compile(ctx, wasm, &cfg, env)
	if err != nil {
		env.close()
		return nil, err
	}
	if err := checkExports(c.code); err != nil {
		c.close(ctx)
		env.close()
		return nil, fmt.Errorf("module %s: %w", cfg.Name, err)
	}
	m := &Module{
		e:        e,
		cfg:      cfg,
		log:      cfg.Logger,
		engine:   e.kind,
		c:        c,
		env:      env,
		bodies:   newBodyBudget(cfg.Limits.MaxBufferedBody),
		idle:     make(chan *instance, cfg.PoolSize),
		running:  make(map[*instance]struct{}),
		changed:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		bgDone:   make(chan struct{}),
		logsDone: make(chan struct{}),
	}
	m.bgCtx, m.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	in, err := m.newInstance(ctx)
	if err != nil {
		m.bgCancel()
		c.close(ctx)
		env.close()
		return nil, err
	}
	m.abiVersion = in.abiVersion
	if err := checkTriggers(c.code, m.abiVersion, cfg.Triggers); err != nil {
		in.close()
		m.bgCancel()
		c.close(ctx)
		env.close()
		return nil, fmt.Errorf("module %s: %w", cfg.Name, err)
	}
	m.live = 1
	m.idle <- in
	go m.maintain()
	go func() { defer close(m.logsDone); env.logs.run(m.bgCtx, cfg.Limits.LogReportInterval) }()
	m.kickPool()
	m.log.Info("module loaded", "engine", e.kind.String(), "deadline_mode", cfg.Deadline.String(),
		"pool", cfg.PoolSize, "memory_pages", cfg.Limits.MemoryPages)
	return m, nil
}

// checkExports verifies the exports the host calls and their signatures.
func checkExports(code wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name            string
		params, results []api.ValueType
	}{
		{abi.ExportVersion, nil, []api.ValueType{i32}},
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
		{abi.ExportHandle, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	fns := code.ExportedFunctions()
	for _, w := range want {
		f, ok := fns[w.name]
		if !ok {
			return fmt.Errorf("%w: function %s", ErrMissingExport, w.name)
		}
		if !sameTypes(f.ParamTypes(), w.params) || !sameTypes(f.ResultTypes(), w.results) {
			return fmt.Errorf("%w: function %s has signature %v → %v, want %v → %v",
				ErrMissingExport, w.name, f.ParamTypes(), f.ResultTypes(), w.params, w.results)
		}
	}
	if _, ok := code.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("%w: memory \"memory\"", ErrMissingExport)
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Name returns the module's configured name.
func (m *Module) Name() string { return m.cfg.Name }

// ABIVersion is the ABI version the guest speaks, abi.MinVersion to
// abi.Version.
func (m *Module) ABIVersion() int32 { return m.abiVersion }

// Limits returns the module's limits, defaults filled in.
func (m *Module) Limits() Limits { return m.cfg.Limits }

// Close stops the pool and closes every instance. It waits, until ctx is
// done, for calls still running; if some never return (a guest stuck in
// fast mode), their runtime is left open rather than freed under them, and
// Close reports it: only killing the process reclaims it.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.broadcastLocked()
	m.mu.Unlock()
	m.bgCancel()
	<-m.bgDone
	<-m.logsDone
drain:
	for {
		select {
		case in := <-m.idle:
			in.close()
		default:
			break drain
		}
	}
	for {
		m.mu.Lock()
		n, ch := len(m.running), m.changed
		m.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("close module %s: %d guest calls still running; runtime left open: %w", m.cfg.Name, n, ctx.Err())
		}
	}
	m.c.close(context.Background())
	m.env.close()
	return nil
}
