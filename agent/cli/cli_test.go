package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
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

// TestServeMissingModule: a module that cannot be read fails with exit 1
// and a message naming the problem.
func TestServeMissingModule(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"serve", "/nonexistent/x.wasm", "--data", t.TempDir()}, &stdout, &stderr)
	if code != exitFail || !strings.Contains(stderr.String(), "read module") {
		t.Errorf("code %d, stderr %q; want 1 and a read error", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "edge-agent ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
}
