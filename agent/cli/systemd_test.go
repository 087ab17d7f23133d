package cli

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeSupervisor struct{ stuck sync.Mutex }

func (f *fakeSupervisor) Running() map[string]string {
	f.stuck.Lock()
	defer f.stuck.Unlock()
	return nil
}

// TestNotifySystemd listens where systemd would (NOTIFY_SOCKET) and checks
// READY=1, then watchdog pings while the supervisor answers and none while
// it is stuck.
func TestNotifySystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "150000") // pings every 50 ms
	sup := &fakeSupervisor{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { notifySystemd(ctx, sup, slog.New(slog.DiscardHandler)); close(done) }()

	read := func(within time.Duration) string {
		conn.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	if got := read(2 * time.Second); got != "READY=1" {
		t.Fatalf("first message %q, want READY=1", got)
	}
	if got := read(time.Second); got != "WATCHDOG=1" {
		t.Fatalf("message %q, want WATCHDOG=1", got)
	}
	sup.stuck.Lock()             // the supervisor stops answering
	read(100 * time.Millisecond) // a ping already under way may still arrive
	if got := read(300 * time.Millisecond); got != "" {
		t.Errorf("got %q while the supervisor was stuck, want no ping", got)
	}
	sup.stuck.Unlock()
	if got := read(time.Second); got != "WATCHDOG=1" {
		t.Errorf("after recovery %q, want WATCHDOG=1", got)
	}
	cancel()
	<-done
	for got := read(time.Second); got != ""; got = read(time.Second) {
		if strings.HasPrefix(got, "STOPPING=1") {
			return
		}
	}
	t.Error("no STOPPING=1 at shutdown")
}
