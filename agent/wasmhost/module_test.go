package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

func TestLoadRejects(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			e := newTestEngine(t, kind)
			tests := []struct {
				name string
				wasm []byte
				want error
			}{
				{"badversion", guest(t, "badversion"), ErrABIVersion},
				{"noexports", guest(t, "noexports"), ErrMissingExport},
				{"garbage", []byte("\x00asm garbage"), nil},
			}
			for _, tt := range tests {
				m, err := e.Load(context.Background(), tt.wasm, Config{Name: tt.name})
				if err == nil {
					m.Close(context.Background())
					t.Errorf("Load(%s) = nil error, want error", tt.name)
					continue
				}
				if tt.want != nil && !isErr(err, tt.want) {
					t.Errorf("Load(%s) = %v, want %v", tt.name, err, tt.want)
				}
			}
		})
	}
}

// TestOlderABIVersionRuns: the host runs a guest of every version from
// abi.MinVersion (the echo guest speaks 1) and says which it speaks.
func TestOlderABIVersionRuns(t *testing.T) {
	if abi.MinVersion != 1 || abi.Version < 2 {
		t.Fatalf("the test guests speak 1: MinVersion %d, Version %d", abi.MinVersion, abi.Version)
	}
	m := load(t, newTestEngine(t, EngineInterpreter), "echo", Config{})
	if got := m.ABIVersion(); got != 1 {
		t.Errorf("ABIVersion = %d, want 1", got)
	}
	resp, err := serveBody(m, []byte("v1"))
	if err != nil || resp.Status != 200 || string(resp.Body) != "v1" {
		t.Errorf("a version 1 guest: %d %q %v, want 200 \"v1\"", resp.Status, resp.Body, err)
	}
}

func TestEchoAndPoolGrowth(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "echo", Config{PoolSize: 3})
			waitFor(t, "pool of 3", func() bool { s := m.Stats(); return s.Instances == 3 && s.Idle == 3 })
			for _, body := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("x"), 300_000)} {
				resp, err := serveBody(m, body)
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
				if resp.Status != 200 || !bytes.Equal(resp.Body, body) {
					t.Errorf("got %d %d bytes, want 200 %d bytes", resp.Status, len(resp.Body), len(body))
				}
			}
			if got := m.Stats(); got.Engine != kind.String() || got.Requests != 3 || got.Errors != 0 {
				t.Errorf("Stats = %+v", got)
			}
		})
	}
}

// TestGuestFailures: each failure is reported and the next request on the
// pool succeeds on a fresh instance.
func TestGuestFailures(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"trap", []byte{1}, ErrTrap},
		{"memory growth", []byte{3}, ErrMemoryLimit},
		{"out-of-bounds response", []byte{6}, ErrBadResponse},
		{"malformed response", []byte{7}, ErrBadResponse},
	}
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "echo", Config{PoolSize: 1, Limits: Limits{MemoryPages: 256}})
			for _, tt := range tests {
				_, err := serveBody(m, tt.body)
				if !isErr(err, tt.want) {
					t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
				}
				resp, err := serveBody(m, []byte("ok"))
				if err != nil || string(resp.Body) != "ok" {
					t.Errorf("%s: next request = %q, %v; want ok", tt.name, resp.Body, err)
				}
			}
			s := m.Stats()
			if s.Traps != 2 || s.MemoryLimits != 1 || s.BadResponses != 2 || s.InstancesDiscarded != 4 {
				t.Errorf("Stats = %+v, want 2 traps (1 at the memory limit), 2 bad responses, 4 discarded", s)
			}
		})
	}
}

// TestGuestABIViolations: an export that returns 0 or a pointer outside
// guest memory is a failed call, named after the export, answered 500; the
// request is never written at address 0 nor read from there, and the
// instance is replaced. Body 0x08 M echoes and sets how the instance's
// later edge_alloc calls misbehave (see testdata/echo.wat).
func TestGuestABIViolations(t *testing.T) {
	tests := []struct {
		name   string
		setup  []byte // sent first, answered normally
		body   []byte
		export string
	}{
		{"edge_alloc refuses (returns 0)", []byte{8, 1}, []byte("x"), abi.ExportAlloc},
		{"edge_alloc returns a pointer past memory", []byte{8, 2}, []byte("x"), abi.ExportAlloc},
		{"edge_alloc returns a buffer crossing the end of memory", []byte{8, 3}, []byte("x"), abi.ExportAlloc},
		{"edge_handle returns a response at address 0", nil, []byte{9}, abi.ExportHandle},
		{"edge_handle returns a response outside memory", nil, []byte{6}, abi.ExportHandle},
	}
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "echo", Config{PoolSize: 1})
			for i, tt := range tests {
				if tt.setup != nil {
					if resp, err := serveBody(m, tt.setup); err != nil || resp.Status != 200 {
						t.Fatalf("%s: setup: %d, %v", tt.name, resp.Status, err)
					}
				}
				resp, err := serveBody(m, tt.body)
				var violation *abiViolationError
				if !errors.As(err, &violation) || violation.export != tt.export || !isErr(err, ErrBadResponse) {
					t.Errorf("%s: got %d %q, err %v; want a violation of %s matching ErrBadResponse", tt.name, resp.Status, resp.Body, err, tt.export)
					continue
				}
				if got := errorStatus(err); got != http.StatusInternalServerError {
					t.Errorf("%s: status %d, want 500", tt.name, got)
				}
				if !strings.Contains(violation.clientText(), tt.export) {
					t.Errorf("%s: client text %q does not name %s", tt.name, violation.clientText(), tt.export)
				}
				resp, err = serveBody(m, []byte("ok"))
				if err != nil || string(resp.Body) != "ok" {
					t.Errorf("%s: next request = %q, %v; want ok on a fresh instance", tt.name, resp.Body, err)
				}
				if s := m.Stats(); s.InstancesDiscarded != uint64(i+1) || s.BadResponses != uint64(i+1) {
					t.Errorf("%s: Stats = %+v, want %d discarded, %d bad responses", tt.name, s, i+1, i+1)
				}
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	m := load(t, newTestEngine(t, EngineInterpreter), "echo", Config{PoolSize: 1, Limits: Limits{MaxRequestBody: 10}})
	if _, err := serveBody(m, make([]byte, 11)); !isErr(err, ErrBodyTooLarge) {
		t.Errorf("err = %v, want ErrBodyTooLarge", err)
	}
	if _, err := serveBody(m, make([]byte, 10)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

// TestInfiniteLoopInterrupt: a looping guest is stopped at its deadline
// while the other instance keeps serving.
func TestInfiniteLoopInterrupt(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "echo", Config{PoolSize: 2, Limits: Limits{Deadline: deadline}})
			waitFor(t, "pool of 2", func() bool { return m.Stats().Idle == 2 })
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				_, err := serveBody(m, []byte{2})
				if el := time.Since(start); !isErr(err, ErrTimeout) || el > deadline+200*time.Millisecond {
					t.Errorf("loop: err = %v after %v, want ErrTimeout within %v", err, el, deadline+200*time.Millisecond)
				}
			}()
			time.Sleep(20 * time.Millisecond)
			for i := 0; i < 20; i++ {
				if resp, err := serveBody(m, []byte("x")); err != nil || string(resp.Body) != "x" {
					t.Errorf("concurrent echo %d: %q, %v", i, resp.Body, err)
				}
			}
			wg.Wait()
			waitFor(t, "loop instance replaced", func() bool {
				s := m.Stats()
				return s.Running == 0 && s.Instances == 2 && s.Idle == 2
			})
			if s := m.Stats(); s.Timeouts != 1 {
				t.Errorf("Timeouts = %d, want 1", s.Timeouts)
			}
		})
	}
}

// TestFastModeDeadline: without interrupt checks the caller still gets
// ErrTimeout at the deadline; the instance is abandoned, its call's age is
// visible, and it is closed when the call returns.
func TestFastModeDeadline(t *testing.T) {
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 1, Deadline: DeadlineFast,
		Limits: Limits{Deadline: 100 * time.Millisecond}})
	spin := binary.LittleEndian.AppendUint32([]byte{5}, 1_500_000_000) // ~0.5–1.5 s of compiled loop
	// A stop-the-world GC waits for the uninterruptible guest and freezes
	// the whole process, the caller included (the reason fast mode needs
	// the supervisor's watchdog). The race detector's allocations made that
	// happen here; keep the collector out of this measurement.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	start := time.Now()
	_, err := serveBody(m, spin)
	if el := time.Since(start); !isErr(err, ErrTimeout) || el > 300*time.Millisecond {
		t.Fatalf("err = %v after %v, want ErrTimeout near 100ms", err, el)
	}
	s := m.Stats()
	if s.Abandoned != 1 || s.OldestCall < 100*time.Millisecond {
		t.Errorf("Stats = %+v, want 1 abandoned call older than 100ms", s)
	}
	// A replacement serves meanwhile. Its instantiation is not bounded by
	// the 100 ms request deadline on a loaded machine, so wait for it first.
	waitFor(t, "replacement instance", func() bool { return m.Stats().Idle == 1 })
	if resp, err := serveBody(m, []byte("next")); err != nil || string(resp.Body) != "next" {
		t.Errorf("next request: %q, %v", resp.Body, err)
	}
	waitFor(t, "abandoned call to return", func() bool { return m.Stats().Running == 0 })
	if s := m.Stats(); s.Abandoned != 0 || s.OldestCall != 0 || s.Instances != 1 {
		t.Errorf("after return: Stats = %+v", s)
	}
}

func TestNoInstanceUnavailable(t *testing.T) {
	settings := map[string]string{}
	m := load(t, newTestEngine(t, EngineInterpreter), "initfail", Config{PoolSize: 1, Settings: settings})
	settings["fail"] = "1" // every later instance fails in _initialize; the pool is idle
	if _, err := serveBody(m, nil); !isErr(err, ErrTrap) {
		t.Fatalf("first request: %v, want ErrTrap", err)
	}
	waitFor(t, "creation failure", func() bool {
		_, err := serveBody(m, nil)
		return isErr(err, ErrUnavailable)
	})
}

func TestConcurrentRequests(t *testing.T) {
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 4})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				body := []byte(strings.Repeat("ab", g*10+i+1))
				if i%17 == 3 {
					body = []byte{1} // trap now and then
				}
				resp, err := serveBody(m, body)
				if body[0] == 1 {
					if !isErr(err, ErrTrap) {
						t.Errorf("trap: %v", err)
					}
					continue
				}
				if err != nil || !bytes.Equal(resp.Body, body) {
					t.Errorf("echo: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if s := m.Stats(); s.Requests != 800 || s.Running != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestCorruptedCache: a corrupted cache entry is purged and the module
// recompiled.
func TestCorruptedCache(t *testing.T) {
	if !compilerUsable() {
		t.Skip("compiler not usable")
	}
	dir := t.TempDir()
	logs := &syncBuffer{}
	newEngine := func() *Engine {
		e, err := NewEngine(EngineConfig{Kind: EngineCompiler, CacheDir: dir, Logger: slogTo(logs)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	m, err := newEngine().Load(context.Background(), guest(t, "echo"), Config{Name: "echo", PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.Close(context.Background())
	files, _ := filepath.Glob(filepath.Join(dir, "wazero-*", "*"))
	if len(files) == 0 {
		t.Fatal("no cache entry written")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m2 := load(t, newEngine(), "echo", Config{PoolSize: 1})
	if resp, err := serveBody(m2, []byte("again")); err != nil || string(resp.Body) != "again" {
		t.Errorf("after recompile: %q, %v", resp.Body, err)
	}
	if !strings.Contains(logs.String(), "purging") {
		t.Errorf("no purge logged; logs:\n%s", logs)
	}
}

func TestRequestFrame(t *testing.T) {
	// The request frame carries method, URI, remote address and headers:
	// check the echo guest sees a well-formed frame with all of them.
	m := load(t, newTestEngine(t, EngineInterpreter), "echo", Config{PoolSize: 1})
	req := &abi.Request{Method: "PUT", URI: "/a?b=c", RemoteAddr: "1.2.3.4:5",
		Header: []abi.Header{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}, Body: []byte("body")}
	resp, err := m.Serve(context.Background(), req)
	if err != nil || string(resp.Body) != "body" {
		t.Errorf("Serve = %q, %v", resp.Body, err)
	}
}
