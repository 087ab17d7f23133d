package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// engines is the table every ABI test runs over.
var engines = []EngineKind{EngineCompiler, EngineInterpreter}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func guest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestEngine(t testing.TB, kind EngineKind) *Engine {
	t.Helper()
	if kind == EngineCompiler && !compilerUsable() {
		t.Skip("compiler not usable here")
	}
	e, err := NewEngine(EngineConfig{Kind: kind, CacheDir: t.TempDir(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func load(t testing.TB, e *Engine, name string, cfg Config) *Module {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = name
	}
	m, err := e.Load(context.Background(), guest(t, name), cfg)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func serveBody(m *Module, body []byte) (abi.Response, error) {
	return m.Serve(context.Background(), &abi.Request{Method: "POST", URI: "/", Body: body})
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	// Generous: a guest's second of loop takes tens of seconds on a
	// machine loaded by other builds and tests.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Commands of the hostcalls guest (see testdata/hostcalls.wat).
const (
	opLog        = 1
	opConfigGet  = 2
	opSQL        = 3
	opFetch      = 4
	opResultRead = 5
	rawLog       = 0x11
	rawConfigGet = 0x12
	rawSQL       = 0x13
	rawFetch     = 0x14
	rawResult    = 0x15
)

func cmd(op byte, capacity uint32, payload []byte) []byte {
	b := []byte{op}
	b = binary.LittleEndian.AppendUint32(b, capacity)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func raw(op byte, a, b, c, d uint32) []byte {
	out := []byte{op}
	for _, v := range []uint32{a, b, c, d} {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	return out
}

type record struct {
	rc   int32
	data []byte
}

// callGuest runs commands on the hostcalls guest and splits its records.
func callGuest(t testing.TB, m *Module, cmds ...[]byte) []record {
	t.Helper()
	resp, err := serveBody(m, bytes.Join(cmds, nil))
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var recs []record
	b := resp.Body
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("truncated record")
		}
		rc := int32(binary.LittleEndian.Uint32(b))
		n := binary.LittleEndian.Uint32(b[4:])
		recs = append(recs, record{rc, append([]byte(nil), b[8:8+n]...)})
		b = b[8+n:]
	}
	if len(recs) != len(cmds) {
		t.Fatalf("got %d records, want %d", len(recs), len(cmds))
	}
	return recs
}

func sqlCmd(capacity uint32, r abi.SQLRequest) []byte {
	return cmd(opSQL, capacity, abi.AppendSQLRequest(nil, &r))
}

// sqlResult decodes a record answering a request of operation op.
func sqlResult(t testing.TB, op abi.SQLOp, rec record) abi.SQLResult {
	t.Helper()
	if rec.rc < 0 {
		t.Fatalf("sql returned code %d", rec.rc)
	}
	r, err := abi.DecodeSQLResult(op, rec.data)
	if err != nil {
		t.Fatalf("DecodeSQLResult: %v", err)
	}
	return r
}

func errCode(r *abi.Error) abi.ErrorCode {
	if r == nil {
		return 0
	}
	return r.Code
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
