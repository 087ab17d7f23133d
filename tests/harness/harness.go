// Package harness runs the project's real programs for the tests that drive
// them end to end (tests/e2e, tests/qemu, tests/pushbench): it builds them
// once (or takes them from EDGE_BIN, as make test does), starts a program
// and waits for its ready line, stops it with SIGINT and makes HTTP calls.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
)

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ReadFile reads a file given relative to the repository.
func ReadFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// builds are the programs Bin provides, as make build makes them.
var builds = [][]string{
	{"go", "build", "-o", "edge-agent", "./cmd/edge-agent"},
	{"go", "build", "-o", "orders-native", "./modules/orders/native"},
	{"go", "build", "-o", "edge-control", "./cmd/edge-control"},
	{"go", "build", "-o", "edgectl", "./cmd/edgectl"},
	{"env", "GOOS=wasip1", "GOARCH=wasm", "go", "build", "-buildmode=c-shared", "-o", "orders.wasm", "./modules/orders/wasm"},
	{"env", "GOOS=wasip1", "GOARCH=wasm", "go", "build", "-buildmode=c-shared", "-o", "telemetry.wasm", "./modules/telemetry/wasm"},
}

// BinDir returns the folder holding the built programs: EDGE_BIN, or a
// temporary folder they are built into once per test process.
func BinDir(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("EDGE_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, buildErr = os.MkdirTemp("", "edge-test-bin")
		if buildErr != nil {
			return
		}
		for _, b := range builds {
			args := slicesReplaceOut(b, binDir)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binDir
}

// slicesReplaceOut returns b with its -o argument placed in dir.
func slicesReplaceOut(b []string, dir string) []string {
	out := append([]string(nil), b...)
	for i := range out {
		if i > 0 && out[i-1] == "-o" {
			out[i] = filepath.Join(dir, out[i])
		}
	}
	return out
}

// RustBin returns the path of a Rust module make build produced (for
// example orders-rs.wasm). Without EDGE_BIN it asks make for it, so the
// module is built exactly as make build builds it. The Rust toolchain is
// optional on a developer's machine: without it the test is skipped, unless
// CI is set (.ci/run installs the toolchain), where it fails.
func RustBin(t testing.TB, name string) string {
	t.Helper()
	dir := BinDir(t)
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil && os.Getenv("EDGE_BIN") == "" {
		rustOnce.Do(func() {
			cmd := exec.Command("make", "--no-print-directory", "BIN="+dir, p)
			cmd.Dir = RepoRoot()
			rustOut, rustErr = cmd.CombinedOutput()
		})
		if rustErr != nil {
			t.Fatalf("make %s: %v\n%s", p, rustErr, rustOut)
		}
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not built (CI must install Debian's Rust toolchain): %v", name, err)
		}
		t.Skipf("%s not built: Debian's Rust toolchain is missing (apt-get install rustc cargo libstd-rust-dev-wasm32)", name)
	}
	return p
}

var (
	rustOnce sync.Once
	rustOut  []byte
	rustErr  error
)

// Bin returns the path of a built program.
func Bin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BinDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not built: %v (run make build or unset EDGE_BIN)", name, err)
	}
	return p
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a running program whose output is kept for failure messages.
type Proc struct {
	Cmd     *exec.Cmd
	Out     *SyncBuffer
	Started time.Time
	Done    chan struct{} // closed when the process has exited
	Err     error         // of Wait, once Done is closed
	// StopWait is how long Stop waits after SIGINT before it kills: 35 s
	// unless set, the agent's own bound on its shutdown (30 s: workers
	// drain requests in flight for up to their deadline + the drain
	// timeout) and a margin. At 10 s, TestKillTrials failed once on an
	// agent still draining after a rollback (CI, 9ec4ba2); a hang still
	// fails.
	StopWait time.Duration
}

// Start runs a program with env added to the environment and waits up to
// wait until a line of its output matches ready; it returns the process
// and the first submatch of ready (e.g. a URL), or the whole match. The
// process is stopped when the test ends.
func Start(t testing.TB, ready *regexp.Regexp, env []string, wait time.Duration, name string, args ...string) (*Proc, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return StartCmd(t, ready, wait, cmd)
}

// StartCmd is Start for a command the caller prepared (stdin, extra
// files); its stdout and stderr are taken over.
func StartCmd(t testing.TB, ready *regexp.Regexp, wait time.Duration, cmd *exec.Cmd) (*Proc, string) {
	t.Helper()
	name := cmd.Path
	pr, pw := io.Pipe()
	p := &Proc{Cmd: cmd, Out: &SyncBuffer{}, Done: make(chan struct{}), StopWait: 35 * time.Second}
	cmd.Stdout = io.MultiWriter(pw, p.Out)
	cmd.Stderr = cmd.Stdout
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.Err = cmd.Wait()
		pw.Close()
		close(p.Done)
	}()
	// Cleanups run last first: the process is stopped, then, if the test
	// failed, the end of what it printed says why (CI keeps only the log).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s %s printed (last %d lines):\n%s", filepath.Base(name), strings.Join(cmd.Args[1:], " "), tailLines, tail(p.Out.String(), tailLines))
		}
	})
	t.Cleanup(func() { p.Stop(t) })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				v := m[0]
				if len(m) > 1 {
					v = m[1]
				}
				select {
				case found <- v:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case v := <-found:
		return p, v
	case <-p.Done:
		t.Fatalf("%s exited before it was ready (%v):\n%s", filepath.Base(name), p.Err, p.Out)
	case <-time.After(wait):
		t.Fatalf("%s not ready after %s:\n%s", filepath.Base(name), wait, p.Out)
	}
	return nil, ""
}

// tailLines is how much of a failed test's process output is logged.
const tailLines = 60

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop sends SIGINT and waits up to StopWait for a clean exit, then kills.
func (p *Proc) Stop(t testing.TB) {
	select {
	case <-p.Done:
		return
	default:
	}
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.Done:
	case <-time.After(p.StopWait):
		p.Cmd.Process.Kill()
		<-p.Done
		t.Errorf("%s did not exit within %s of SIGINT:\n%s", p.Cmd.Path, p.StopWait, p.Out)
	}
}

// Call makes one HTTP request (30 s timeout) and returns status and body;
// a request that gets no answer fails the test. A request to a controller
// whose token was registered (ControlToken) carries it.
func Call(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	status, b, err := TryCall(method, url, body, 30*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, b
}

// TryCall makes one HTTP request within timeout.
func TryCall(method, url, body string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, "", err
	}
	Authorize(req) // a controller's registered token (token.go)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("read body: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

// MySQLDatabase creates a database of its own, named after prefix, on the
// server of EDGE_TEST_MYSQL and returns its DSN; it is dropped when the
// test ends. Without EDGE_TEST_MYSQL the test is skipped.
func MySQLDatabase(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("EDGE_TEST_MYSQL")
	if base == "" {
		t.Skip("EDGE_TEST_MYSQL not set (e.g. mysql://root@127.0.0.1:3306/test); skipping MySQL test")
	}
	ctx := context.Background()
	admin, err := dbbind.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("edge_%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if db, err := dbbind.Open(ctx, base); err == nil {
			db.ExecContext(ctx, "DROP DATABASE "+name)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
