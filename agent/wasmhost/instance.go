package wasmhost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// Call states of an instance.
const (
	stateIdle int32 = iota
	stateRunning
	stateAbandoned // the caller gave up at the deadline; never reuse
)

// instance is one guest instance. It serves one request at a time.
type instance struct {
	id     uint64
	mod    api.Module
	alloc  api.Function
	handle api.Function
	mem    *instanceAllocator
	limit  uint64 // memory limit in bytes
	// abiVersion is what the guest's edge_abi_version returned
	// (abi.MinVersion..abi.Version).
	abiVersion int32

	stdout, stderr *logWriter

	st     callState
	stack  [2]uint64
	reqBuf []byte

	state   atomic.Int32
	started atomic.Int64 // UnixNano of the running call
	// runCtx is the context of the guest code running now (_initialize's,
	// then each call's), which bounds the guest's sleeps (sleep.go). Only
	// the goroutine that runs the guest touches it.
	runCtx context.Context

	jobs chan callJob // to the worker (Module.work); closed by close
}

// newInstance instantiates the compiled module and checks its ABI version.
func (m *Module) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{
		id: m.nextID.Add(1), mem: &instanceAllocator{}, limit: uint64(m.cfg.Limits.MemoryPages) << 16,
		jobs:   make(chan callJob),
		stdout: newLogWriter(m.log, m.env.logs, "stdout", slog.LevelInfo),
		stderr: newLogWriter(m.log, m.env.logs, "stderr", slog.LevelWarn),
	}
	in.st.env = m.env
	// _initialize is bounded by the deadline: interrupted in interrupt
	// mode, seen by the worker's watchdog (OldestCall) in fast mode.
	defer m.e.inits.begin()()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Limits.Deadline)
	defer cancel()
	in.runCtx = ctx
	defer func() { in.runCtx = nil }()
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithSysWalltime().WithSysNanotime().WithNanosleep(in.nanosleep).
		WithRandSource(rand.Reader).
		WithStdout(in.stdout).
		WithStderr(in.stderr)
	for _, kv := range guestEnv(m.cfg.Limits.MemoryPages) {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}
	mod, err := m.c.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, in.mem), m.c.code, cfg)
	in.flushOutput() // what _initialize printed, e.g. a panic in an init function
	if err != nil {
		in.mem.release()
		return nil, fmt.Errorf("instantiate %s: %w", m.cfg.Name, classify(ctx, err, nil))
	}
	in.mod = mod
	in.alloc = mod.ExportedFunction(abi.ExportAlloc)
	in.handle = mod.ExportedFunction(abi.ExportHandle)
	v, err := mod.ExportedFunction(abi.ExportVersion).Call(ctx)
	if err != nil {
		in.close()
		return nil, fmt.Errorf("%s %s: %w", m.cfg.Name, abi.ExportVersion, classify(ctx, err, nil))
	}
	if got := int32(v[0]); got < abi.MinVersion || got > abi.Version {
		in.close()
		return nil, fmt.Errorf("%w: module %s speaks version %d, host speaks %d to %d", ErrABIVersion, m.cfg.Name, got, abi.MinVersion, abi.Version)
	}
	in.abiVersion = int32(v[0])
	m.stats.created.Add(1)
	go m.work(in)
	return in, nil
}

// Garbage collection of Go guests. A guest's linear memory never shrinks:
// every page its heap once touched stays resident for the instance's life,
// so a Go guest's peak heap is its cost per instance. GOGC=100 (Go's
// default) let the order service's two instances reach 13.7 MiB of guest
// memory after 5 s of GET /orders at 32 clients; 50 held them at 10.1 MiB
// and 25 at 9.5, with no measurable change in CPU per request
// (docs/BENCHMARKS.md, "Memory of a worker"). GOMEMLIMIT at three
// quarters of the instance's page limit makes a guest near its limit
// collect harder before memory.grow fails (an out-of-memory trap). Other
// languages' runtimes ignore both variables.
const guestGOGC = "50"

// guestEnv is the WASI environment of every instance of a module whose
// linear memory is limited to pages.
func guestEnv(pages uint32) [][2]string {
	limit := uint64(pages) << 16 * 3 / 4
	return [][2]string{
		{"GOGC", guestGOGC},
		{"GOMEMLIMIT", strconv.FormatUint(limit, 10)},
	}
}

// close closes the guest, unmaps its memory and stops its worker. The
// caller guarantees that no call runs on the instance; it runs once per
// instance.
func (in *instance) close() {
	close(in.jobs)
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
	in.mem.release()
}

// flushOutput turns what the guest printed since the last flush into log
// records of whole lines.
func (in *instance) flushOutput() {
	in.stdout.flush()
	in.stderr.flush()
}

// call runs one request: edge_alloc, write the frame, edge_handle, decode.
func (in *instance) call(ctx context.Context, req *abi.Request, maxResp int) (abi.Response, error) {
	in.reqBuf = abi.AppendRequest(in.reqBuf[:0], req)
	in.st.begin(ctx)
	defer in.st.end()
	defer in.flushOutput()
	ctx = withCallState(ctx, &in.st)

	ptr, err := in.place(ctx, in.reqBuf)
	if err != nil {
		return abi.Response{}, err
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(in.reqBuf))
	if err := in.handle.CallWithStack(ctx, in.stack[:]); err != nil {
		return abi.Response{}, fmt.Errorf("%s: %w", abi.ExportHandle, classify(ctx, err, in))
	}
	p, n := abi.UnpackPtrLen(in.stack[0])
	if p == 0 {
		return abi.Response{}, &abiViolationError{export: abi.ExportHandle,
			detail: fmt.Sprintf("returned a response at address 0 (%d bytes)", n)}
	}
	if int64(n) > int64(maxResp) {
		return abi.Response{}, &responseTooLargeError{size: int64(n), limit: maxResp}
	}
	b, ok := in.mod.Memory().Read(p, n)
	if !ok {
		return abi.Response{}, &abiViolationError{export: abi.ExportHandle, outside: true,
			detail: fmt.Sprintf("returned a response at %#x+%d, outside guest memory (%d bytes)", p, n, in.mod.Memory().Size())}
	}
	resp, err := abi.DecodeResponse(b) // copies: nothing aliases guest memory
	if err != nil {
		return abi.Response{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return resp, nil
}

// place writes frame into a buffer the guest's edge_alloc returned and
// returns its address. The guest's answers are checked before they are
// used: 0 is its refusal (and never a buffer), anything else must hold
// the frame.
func (in *instance) place(ctx context.Context, frame []byte) (uint32, error) {
	in.stack[0] = uint64(len(frame))
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return 0, fmt.Errorf("%s: %w", abi.ExportAlloc, classify(ctx, err, in))
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return 0, &abiViolationError{export: abi.ExportAlloc,
			detail: fmt.Sprintf("returned 0: the guest refused a frame of %d bytes", len(frame))}
	}
	if !in.mod.Memory().Write(ptr, frame) {
		return 0, &abiViolationError{export: abi.ExportAlloc, outside: true,
			detail: fmt.Sprintf("returned %#x: %d bytes there are outside guest memory (%d bytes)", ptr, len(frame), in.mod.Memory().Size())}
	}
	return ptr, nil
}

// classify wraps a guest call error in ErrTimeout or ErrTrap (and
// ErrMemoryLimit when the guest's memory is at its limit).
func classify(ctx context.Context, err error, in *instance) error {
	if errors.Is(err, ErrTimeout) {
		return err // a host import unwound the guest at the deadline
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return fmt.Errorf("%w: guest exited with code %d", ErrTrap, exit.ExitCode())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	if in != nil && !in.mod.IsClosed() && in.limit > 0 {
		// A guest fails a grow near its limit, not exactly at it: a Go
		// guest grows in multi-MiB steps.
		if size := uint64(in.mod.Memory().Size()); size >= in.limit-in.limit/8 {
			return fmt.Errorf("%w: %w: %d of %d bytes: %w", ErrTrap, ErrMemoryLimit, size, in.limit, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrTrap, err)
}

// age reports how long the running call has run.
func (in *instance) age(now time.Time) time.Duration {
	s := in.started.Load()
	if s == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, s))
}
