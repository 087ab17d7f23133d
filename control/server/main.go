package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/edgeplane/edge/internal/buildinfo"
)

// Main runs edge-control until SIGINT or SIGTERM and returns the exit code:
// 0 after a clean stop, 2 for bad flags, 1 for any other failure.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := DefaultConfig()
	if v := os.Getenv("EDGE_BROKER_PASSWORD"); v != "" {
		cfg.BrokerPassword = v
	}
	if v := os.Getenv("EDGE_CONTROL_DB"); v != "" { // keeps the password off the command line
		cfg.DB = v
	}
	if len(args) > 0 && args[0] == "version" { // as edge-agent and edgectl take it
		args = append([]string{"--version"}, args[1:]...)
	}
	if err := ParseFlags(&cfg, args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "edge-control:", err)
		return 2
	}
	if cfg.PrintVersion {
		if err := buildinfo.Print(stdout, "edge-control", cfg.VersionJSON); err != nil {
			return 1
		}
		return 0
	}
	if cfg.VersionJSON {
		fmt.Fprintln(stderr, "edge-control: --json goes with --version")
		return 2
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "edge-control:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := Start(ctx, cfg, log)
	if err != nil {
		// One clear line, the last one, whatever the logs said before.
		fmt.Fprintln(stderr, "edge-control:", err)
		if errors.Is(err, ErrConfig) {
			return 2
		}
		return 1
	}
	mqtt := s.BrokerURL()
	log.Info("ready", "http", s.URL(), "mqtt", mqtt, "data", cfg.DataDir)
	// The ready line stays the first line of stdout (scripts read it).
	fmt.Fprintf(stdout, "edge-control: http on %s, mqtt on %s\n", s.URL(), mqtt)
	if t := s.NewAdminToken(); t != "" {
		// Created by this start or by an earlier one that failed before
		// this line (authconfig.go). Once, on a terminal only: under systemd stdout is the journal,
		// which more people read and keep longer than the 0600 file.
		path := filepath.Join(cfg.DataDir, AdminTokenFile)
		log.Info("admin token created", "file", path)
		if isTerminal(stdout) {
			fmt.Fprintf(stdout, "edge-control: admin token (shown once, also in %s, mode 0600): %s\n", path, t)
		} else {
			fmt.Fprintf(stdout, "edge-control: admin token written to %s (mode 0600)\n", path)
		}
		if err := s.AdminTokenAnnounced(); err != nil {
			log.Warn("admin token: the next start will announce it again", "err", err)
		}
	}
	<-ctx.Done()
	log.Info("shutting down")
	if err := s.Close(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device: a terminal (or
// /dev/null, which loses what it is given), never the journal's socket
// or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
