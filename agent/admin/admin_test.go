package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminSocket(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := Listen(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	s.HandleJSON("/status", func() any { return map[string]int{"n": 7} })
	go s.Serve()

	fi, err := os.Stat(SocketPath(dir))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v (%v), want a socket of mode 0600", fi, err)
	}
	var got map[string]int
	if err := Get(context.Background(), dir, "/status", &got); err != nil || got["n"] != 7 {
		t.Fatalf("Get /status = %v, %v; want n=7", got, err)
	}
	if err := Get(context.Background(), dir, "/nope", &got); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Get /nope = %v, want a 404 error", err)
	}
	if _, err := Listen(dir, log); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen on the same folder = %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Get(context.Background(), dir, "/status", &got); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Get after Close = %v, want ErrNotRunning", err)
	}
}

// TestStaleSocket: an agent that died left its socket; the next one
// replaces it.
func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(SocketPath(dir)); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	s, err := Listen(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.Close()
}

func TestSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	os.MkdirAll(dir, 0o700)
	if _, err := Listen(dir, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("Listen with a %d-byte path = %v, want an error naming --data", len(SocketPath(dir)), err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9101", true},
		{"127.1.2.3:9101", true},
		{"[::1]:9101", true},
		{"localhost:0", true},
		{"0.0.0.0:9101", false},
		{"[::]:9101", false},
		{":9101", false},
		{"192.168.1.10:9101", false},
		{"controller:9101", false},
		{"127.0.0.1", false},
		{"127.0.0.1:http", false},
		{"127.0.0.1:99999", false},
	} {
		err := CheckLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	if err := CheckLoopback("10.0.0.1:1"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("err %v, want ErrNotLoopback", err)
	}
}

// TestMetricsTCP: the loopback listener serves /metrics and nothing else.
func TestMetricsTCP(t *testing.T) {
	s, err := Listen(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.HandleJSON("/status", func() any { return "secret" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := s.ServeMetricsTCP(ctx, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "up 1\n")
	}))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/metrics": 200, "/status": 404, "/": 404} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if _, err := s.ServeMetricsTCP(ctx, "0.0.0.0:0", http.NotFoundHandler()); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("ServeMetricsTCP on every interface = %v, want ErrNotLoopback", err)
	}
}
