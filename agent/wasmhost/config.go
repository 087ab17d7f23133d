package wasmhost

import (
	"database/sql"

	"fmt"
	"github.com/edgeplane/edge/internal/kvstore"
	"log/slog"
	"strings"
	"time"
)

// DeadlineMode selects how a guest is stopped at its deadline; see the
// package doc.
type DeadlineMode int

const (
	// DeadlineInterrupt compiles the module with WithCloseOnContextDone:
	// loops stop at the deadline. Safe in-process. The default.
	DeadlineInterrupt DeadlineMode = iota
	// DeadlineFast omits the interrupt checks. Only safe under a watchdog
	// that kills the process when Stats.OldestCall grows too old.
	DeadlineFast
)

func (m DeadlineMode) String() string {
	switch m {
	case DeadlineInterrupt:
		return "interrupt"
	case DeadlineFast:
		return "fast"
	}
	return fmt.Sprintf("DeadlineMode(%d)", int(m))
}

// Limits bound what one module may use. A zero field takes its default.
type Limits struct {
	Deadline       time.Duration // per request; default 10 s
	MemoryPages    uint32        // linear memory, 64 KiB pages; default 2048 (128 MiB)
	MaxRequestBody int64         // bytes; default 1 MiB; over → 413 before the guest runs
	// The body must arrive within BodyTimeout of the request's headers,
	// with no gap longer than BodyIdleTimeout; else 408. Defaults 30 s
	// and 10 s.
	BodyTimeout     time.Duration
	BodyIdleTimeout time.Duration
	// MaxBufferedBody bounds the bytes of request bodies the module holds
	// at once (being read or served); a body that finds no room within
	// BodyIdleTimeout gets 503. Default 16 MiB, and never less than twice
	// MaxRequestBody.
	MaxBufferedBody int64
	// WriteTimeout bounds writing a response once the guest answered;
	// default 30 s.
	WriteTimeout     time.Duration
	MaxResponseBytes int           // Response frame from the guest; default 8 MiB
	MaxResultBytes   int           // one sql/http_fetch result frame; default 4 MiB
	MaxSQLCalls      int           // sql calls per request; default 1000
	MaxFetchCalls    int           // http_fetch calls per request; default 16
	FetchTimeout     time.Duration // when the guest asks for none; default 5 s
	MaxKVCalls       int           // kv calls per request; default 1000
	MaxModuleCalls   int           // call (another module) calls per request; default 32

	// Guest log output (the log import, stdout and stderr together) per
	// module: records and bytes per second, with bursts of LogBurst worth
	// of each; what is over is dropped and counted in one record per
	// LogReportInterval (the first within a second). Defaults 100
	// records/s, 32 KiB/s, 10 s, 10 s.
	LogRecordsPerSecond int
	LogBytesPerSecond   int
	LogBurst            time.Duration
	LogReportInterval   time.Duration
}

// Defaults of Limits.
const (
	DefaultDeadline = 10 * time.Second // compiler engine
	// DefaultInterpreterDeadline is the interpreter's default deadline:
	// it runs guest code 30-50× slower, and the largest order list the
	// body limit admits (8,400 orders) took 4 s to insert on it on the
	// 2-core build machine, much more on an armv7 or riscv64 board.
	DefaultInterpreterDeadline = 30 * time.Second
	DefaultMemoryPages         = 2048
	DefaultMaxRequestBody      = 1 << 20
	DefaultBodyTimeout         = 30 * time.Second
	DefaultBodyIdleTimeout     = 10 * time.Second
	DefaultMaxBufferedBody     = 16 << 20
	DefaultWriteTimeout        = 30 * time.Second
	DefaultMaxResponseBytes    = 8 << 20
	DefaultMaxResultBytes      = 4 << 20
	DefaultMaxSQLCalls         = 1000
	DefaultMaxFetchCalls       = 16
	DefaultFetchTimeout        = 5 * time.Second
	DefaultMaxKVCalls          = 1000
	DefaultMaxModuleCalls      = 32
	DefaultPoolSize            = 2

	DefaultLogRecordsPerSecond = 100
	DefaultLogBytesPerSecond   = 32 << 10
	DefaultLogBurst            = 10 * time.Second
	DefaultLogReportInterval   = 10 * time.Second
)

// DefaultDeadlineFor is the per-request deadline of an engine of kind when
// none is configured (EngineAuto as NewEngine resolves it here).
func DefaultDeadlineFor(kind EngineKind) time.Duration {
	if resolveKind(kind) == EngineInterpreter {
		return DefaultInterpreterDeadline
	}
	return DefaultDeadline
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.MaxRequestBody <= 0 {
		l.MaxRequestBody = DefaultMaxRequestBody
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&l.BodyTimeout, DefaultBodyTimeout)
	defDur(&l.BodyIdleTimeout, DefaultBodyIdleTimeout)
	defDur(&l.WriteTimeout, DefaultWriteTimeout)
	if l.MaxBufferedBody <= 0 {
		l.MaxBufferedBody = DefaultMaxBufferedBody
	}
	l.MaxBufferedBody = max(l.MaxBufferedBody, 2*(l.MaxRequestBody+1))
	def(&l.MaxResponseBytes, DefaultMaxResponseBytes)
	def(&l.MaxResultBytes, DefaultMaxResultBytes)
	def(&l.MaxSQLCalls, DefaultMaxSQLCalls)
	def(&l.MaxFetchCalls, DefaultMaxFetchCalls)
	def(&l.MaxKVCalls, DefaultMaxKVCalls)
	def(&l.MaxModuleCalls, DefaultMaxModuleCalls)
	if l.FetchTimeout <= 0 {
		l.FetchTimeout = DefaultFetchTimeout
	}
	def(&l.LogRecordsPerSecond, DefaultLogRecordsPerSecond)
	def(&l.LogBytesPerSecond, DefaultLogBytesPerSecond)
	if l.LogBurst <= 0 {
		l.LogBurst = DefaultLogBurst
	}
	if l.LogReportInterval <= 0 {
		l.LogReportInterval = DefaultLogReportInterval
	}
	return l
}

// Config describes one module to load.
type Config struct {
	Name     string       // for logs; e.g. "orders@1.4.0"
	PoolSize int          // warm instances; default 2
	Deadline DeadlineMode // default DeadlineInterrupt
	Limits   Limits

	// DB is the SQL binding the agent chose for the module (dbbind.Open);
	// nil denies the sql import. The guest never sees its DSN.
	DB *sql.DB
	// Settings are the values config_get returns.
	Settings map[string]string
	// AllowHosts are the hosts http_fetch may reach: "example.com" (any
	// port) or "example.com:8443". Everything else is denied.
	AllowHosts []string
	// KV is the module's key-value store (kvstore.Open, owned by the
	// caller); nil denies the kv import.
	KV *kvstore.Store
	// Calls are the modules the call import may reach (the manifest's
	// capabilities.call), found through Router; nil Router denies every
	// call. Module is this module's name, the Edge-Caller of its calls
	// (default: Name up to an '@'). CallSecret is the device's secret that
	// module calls carry (see hostcallmod.go): the Handler believes a
	// request's call headers only when it carries it; "" believes none.
	Calls      []string
	Router     Router
	Module     string
	CallSecret string

	// Publish is the module's grant to publish (msg_publish) and
	// Publisher what sends it; a nil Publisher answers every publish
	// CodeUnavailable.
	Publish   PublishPolicy
	Publisher Publisher
	// Triggers are the trigger exports (abi.ExportOnMessage,
	// abi.ExportOnTimer) the manifest declares: Load refuses a guest that
	// lacks one or speaks ABI version 1.
	Triggers []string

	// ServerHeader is the Server header the Handler sets when the guest sets
	// none; default "edge-agent".
	ServerHeader string

	Logger *slog.Logger // default: the Engine's logger
}

func (c Config) withDefaults(log *slog.Logger) Config {
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.ServerHeader == "" {
		c.ServerHeader = "edge-agent"
	}
	if c.Logger == nil {
		c.Logger = log
	}
	c.Logger = c.Logger.With("module", c.Name)
	c.Limits = c.Limits.withDefaults()
	return c
}

func (c *Config) moduleName() string {
	if c.Module != "" {
		return c.Module
	}
	name, _, _ := strings.Cut(c.Name, "@")
	return name
}

func (c Config) validate() error {
	switch c.Deadline {
	case DeadlineInterrupt, DeadlineFast:
	default:
		return fmt.Errorf("module %s: unknown deadline mode %d", c.Name, int(c.Deadline))
	}
	if c.Limits.MemoryPages > 65536 {
		return fmt.Errorf("module %s: memory limit %d pages exceeds 65536", c.Name, c.Limits.MemoryPages)
	}
	return nil
}
