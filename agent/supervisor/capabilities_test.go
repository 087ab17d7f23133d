package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/wire"
)

// capManifest is a manifest of the capabilities guest.
func capManifest(name, version string, port int, kv *wire.KVGrant, calls ...string) *wire.Manifest {
	m := &wire.Manifest{
		Schema: wire.ManifestSchemaPlatform, Name: name, Version: version, SHA256: strings.Repeat(version[:1], 64),
		Port: port, Probe: wire.Probe{Path: "/ping"}, Limits: wire.Limits{Pool: 2, DeadlineMS: 10000}, // the default: CAS under a loaded CI machine took over 3 s
	}
	m.Capabilities.KV = kv
	m.Capabilities.Call = calls
	return m
}

func copyCapWasm(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(capWasm)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// send makes one request and returns its status and body.
func send(t *testing.T, c *http.Client, method, u, body string, header ...string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func must(t *testing.T, method, u, body string, wantStatus int, wantBody string, header ...string) {
	t.Helper()
	code, got, err := send(t, http.DefaultClient, method, u, body, header...)
	if err != nil || code != wantStatus || !strings.Contains(got, wantBody) {
		t.Fatalf("%s %s = %d %q %v, want %d containing %q", method, u, code, got, err, wantStatus, wantBody)
	}
}

// TestKVAcrossSwitchAndRollback: the key-value store survives an upgrade;
// during the blue/green switch both versions' processes increment one
// counter with compare-and-set and no increment is lost; a rollback keeps
// the store as the failed version left it (a rollback undoes code, never
// data), copies it at the switch and says so.
func TestKVAcrossSwitchAndRollback(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	s.cfg.Grace = 3 * time.Second
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	grant := &wire.KVGrant{MaxKeys: 100}
	if err := deploy(t, s, capManifest("cap", "1.0.0", port, grant), copyCapWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	must(t, "PUT", base+"/kv?key=k", "from v1", 200, "")

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := send(t, c, "POST", base+"/incr?key=n", "")
				if err == nil && code != 200 {
					err = fmt.Errorf("status %d: %s", code, body)
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
	time.Sleep(200 * time.Millisecond)
	err := deploy(t, s, capManifest("cap", "2.0.0", port, grant), copyCapWasm(t, "v2.wasm"))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("increments during the switch: %d ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d increments failed, first: %v", failed.Load(), firstErr.Load())
	}
	must(t, "GET", base+"/kv?key=n", "", 200, "")
	_, n, _ := send(t, http.DefaultClient, "GET", base+"/kv?key=n", "")
	if n != strconv.FormatInt(ok.Load(), 10) {
		t.Fatalf("counter %s after %d confirmed increments across the switch", n, ok.Load())
	}
	must(t, "GET", base+"/kv?key=k", "", 200, "from v1") // survived the upgrade

	// v3 writes, then crashes in its grace period: back to v2, with v3's
	// write kept.
	errc := make(chan error, 1)
	go func() { errc <- deploy(t, s, capManifest("cap", "3.0.0", port, grant), copyCapWasm(t, "v3.wasm")) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.Running()["cap"] != "3.0.0" {
		if time.Now().After(deadline) {
			t.Fatal("v3 never switched in")
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, "PUT", base+"/kv?key=k", "from v3", 200, "")
	_, pid := current(s, "cap")
	syscall.Kill(pid, syscall.SIGKILL)
	rolled := <-errc
	if !errors.Is(rolled, reconcile.ErrRolledBack) || s.Running()["cap"] != "2.0.0" {
		t.Fatalf("deploy 3.0.0: %v, running %q; want ErrRolledBack to 2.0.0", rolled, s.Running()["cap"])
	}
	must(t, "GET", base+"/kv?key=k", "", 200, "from v3")
	copyPath := filepath.Join(s.cfg.DataDir, "modules", "cap", KVSafetyCopyName)
	for _, want := range []string{"key-value store kept as it is, not restored", "2 keys", "its safety copy at the switch: " + copyPath} {
		if !strings.Contains(rolled.Error(), want) {
			t.Errorf("rollback reason %q does not say %q", rolled, want)
		}
	}
	if _, err := os.Stat(copyPath); err != nil {
		t.Errorf("safety copy: %v", err)
	}
}

// TestCallBetweenWorkers: module calls between worker processes, routed
// by the supervisor's routes file and proved by its call secret.
func TestCallBetweenWorkers(t *testing.T) {
	s := newSupervisor(t, t.TempDir())
	pa, pb, pc := freePort(t), freePort(t), freePort(t)
	a, b := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	for _, m := range []*wire.Manifest{
		capManifest("a", "1.0.0", pa, nil, "b", "gone"),
		capManifest("b", "1.0.0", pb, nil, "a"),
		capManifest("c", "1.0.0", pc, nil),
	} {
		if err := deploy(t, s, m, copyCapWasm(t, m.Name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	q := url.QueryEscape
	if _, body, _ := send(t, http.DefaultClient, "GET", a+"/call?module=b&path="+q("/whoami"), ""); body != "a" {
		t.Fatalf("b's caller = %q, want a", body)
	}
	if _, body, _ := send(t, http.DefaultClient, "GET", b+"/whoami", "", "Edge-Caller", "a"); body != "" {
		t.Fatalf("a client posed as module a: /whoami = %q", body)
	}
	must(t, "GET", a+"/call?module=c&path="+q("/ping"), "", 403, "not in this module's capabilities.call")
	must(t, "GET", a+"/call?module=gone&path="+q("/ping"), "", 503, `module "gone": module does not run on this device`)
	must(t, "GET", a+"/chain?next=b,a", "", 403, "call loop refused: a → b → a")
	start := time.Now()
	must(t, "GET", a+"/call?module=b&timeout_ms=300&path="+q("/sleep?ms=5000"), "", 504, "")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a call with a 300 ms timeout took %v", took)
	}
	// b stops: a's next call says b does not run here.
	if err := s.Stop(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // a's host reads the routes again at most every 100 ms
	must(t, "GET", a+"/call?module=b&path="+q("/ping"), "", 503, `module "b": module does not run on this device`)
}
