package wasmhost

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/kvstore"
)

// The Go guest of tests/guests/capguest, built once per test binary: the
// kv and call imports through the SDK as a module author uses them.
var capGuest struct {
	once sync.Once
	dir  string
	wasm []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if capGuest.dir != "" {
		os.RemoveAll(capGuest.dir)
	}
	os.Exit(code)
}

func capGuestWasm(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	capGuest.once.Do(func() {
		if capGuest.dir, capGuest.err = os.MkdirTemp("", "wasmhost-capguest"); capGuest.err != nil {
			return
		}
		out := filepath.Join(capGuest.dir, "capguest.wasm")
		c := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./tests/guests/capguest")
		c.Dir = filepath.Join("..", "..")
		c.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := c.CombinedOutput(); err != nil {
			capGuest.err = fmt.Errorf("build capguest: %v\n%s", err, b)
			return
		}
		capGuest.wasm, capGuest.err = os.ReadFile(out)
	})
	if capGuest.err != nil {
		t.Fatal(capGuest.err)
	}
	return capGuest.wasm
}

// capModule loads the guest with cfg and serves it on a test server.
func capModule(t testing.TB, kind EngineKind, cfg Config) (*Module, *httptest.Server) {
	t.Helper()
	wasm := capGuestWasm(t)
	if kind == EngineCompiler && !compilerUsable() {
		t.Skip("compiler not usable here")
	}
	// One compilation cache for every test of the guest: a compile of a
	// Go guest takes seconds.
	e, err := NewEngine(EngineConfig{Kind: kind, CacheDir: filepath.Join(capGuest.dir, "cache"), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "capguest@1.0.0"
	}
	var m *Module
	m, err = e.Load(context.Background(), wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	return m, srv
}

func openKV(t testing.TB, path string, l kvstore.Limits) *kvstore.Store {
	t.Helper()
	s, err := kvstore.Open(context.Background(), path, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type capAnswer struct {
	status int
	body   string
	header http.Header
}

func do(t testing.TB, method, url, body string, header ...string) capAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return capAnswer{resp.StatusCode, string(b), resp.Header}
}
