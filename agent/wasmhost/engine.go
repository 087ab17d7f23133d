package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// EngineKind selects wazero's execution engine.
type EngineKind int

const (
	// EngineAuto picks the compiler where it works (amd64, arm64 with an
	// executable mmap) and the interpreter elsewhere.
	EngineAuto EngineKind = iota
	EngineCompiler
	EngineInterpreter
)

func (k EngineKind) String() string {
	switch k {
	case EngineAuto:
		return "auto"
	case EngineCompiler:
		return "compiler"
	case EngineInterpreter:
		return "interpreter"
	}
	return fmt.Sprintf("EngineKind(%d)", int(k))
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	Kind EngineKind
	// CacheDir holds compiled code between runs. It must be private to the
	// agent (whoever can write it can inject native code); include the agent
	// version in the path so an upgrade never reads another build's entries.
	// Empty: no on-disk cache.
	CacheDir string
	Logger   *slog.Logger // default: slog.Default()
}

// Engine compiles modules. It is safe for concurrent use; compiles are
// serialised (compile once, then instantiate many: wazero issue #2547).
type Engine struct {
	kind     EngineKind // resolved: compiler or interpreter
	cacheDir string
	log      *slog.Logger
	mu       sync.Mutex // serialises compiles and cache purges
	inits    inits      // instances being created (see OldestInit)
}

// Resolve returns the engine kind NewEngine would use here for kind:
// EngineAuto resolved to the compiler or the interpreter.
func Resolve(kind EngineKind) EngineKind { return resolveKind(kind) }

// resolveKind turns EngineAuto into the engine that runs here: the
// compiler where it can, else the interpreter.
func resolveKind(kind EngineKind) EngineKind {
	if kind != EngineAuto {
		return kind
	}
	if compilerUsable() {
		return EngineCompiler
	}
	return EngineInterpreter
}

// NewEngine resolves the engine kind and logs it.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	kind := resolveKind(cfg.Kind)
	switch kind {
	case EngineCompiler:
		if !compilerUsable() {
			return nil, fmt.Errorf("wazero compiler not usable on %s/%s (no executable mmap?)", goruntime.GOOS, goruntime.GOARCH)
		}
	case EngineInterpreter:
	default:
		return nil, fmt.Errorf("unknown engine kind %d", int(cfg.Kind))
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
	}
	log.Info("wasm engine", "engine", kind.String(), "requested", cfg.Kind.String(),
		"arch", goruntime.GOARCH, "cache", cfg.CacheDir)
	return &Engine{kind: kind, cacheDir: cfg.CacheDir, log: log}, nil
}

// Kind reports the engine in use: EngineCompiler or EngineInterpreter.
func (e *Engine) Kind() EngineKind { return e.kind }

// runtimeConfig is the wazero configuration of one module.
func (e *Engine) runtimeConfig(mode DeadlineMode, pages uint32) wazero.RuntimeConfig {
	var rc wazero.RuntimeConfig
	if e.kind == EngineCompiler {
		rc = wazero.NewRuntimeConfigCompiler()
	} else {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	return rc.WithMemoryLimitPages(pages).WithCloseOnContextDone(mode == DeadlineInterrupt)
}

// compiled is a runtime with its compiled module; closing the runtime
// closes the cache handle too.
type compiled struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
	code  wazero.CompiledModule
}

func (c *compiled) close(ctx context.Context) {
	if c.rt != nil {
		_ = c.rt.Close(ctx)
	}
	if c.cache != nil {
		_ = c.cache.Close(ctx)
	}
}

// compile builds a runtime with the host imports and compiles wasm in it.
// A compile that fails on a corrupted cache entry purges the cache and is
// retried once.
func (e *Engine) compile(ctx context.Context, wasm []byte, cfg *Config, h *hostEnv) (*compiled, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.compileOnce(ctx, wasm, cfg, h)
	if err != nil && isCacheCorruption(err) {
		e.log.Warn("compilation cache corrupted; purging and recompiling", "module", cfg.Name, "err", err)
		if perr := e.purgeCache(); perr != nil {
			return nil, fmt.Errorf("purge compilation cache: %w (after %w)", perr, err)
		}
		c, err = e.compileOnce(ctx, wasm, cfg, h)
	}
	return c, err
}

func (e *Engine) compileOnce(ctx context.Context, wasm []byte, cfg *Config, h *hostEnv) (*compiled, error) {
	c := &compiled{}
	rc := e.runtimeConfig(cfg.Deadline, cfg.Limits.MemoryPages)
	if e.cacheDir != "" && e.kind == EngineCompiler {
		cache, err := wazero.NewCompilationCacheWithDir(e.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", e.cacheDir, err)
		}
		c.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	c.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := h.instantiate(ctx, c.rt); err != nil {
		c.close(ctx)
		return nil, err
	}
	cctx := experimental.WithCompilationWorkers(ctx, goruntime.NumCPU())
	code, err := c.rt.CompileModule(cctx, mergeDataSegments(wasm))
	if err != nil {
		c.close(ctx)
		return nil, fmt.Errorf("compile module %s: %w", cfg.Name, err)
	}
	c.code = code
	return c, nil
}

// isCacheCorruption reports a compile error caused by a bad cache entry.
// wazero has no typed error for it: its messages all start with
// "compilationcache:" (e.g. "compilationcache: checksum mismatch").
func isCacheCorruption(err error) bool {
	return strings.Contains(err.Error(), "compilationcache:")
}

// purgeCache removes wazero's entries (its version-named subfolders).
func (e *Engine) purgeCache() error {
	if e.cacheDir == "" {
		return nil
	}
	dirs, err := filepath.Glob(filepath.Join(e.cacheDir, "wazero-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}
