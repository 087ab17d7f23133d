package supervisor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/wire"
)

// Built once by TestMain: the agent binary (workers are it re-executed),
// the order service module and the capabilities test guest
// (tests/guests/capguest).
var agentBin, ordersWasm, capWasm string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		flag.Parse()
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "supervisor-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		root := repoRoot()
		agentBin = filepath.Join(dir, "edge-agent")
		ordersWasm = filepath.Join(dir, "orders.wasm")
		capWasm = filepath.Join(dir, "capguest.wasm")
		builds := []*exec.Cmd{
			exec.Command("go", "build", "-o", agentBin, "./cmd/edge-agent"),
			exec.Command("go", "build", "-buildmode=c-shared", "-o", ordersWasm, "./modules/orders/wasm"),
			exec.Command("go", "build", "-buildmode=c-shared", "-o", capWasm, "./tests/guests/capguest"),
		}
		builds[1].Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		builds[2].Env = builds[1].Env
		for _, c := range builds {
			c.Dir, c.Stderr = root, os.Stderr
			if err := c.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build:", c.Args, err)
				return 1
			}
		}
		return m.Run()
	}())
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// current is module's serving runner and the pid of its worker.
func current(s *Supervisor, module string) (*runner, int) {
	s.mu.Lock()
	r := s.mods[module].cur
	s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r, r.proc.cmd.Process.Pid
}

func freePort(t testing.TB) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}

func newSupervisor(t *testing.T, cache string) *Supervisor {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	s, err := New(Config{
		Exe: agentBin, Args: []string{"worker", "--log-level", "warn"},
		DataDir: t.TempDir(), CacheDir: cache, ListenHost: "127.0.0.1",
		Grace: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func manifest(version string, port int, probe string) *wire.Manifest {
	return &wire.Manifest{
		Name: "orders", Version: version, SHA256: strings.Repeat(version[:1], 64),
		Port: port, Bindings: wire.Bindings{DB: "sqlite"}, Probe: wire.Probe{Path: probe},
		Limits: wire.Limits{Pool: 2, DeadlineMS: 2000},
	}
}

// copyWasm gives each version its own file, as the store does.
func copyWasm(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(ordersWasm)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func deploy(t *testing.T, s *Supervisor, m *wire.Manifest, path string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var states []string
	err := s.Deploy(ctx, m, path, func(st, _ string) { states = append(states, st) })
	t.Logf("deploy %s: states %v, err %v", m.Version, states, err)
	return err
}

// TestSwitchUnderLoad switches v1 → v2 on the same port while clients
// with keep-alive connections send requests: none may fail. Then a
// version that does not load, and one whose probe fails, leave v2 serving.
func TestSwitchUnderLoad(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	if code, err := get(http.DefaultClient, base+"/init"); err != nil || code != 200 {
		t.Fatalf("GET /init: %d %v", code, err)
	}

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, err := get(c, base+"/orders")
				if err == nil && code >= 500 {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	err := deploy(t, s, manifest("2.0.0", port, "/orders"), copyWasm(t, "v2.wasm"))
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("requests during the switch: %d ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during the switch, first: %v", failed.Load(), firstErr.Load())
	}
	if ok.Load() < 50 {
		t.Fatalf("only %d requests", ok.Load())
	}
	if got := s.Running()["orders"]; got != "2.0.0" {
		t.Fatalf("running %q, want 2.0.0", got)
	}

	// Not Wasm: the worker fails to load; v2 keeps serving.
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(bad, []byte("not wasm at all"), 0o600)
	if err := deploy(t, s, manifest("3.0.0", port, "/"), bad); err == nil {
		t.Fatal("deploy of a non-Wasm file succeeded")
	}
	if got := s.Running()["orders"]; got != "2.0.0" {
		t.Fatalf("after failed deploy running %q, want 2.0.0", got)
	}
	if code, err := get(http.DefaultClient, base+"/orders"); err != nil || code != 200 {
		t.Fatalf("v2 after failed deploy: %d %v", code, err)
	}
}

// TestProbeFails: the new version loads but its probe answers 5xx (the
// order service's /orders on a database without its table): the old
// version keeps serving.
func TestProbeFails(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	code, _ := get(http.DefaultClient, base+"/orders")
	if code < 500 {
		t.Skipf("GET /orders without a table answered %d, not 5xx: cannot make the probe fail this way", code)
	}
	err := deploy(t, s, manifest("2.0.0", port, "/orders"), copyWasm(t, "v2.wasm"))
	if err == nil || !strings.Contains(err.Error(), "probe") {
		t.Fatalf("deploy with failing probe: %v", err)
	}
	if got := s.Running()["orders"]; got != "1.0.0" {
		t.Fatalf("running %q, want 1.0.0", got)
	}
	if code, err := get(http.DefaultClient, base+"/"); err != nil || code >= 500 {
		t.Fatalf("v1 after failed probe: %d %v", code, err)
	}
}

// TestProbeWants2xx: a probe counts as healthy only for a 2xx answer. A
// probe path the new version does not serve (404), a method it refuses
// (405 on POST-only /echo) or a 5xx all fail the deploy and leave v1
// serving; before, anything under 500 passed.
func TestProbeWants2xx(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ path, status string }{
		{"/no-such-path", "status 404"},
		{"/echo", "status 405"},
	} {
		v := fmt.Sprintf("2.0.%d", i)
		err := deploy(t, s, manifest(v, port, tc.path), copyWasm(t, "v"+v+".wasm"))
		if err == nil || !strings.Contains(err.Error(), "probe GET "+tc.path+": "+tc.status+", want 2xx") {
			t.Errorf("deploy %s with probe %s: err %v, want a failed probe naming %q", v, tc.path, err, tc.status)
		}
		if got := s.Running()["orders"]; got != "1.0.0" {
			t.Fatalf("after probe %s running %q, want 1.0.0", tc.path, got)
		}
	}
	if code, err := get(http.DefaultClient, base+"/"); err != nil || code != 200 {
		t.Fatalf("v1 after failed probes: %d %v", code, err)
	}
	// A 2xx probe path still passes.
	if err := deploy(t, s, manifest("3.0.0", port, "/"), copyWasm(t, "v3.wasm")); err != nil {
		t.Fatalf("deploy with a 2xx probe: %v", err)
	}
}

// TestKillRestarts: a worker killed with SIGKILL is restarted.
func TestKillRestarts(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	r, pid := current(s, "orders")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		newPID, crashes, ready := r.proc.cmd.Process.Pid, r.total, r.hb.Ready
		r.mu.Unlock()
		if newPID != pid && crashes == 1 && ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not restarted: pid %d→%d, crashes %d, ready %v", pid, newPID, crashes, ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, err := get(http.DefaultClient, base+"/"); err != nil || code >= 500 {
		t.Fatalf("after restart: %d %v", code, err)
	}
	if err := s.Stop(context.Background(), "orders"); err != nil {
		t.Fatal(err)
	}
	if len(s.Running()) != 0 {
		t.Fatalf("running after Stop: %v", s.Running())
	}
	if _, err := get(&http.Client{Timeout: time.Second}, base+"/"); err == nil {
		t.Fatal("port still answers after Stop")
	}
}

func TestDeployNoPort(t *testing.T) {
	s, err := New(Config{Exe: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Deploy(context.Background(), manifest("1.0.0", 0, "/"), "x.wasm", nil)
	if err == nil || !strings.Contains(err.Error(), "port") {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("unexpected")
	}
}

// TestRollbackKeepsData: the new version crashes during the grace period
// after it dropped the table (GET /init) and confirmed an order: the old
// version is restarted and serves again, Deploy says so, and the data is
// the one both versions wrote: the order v2 confirmed is there, the one v2
// dropped is not (a rollback of code never undoes a write; before, the
// database was restored and v2's confirmed order was lost). The reason
// says what v2 did, and the safety copy taken at the switch holds the
// dropped order for an operator.
func TestRollbackKeepsData(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	s.cfg.Grace = 20 * time.Second // long enough to kill v2 inside it under load; the kill ends it early
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) {
		t.Helper()
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	order := func(id int, addr string) string {
		return fmt.Sprintf(`{"order_id":%d,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"%s"}`, id, addr)
	}
	call("GET", "/init", "")
	call("POST", "/create_order", order(1, "before"))
	errc := make(chan error, 1)
	go func() { errc <- deploy(t, s, manifest("2.0.0", port, "/"), copyWasm(t, "v2.wasm")) }()
	deadline := time.Now().Add(60 * time.Second) // a compile under CI's load takes tens of seconds
	for s.Running()["orders"] != "2.0.0" {
		if time.Now().After(deadline) {
			t.Fatal("v2 never switched in")
		}
		time.Sleep(10 * time.Millisecond)
	}
	call("GET", "/init", "") // v2 drops and re-creates the table
	call("POST", "/create_order", order(2, "after"))
	s.mu.Lock()
	r := s.mods["orders"].cur
	s.mu.Unlock()
	deadline = time.Now().Add(10 * time.Second) // its own wait, not what the switch left of the first
	for r.writes().writes < 1 {                 // v2's heartbeat carried the confirmed order
		if time.Now().After(deadline) {
			t.Fatal("v2's write never counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	pid := r.proc.cmd.Process.Pid
	r.mu.Unlock()
	syscall.Kill(pid, syscall.SIGKILL)
	rolled := <-errc
	if !errors.Is(rolled, reconcile.ErrRolledBack) {
		t.Fatalf("deploy: %v, want ErrRolledBack", rolled)
	}
	if got := s.Running()["orders"]; got != "1.0.0" {
		t.Fatalf("running %q, want 1.0.0", got)
	}
	resp, err := http.Get(base + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "after") || strings.Contains(string(b), "before") {
		t.Fatalf("orders after rollback: %d %s, want the data as v2 left it: order 2, not the order 1 it dropped", resp.StatusCode, b)
	}
	copyPath := filepath.Join(s.cfg.DataDir, "modules", "orders", SafetyCopyName)
	for _, want := range []string{"data kept", "2.0.0 committed at least 1 write", "CHANGED THE SCHEMA", "safety copy of the database at the switch: " + copyPath} {
		if !strings.Contains(rolled.Error(), want) {
			t.Errorf("rollback reason %q does not say %q", rolled, want)
		}
	}
	if got := ordersIn(t, copyPath); !reflect.DeepEqual(got, []string{"before"}) {
		t.Errorf("safety copy holds orders %q, want [before]", got)
	}
}

// ordersIn lists the shipping addresses of the orders in a SQLite file.
func ordersIn(t *testing.T, path string) []string {
	t.Helper()
	db, err := dbbind.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT shipping_address FROM orders ORDER BY order_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// deployEcho serves the echo test guest (a body of "\x02" loops for ever)
// with a 200 ms deadline in fast mode; base is its URL.
func deployEcho(t *testing.T) (s *Supervisor, base string) {
	t.Helper()
	s = newSupervisor(t, t.TempDir())
	port := freePort(t)
	m := &wire.Manifest{Name: "echo", Version: "1.0.0", SHA256: strings.Repeat("e", 64), Port: port,
		Limits: wire.Limits{Pool: 2, DeadlineMS: 200}}
	if err := deploy(t, s, m, filepath.Join(repoRoot(), "agent", "wasmhost", "testdata", "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	return s, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestRunawayGuestKilled: a guest call in an endless loop (deadline mode
// fast: nothing interrupts it) is killed by the watchdog once it is older
// than the deadline + 1s, and the worker restarted.
func TestRunawayGuestKilled(t *testing.T) {
	s, base := deployEcho(t)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(base+"/", "application/octet-stream", strings.NewReader("\x02"))
	if err == nil {
		resp.Body.Close()
		t.Logf("runaway request answered %d after %s", resp.StatusCode, time.Since(start))
	} else {
		t.Logf("runaway request: %v after %s", err, time.Since(start))
	}
	s.mu.Lock()
	r := s.mods["echo"].cur
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for r.crashCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("runaway worker not killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("killed %s after the request", time.Since(start).Round(time.Millisecond))
	for !r.heartbeat().Ready || r.crashCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("not restarted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = http.Post(base+"/", "text/plain", strings.NewReader("ok"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after restart: %d", resp.StatusCode)
	}
}

// TestStarvedSupervisorKeepsWorker stops the supervisor (this test
// process) for a second, as a loaded board or CI machine may leave it
// unscheduled, while its worker goes on writing heartbeats. On resuming,
// the watchdog's ticker had fired long ago and the beats were still in the
// pipe: it used to judge the silence first and kill the healthy worker
// ("heartbeat silent for 1s"). It now takes the queued beats first and
// judges nothing on a tick that came late.
func TestStarvedSupervisorKeepsWorker(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	r, pid := current(s, "orders")
	for round := range 3 {
		stopper := exec.Command("sh", "-c", fmt.Sprintf("kill -STOP %d; sleep 1; kill -CONT %d", os.Getpid(), os.Getpid()))
		if err := stopper.Start(); err != nil {
			t.Fatal(err)
		}
		stopper.Wait() // returns once this process runs again
		time.Sleep(300 * time.Millisecond)
		r.mu.Lock()
		newPID, crashes, lastErr := r.proc.cmd.Process.Pid, r.total, r.lastCrash
		r.mu.Unlock()
		if newPID != pid || crashes != 0 {
			t.Fatalf("round %d: worker replaced after the supervisor slept (pid %d→%d, crashes %d, last error %q)", round, pid, newPID, crashes, lastErr)
		}
	}
	if code, err := get(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || code >= 500 {
		t.Fatalf("after the supervisor slept: %d %v", code, err)
	}
	// A worker that is itself stopped is still killed for its silence.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		crashes, why := r.total, r.lastCrash
		r.mu.Unlock()
		if crashes == 1 {
			if !strings.Contains(why, "heartbeat silent") {
				t.Fatalf("stopped worker killed for %q, want its heartbeat silence", why)
			}
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("stopped worker not killed within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
