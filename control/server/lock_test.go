//go:build unix

package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOneControllerPerDataFolder: a second edge-control on a data folder
// in use is refused (it used to start, with a second embedded broker, on
// the same database and blobs); once the first stops, it starts.
func TestOneControllerPerDataFolder(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, func(c *Config) { c.DataDir = dir })
	cfg := DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr, cfg.DB = dir, "127.0.0.1:0", "127.0.0.1:0", first.cfg.DB
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s, err := Start(ctx, cfg, testLogger(t)); !errors.Is(err, ErrDataInUse) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second controller on %s: %v, want %v", dir, err, ErrDataInUse)
	}
	// --new-admin-token needs the running controller stopped: say so.
	cfg.NewAdminToken = true
	if s, err := Start(ctx, cfg, testLogger(t)); !errors.Is(err, ErrDataInUse) || !strings.Contains(err.Error(), "stop the running edge-control") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("--new-admin-token beside a running controller: %v, want %v and how to go about it", err, ErrDataInUse)
	}
	cfg.NewAdminToken = false
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	s.Close()
}
