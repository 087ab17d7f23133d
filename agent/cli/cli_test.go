package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/internal/dbbind"
)

// TestUsageErrors: bad command lines exit 2 with a message and start nothing.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"serve"}, "MODULE.wasm argument is required"},
		{[]string{"serve", "a.wasm", "b.wasm"}, "one module at a time"},
		{[]string{"serve", "a.wasm", "--pool", "0"}, "--pool 0"},
		{[]string{"serve", "a.wasm", "--deadline", "-1s"}, "--deadline"},
		{[]string{"serve", "a.wasm", "--deadline-mode", "yolo"}, `--deadline-mode "yolo"`},
		{[]string{"serve", "a.wasm", "--engine", "jit"}, `--engine "jit"`},
		{[]string{"serve", "a.wasm", "--memory-pages", "70000"}, "--memory-pages 70000"},
		{[]string{"serve", "a.wasm", "--body-limit", "0"}, "--body-limit 0"},
		{[]string{"serve", "a.wasm", "--body-timeout", "0s"}, "--body-timeout 0s"},
		{[]string{"serve", "a.wasm", "--body-idle-timeout", "-1s"}, "--body-idle-timeout -1s"},
		{[]string{"serve", "a.wasm", "--body-buffer", "0"}, "--body-buffer 0"},
		{[]string{"serve", "a.wasm", "--max-conns", "0"}, "--max-conns 0"},
		{[]string{"serve", "a.wasm", "--config", "novalue"}, `--config "novalue"`},
		{[]string{"serve", "a.wasm", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"serve", "a.wasm", "--log-level", "loud"}, `log level "loud"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tt.args, &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("Run(%q) = %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("Run(%q) stderr = %q, want it to contain %q", tt.args, stderr.String(), tt.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("Run(%q) wrote to stdout: %q", tt.args, stdout.String())
		}
	}
}

// TestServeConfigErrors: what the flags name is checked at start, and a
// fault there is a configuration error (exit 2) naming it: a module that
// cannot be read, a DSN that does not parse, a SQLite file (--db, --kv)
// whose folder does not exist, which is not created (F9: exit 1, and a
// typo'd folder was created and served an empty database).
func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(mod, []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nonexist")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "/nonexistent/x.wasm"}, "/nonexistent/x.wasm"},
		{[]string{"serve", dir}, "is a folder"},
		{[]string{"serve", mod, "--db", "bogus:/x"}, `"bogus:/x"`},
		{[]string{"serve", mod, "--db", "sqlite:" + filepath.Join(missing, "x.db")}, missing},
		{[]string{"serve", mod, "--kv", filepath.Join(missing, "kv.db")}, missing},
		{[]string{"serve", mod, "--in-process", "--db", "sqlite:" + filepath.Join(missing, "x.db")}, missing},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), append(tt.args, "--data", t.TempDir()), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("Run(%q) = %d, stderr %q; want %d and a message naming %s", tt.args, code, stderr.String(), exitUsage, tt.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("%s was created", missing)
	}
}

// TestExitCode: the one mapping from a subcommand's error to its exit
// code: configuration errors found while running exit 2, the rest 1.
func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("listen: address in use"), exitFail},
		{configError{errors.New("read module: x")}, exitUsage},
		{fmt.Errorf("state: %w", configError{errors.New("x")}), exitUsage},
		{fmt.Errorf("worker: %w", dbbind.ErrDSN), exitUsage},
		{fmt.Errorf("worker: %w", dbbind.ErrNoFolder), exitUsage},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestServeCacheNotInAgentData: serve's default compilation cache is in
// the user's cache folder, not the fleet agent's data folder.
func TestServeCacheNotInAgentData(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if got := defaultServeDir(); got == defaultDataDir() || !strings.HasPrefix(got, os.Getenv("XDG_CACHE_HOME")) {
		t.Errorf("serve's default folder %s; want one in $XDG_CACHE_HOME, not the agent's %s", got, defaultDataDir())
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "edge-agent ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
}
