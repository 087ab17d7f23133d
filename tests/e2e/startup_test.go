package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartupFailures is case 7 of issue 7: edge-control panicked with a
// nil-pointer dereference when its HTTP or MQTT port was taken or its data
// folder unusable, and said nothing for 20 s when its broker was down.
// Every start-up failure of the three programs now ends with one clear line
// (the last one on stderr, "<program>: <what failed>") and a non-zero exit,
// quickly. The tests run as root, so an unusable folder is a file where the
// folder should be.
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("not a folder"), 0o600)
	taken := takenPort(t)
	refused := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	keys := t.TempDir()
	if _, errOut, code := edgectl(t, "keygen", "--out", keys); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	pub, key := filepath.Join(keys, "edge.pub"), filepath.Join(keys, "edge.key")
	// A running controller whose embedded broker refuses a wrong password.
	f := startFleet(t)
	// A running agent whose data folder a second one must not use.
	busy := t.TempDir()
	start(t, agentRunning, nil, bin(t, "edge-agent"), "run", "--id", "busy-1", "--broker", "tcp://"+refused, "--trust", pub, "--data", busy)

	control, agent := bin(t, "edge-control"), bin(t, "edge-agent")
	data := func() string { return t.TempDir() }
	tests := []struct {
		name string
		prog string
		args []string
		code int
		want []string // in the error line: the last line of stderr that starts with the program's name
	}{
		{"control: HTTP port taken", control, []string{"--data", data(), "--http", taken, "--mqtt", "127.0.0.1:0"}, 1, []string{"http listen", taken, "address already in use"}},
		{"control: MQTT port taken", control, []string{"--data", data(), "--http", "127.0.0.1:0", "--mqtt", taken}, 1, []string{"mqtt broker", taken, "address already in use"}},
		{"control: data folder is a file", control, []string{"--data", file, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, 1, []string{"data folder", file, "not a directory"}},
		{"control: data folder under a file", control, []string{"--data", filepath.Join(file, "sub"), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, 1, []string{"data folder", "not a directory"}},
		{"control: broker down", control, []string{"--data", data(), "--http", "127.0.0.1:0", "--broker", "tcp://" + refused, "--broker-wait", "2s"}, 1, []string{"tcp://" + refused, "connection refused", "gave up"}},
		{"control: broker unknown host", control, []string{"--data", data(), "--http", "127.0.0.1:0", "--broker", "tcp://no-such-broker.invalid:1883", "--broker-wait", "2s"}, 1, []string{"DNS lookup failed"}},
		{"control: broker refuses the password", control, []string{"--data", data(), "--http", "127.0.0.1:0", "--broker", "tcp://" + f.mqtt, "--broker-user", "ctl", "--broker-password", "wrong", "--client-id", "ctl"}, 1, []string{"tcp://" + f.mqtt, "not authorized"}},
		{"control: trust file missing", control, []string{"--data", data(), "--trust", filepath.Join(dir, "none.pub")}, 2, []string{"--trust", "no such file"}},
		{"control: registry config missing", control, []string{"--data", data(), "--registry-config", filepath.Join(dir, "none.json")}, 2, []string{"--registry-config", "no such file"}},
		{"control: registry config not JSON", control, []string{"--data", data(), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--registry-config", file}, 1, []string{"--registry-config", file}},
		{"control: unknown flag", control, []string{"--no-such-flag"}, 2, []string{"no-such-flag"}},
		{"agent run: data folder is a file", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", pub, "--data", file}, 1, []string{"data folder", file, "not a directory"}},
		{"agent run: data folder in use", agent, []string{"run", "--id", "d2", "--broker", "tcp://" + refused, "--trust", pub, "--data", busy}, 1, []string{"data folder", "another edge-agent is running"}},
		{"agent run: trust file missing", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", filepath.Join(dir, "none.pub"), "--data", data()}, 2, []string{"--trust", "no such file"}},
		{"agent run: password file missing", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", pub, "--password-file", filepath.Join(dir, "none"), "--data", data()}, 2, []string{"--password-file", "no such file"}},
		{"agent run: broker URL without port", agent, []string{"run", "--id", "d1", "--broker", "tcp://host", "--trust", pub, "--data", data()}, 2, []string{"--broker", "tcp://HOST:PORT"}},
		{"agent run: bad device id", agent, []string{"run", "--id", "a/b", "--broker", "tcp://" + refused, "--trust", pub, "--data", data()}, 2, []string{"--id", "invalid device id"}},
		{"agent serve: port taken", agent, []string{"serve", bin(t, "orders.wasm"), "--http", taken, "--data", data()}, 1, []string{taken, "address already in use"}},
		{"agent run: sqlite folder missing", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", pub, "--data", data(), "--db", "local=sqlite:" + filepath.Join(dir, "nonexist", "x.db")}, 2, []string{"--db local", filepath.Join(dir, "nonexist"), "does not exist"}},
		{"agent run: bad label", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", pub, "--data", data(), "--label", "x=<img src=x>"}, 2, []string{"--label", "invalid value"}},
		{"agent run: bogus dsn", agent, []string{"run", "--id", "d1", "--broker", "tcp://" + refused, "--trust", pub, "--data", data(), "--db", "local=bogus:/x"}, 2, []string{"--db local", "bogus:/x"}},
		{"agent serve: module missing", agent, []string{"serve", filepath.Join(dir, "none.wasm"), "--http", "127.0.0.1:0", "--data", data()}, 2, []string{"none.wasm", "no such file"}},
		{"agent serve: bogus dsn", agent, []string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--data", data(), "--db", "bogus:/x"}, 2, []string{"--db", "bogus:/x"}},
		{"agent serve: database folder missing", agent, []string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--data", data(), "--db", "sqlite:" + filepath.Join(dir, "nonexist", "x.db")}, 2, []string{"--db", filepath.Join(dir, "nonexist"), "does not exist"}},
		{"agent serve: not a module", agent, []string{"serve", file, "--http", "127.0.0.1:0", "--data", data()}, 1, []string{"a-file", "invalid magic number"}},
		{"agent serve: data folder is a file", agent, []string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--data", file}, 1, []string{file, "not a directory"}},
		{"agent serve: database folder is a file", agent, []string{"serve", bin(t, "orders.wasm"), "--http", "127.0.0.1:0", "--data", data(), "--db", "sqlite:" + filepath.Join(file, "orders.db")}, 2, []string{"sqlite", file, "not a folder"}},
		{"edgectl: controller down", bin(t, "edgectl"), []string{"devices", "--control", "http://" + refused}, 1, []string{"cannot reach the controller", "connection refused"}},
		{"edgectl: controller unknown host", bin(t, "edgectl"), []string{"devices", "--control", "http://no-such-controller.invalid:7080"}, 1, []string{"cannot reach the controller", "no such host"}},
		{"edgectl: bad controller URL", bin(t, "edgectl"), []string{"devices", "--control", "ftp://x"}, 2, []string{"controller address", "http://HOST:PORT"}},
		{"edgectl: key missing", bin(t, "edgectl"), []string{"push", bin(t, "orders.wasm"), "--key", filepath.Join(dir, "none.key"), "--version", "1.0.0", "--port", "8080", "--node", "a", "--control", f.control}, 1, []string{"key", "no such file"}},
		{"edgectl: module missing", bin(t, "edgectl"), []string{"push", filepath.Join(dir, "none.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "a", "--control", f.control}, 1, []string{"module", "no such file"}},
		{"edgectl: keygen into a file", bin(t, "edgectl"), []string{"keygen", "--out", file}, 1, []string{"keygen", "not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr, took := runToExit(t, 30*time.Second, tt.prog, tt.args...)
			prefix := filepath.Base(tt.prog)
			last := errorLine(stderr, prefix)
			if code != tt.code || !strings.HasPrefix(last, prefix) {
				t.Errorf("exit %d, last line %q; want exit %d and a line starting %q\n%s", code, last, tt.code, prefix, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("last line %q does not say %q", last, w)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("output has a panic:\n%s", stderr)
			}
			if took > 15*time.Second {
				t.Errorf("took %s to fail, want it at once (or after --broker-wait)", took.Round(time.Millisecond))
			}
		})
	}
}

// takenPort returns a loopback address something is listening on.
func takenPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// runToExit runs a program to completion within timeout and returns its
// exit code, its stderr and how long it ran.
func runToExit(t *testing.T, timeout time.Duration, name string, args ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("%s %s still running after %s:\n%s", filepath.Base(name), strings.Join(args, " "), timeout, stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String(), took
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String(), took
	}
	t.Fatalf("run %s: %v", name, err)
	return 0, "", 0
}

// errorLine is the last line of s that starts with prefix (edgectl adds a
// usage hint after the error of a malformed command line).
func errorLine(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}
