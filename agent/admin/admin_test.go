package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
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
