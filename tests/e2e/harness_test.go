// Package e2e drives the real binaries (edge-agent, edge-control, edgectl,
// orders-native, orders.wasm) over loopback. Set EDGE_BIN to a folder that
// holds them (make test does); otherwise the tests build them once.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// bin returns the path of a built program, building all of them once.
func bin(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("EDGE_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, buildErr = os.MkdirTemp("", "edge-e2e-bin")
		if buildErr != nil {
			return
		}
		root := repoRoot()
		builds := [][]string{
			{"go", "build", "-o", filepath.Join(binDir, "edge-agent"), "./cmd/edge-agent"},
			{"go", "build", "-o", filepath.Join(binDir, "orders-native"), "./modules/orders/native"},
			{"go", "build", "-o", filepath.Join(binDir, "edge-control"), "./cmd/edge-control"},
			{"go", "build", "-o", filepath.Join(binDir, "edgectl"), "./cmd/edgectl"},
			{"env", "GOOS=wasip1", "GOARCH=wasm", "go", "build", "-buildmode=c-shared", "-o", filepath.Join(binDir, "orders.wasm"), "./modules/orders/wasm"},
		}
		for _, b := range builds {
			cmd := exec.Command(b[0], b[1:]...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("%s: %v\n%s", strings.Join(b, " "), err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not built: %v (run make build or unset EDGE_BIN)", name, err)
	}
	return p
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// proc is a running program whose output is kept for failure messages.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a program and waits until a line of its output matches ready;
// it returns the process and the first submatch of ready (e.g. a URL).
func start(t testing.TB, ready *regexp.Regexp, env []string, name string, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(pw, p.out)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
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
	case <-p.done:
		t.Fatalf("%s exited before it was ready (%v):\n%s", filepath.Base(name), p.err, p.out)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60s:\n%s", filepath.Base(name), p.out)
	}
	return nil, ""
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within 10s of SIGINT:\n%s", p.cmd.Path, p.out)
	}
}

// call makes one HTTP request and returns status and body.
func call(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
