package supervisor

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// fakeReporter records what the reconciler reports (the session's job).
type fakeReporter struct {
	mu       sync.Mutex
	events   []wire.Event
	statuses []wire.Status
}

func (f *fakeReporter) Report(ev wire.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	return nil
}

func (f *fakeReporter) PublishStatus(st wire.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, st)
	return nil
}

// waitEvent waits for an event of version in state.
func (f *fakeReporter) waitEvent(t *testing.T, version, state string, within time.Duration) wire.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for _, ev := range f.events {
			if ev.Version == version && ev.State == state {
				f.mu.Unlock()
				return ev
			}
		}
		f.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Fatalf("no %s event for %s within %s; events: %+v", state, version, within, f.events)
	return wire.Event{}
}

// commitVersion stores orders.wasm as version (with a custom section
// naming the version, so each version has its own digest) and commits it,
// as the reconciler does after a successful deploy.
func commitVersion(t *testing.T, st *store.Store, key ed25519.PrivateKey, version string, port int) *wire.Manifest {
	t.Helper()
	raw, err := os.ReadFile(ordersWasm)
	if err != nil {
		t.Fatal(err)
	}
	// Custom section 0: LEB size, LEB name length, name, payload.
	name, payload := "edge-test", []byte(version)
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	raw = append(raw, 0, byte(len(body)))
	raw = append(raw, body...)
	sum := sha256.Sum256(raw)
	m := manifest(version, port, "/")
	m.Schema, m.SHA256, m.Size = 1, hex.EncodeToString(sum[:]), int64(len(raw))
	m.Created, m.Expires = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	m.Targets = wire.Targets{Nodes: []string{"dev-1"}}
	env, err := wire.Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlob(m.SHA256, m.Size, raw); err != nil {
		t.Fatal(err)
	}
	if err := st.Stage(m, env, "dep-"+version); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(m.Name, m.Version); err != nil {
		t.Fatal(err)
	}
	return m
}

// crashLoop SIGKILLs the worker of the serving version n times, each time
// once its replacement has started: the simplest deterministic crash loop.
func crashLoop(t *testing.T, s *Supervisor, n int) {
	t.Helper()
	last := 0
	for i := range n {
		deadline := time.Now().Add(20 * time.Second)
		for {
			s.mu.Lock()
			var pid int
			if m := s.mods["orders"]; m != nil && m.cur != nil {
				m.cur.mu.Lock()
				if p := m.cur.proc; p != nil && p.cmd.Process != nil {
					pid = p.cmd.Process.Pid
				}
				m.cur.mu.Unlock()
			}
			s.mu.Unlock()
			if pid != 0 && pid != last {
				last = pid
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no new worker", i+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := syscall.Kill(last, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
	}
}

func crashLoopSetup(t *testing.T) (s *Supervisor, st *store.Store, rep *fakeReporter, key ed25519.PrivateKey, port int) {
	s = newSupervisor(t, t.TempDir())
	s.cfg.CrashLimit = 3
	// Not what is tested here; keeps a loaded machine's cold compile
	// from being killed as a silent worker.
	s.cfg.Silence = 2 * time.Second
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ = ed25519.GenerateKey(nil)
	rep = &fakeReporter{}
	rec := reconcile.New(reconcile.Config{Device: "dev-1", Store: st, Deployer: s, Reporter: rep})
	s.cfg.OnUnhealthy = rec.Unhealthy
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, st, rep, key, freePort(t)
}

// TestCrashLoopRestoresLastGood: the committed version's worker is killed
// CrashLimit times in a row: the reconciler starts the last-known-good
// version beside it, quarantines the crashing digest, makes last-good
// current again and reports rolled_back.
func TestCrashLoopRestoresLastGood(t *testing.T) {
	s, st, rep, key, port := crashLoopSetup(t)
	v1 := commitVersion(t, st, key, "1.0.0", port)
	v2 := commitVersion(t, st, key, "2.0.0", port)
	if ms := st.Module("orders"); ms.Current != "2.0.0" || ms.LastGood != "1.0.0" {
		t.Fatalf("store: current %q, last-good %q", ms.Current, ms.LastGood)
	}
	if err := deploy(t, s, v2, st.BlobPath(v2.SHA256)); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, c := range []struct{ method, path, body string }{{"GET", "/init", ""},
		{"POST", "/create_order", `{"order_id":7,"product_id":1,"quantity":1,"amount":1.0,"shipping":1.0,"tax":1.0,"shipping_address":"confirmed by 2.0.0"}`}} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", c.method, c.path, resp.StatusCode)
		}
	}
	crashLoop(t, s, 3)

	// Generous: starting last-good compiles it, which takes seconds on a loaded machine.
	ev := rep.waitEvent(t, "2.0.0", wire.StateRolledBack, 90*time.Second)
	t.Logf("event: %s %s: %s", ev.Version, ev.State, ev.Reason)
	if !strings.Contains(ev.Reason, "crash loop: 3 crashes in 1m") || !strings.Contains(ev.Reason, "data kept") || ev.Deployment != "dep-2.0.0" {
		t.Errorf("event = %+v; want deployment dep-2.0.0 and reason \"crash loop: 3 crashes in 1m ...; data kept ...\"", ev)
	}
	rep.waitEvent(t, "1.0.0", wire.StateRunning, 30*time.Second)
	if got := s.Running()["orders"]; got != "1.0.0" {
		t.Errorf("running %q, want 1.0.0", got)
	}
	ms := st.Module("orders")
	if ms.Current != "1.0.0" || ms.LastGood != "" {
		t.Errorf("store: current %q, last-good %q; want 1.0.0 and none", ms.Current, ms.LastGood)
	}
	if _, ok := st.Quarantined("orders", v2.SHA256); !ok {
		t.Error("the crashing digest is not quarantined")
	}
	if _, ok := st.Quarantined("orders", v1.SHA256); ok {
		t.Error("the last-good digest is quarantined")
	}
	if code, err := get(http.DefaultClient, base+"/"); err != nil || code != 200 {
		t.Errorf("GET / after the rollback: %d %v", code, err)
	}
	// The order the crashing version confirmed is kept (a rollback of code
	// never undoes a write), and the switch back left a safety copy.
	if got := ordersIn(t, filepath.Join(s.cfg.DataDir, "modules", "orders", "data.db")); !slices.Equal(got, []string{"confirmed by 2.0.0"}) {
		t.Errorf("orders after the crash-loop rollback: %q, want the one 2.0.0 confirmed", got)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "modules", "orders", SafetyCopyName)); err != nil {
		t.Errorf("no safety copy from the switch back: %v", err)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if len(rep.statuses) == 0 {
		t.Fatal("no status published")
	}
	last := rep.statuses[len(rep.statuses)-1]
	// The status tells what serves (1.0.0, running, on its port) and,
	// apart, the version that was rolled back and why.
	if len(last.Modules) != 1 || last.Modules[0].State != wire.StateRunning || last.Modules[0].Version != "1.0.0" ||
		last.Modules[0].Port != port || last.Modules[0].SHA256 != v1.SHA256 {
		t.Errorf("status modules = %+v, want 1.0.0 running on port %d", last.Modules, port)
	} else if a := last.Modules[0].Attempt; a == nil || a.Version != "2.0.0" || a.State != wire.StateRolledBack || !strings.Contains(a.Reason, "crash loop") {
		t.Errorf("status attempt = %+v, want 2.0.0 rolled_back after a crash loop", a)
	}
}

// TestCrashLoopNoLastGood: with nothing to go back to, the version is
// reported failed and its worker keeps being restarted.
func TestCrashLoopNoLastGood(t *testing.T) {
	s, st, rep, key, port := crashLoopSetup(t)
	v1 := commitVersion(t, st, key, "1.0.0", port)
	if err := deploy(t, s, v1, st.BlobPath(v1.SHA256)); err != nil {
		t.Fatal(err)
	}
	crashLoop(t, s, 3)
	ev := rep.waitEvent(t, "1.0.0", wire.StateFailed, 30*time.Second)
	t.Logf("event: %s %s: %s", ev.Version, ev.State, ev.Reason)
	if !strings.Contains(ev.Reason, "crash loop: 3 crashes in 1m") || !strings.Contains(ev.Reason, "no last-known-good") {
		t.Errorf("reason = %q", ev.Reason)
	}
	if ms := st.Module("orders"); ms.Current != "1.0.0" {
		t.Errorf("store current %q, want 1.0.0", ms.Current)
	}
	if _, ok := st.Quarantined("orders", v1.SHA256); ok {
		t.Error("the only version was quarantined")
	}
	// Still restarted with back-off: it serves again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, err := get(&http.Client{Timeout: time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving again: %d %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := s.Running()["orders"]; got != "1.0.0" {
		t.Errorf("running %q", got)
	}
}
