package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"
	"github.com/edgeplane/edge/tests/harness"
)

var (
	controlReady = regexp.MustCompile(`edge-control: (http on http://\S+, mqtt on tcp://\S+)`)
	controlAddrs = regexp.MustCompile(`http on (http://[0-9.:]+), mqtt on tcp://([0-9.:]+)`)
	agentRunning = regexp.MustCompile(`edge-agent: running as \S+`)
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}

// edgectl runs the CLI to completion and returns stdout, stderr and the exit code.
func edgectl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "edgectl"), args...)
	cmd.Env = harness.EdgectlEnvFor(args) // the token of the --control controller
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("edgectl %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// fleet is a running controller with its operator key.
type fleet struct {
	control, mqtt string
	ctl           *proc
	keyDir        string
	dataDir       string   // the controller's
	ctlArgs       []string // to start it again
}

func startFleet(t *testing.T, ctlArgs ...string) *fleet {
	t.Helper()
	f := &fleet{dataDir: t.TempDir(), keyDir: t.TempDir()}
	f.ctlArgs = append([]string{"--data", f.dataDir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, ctlArgs...)
	f.startControl(t)
	if out, errOut, code := edgectl(t, "keygen", "--out", f.keyDir, "--force"); code != 0 {
		t.Fatalf("edgectl keygen = %d\n%s%s", code, out, errOut)
	}
	return f
}

// startControl starts edge-control with f.ctlArgs (the flags given last
// win) and records its addresses.
func (f *fleet) startControl(t *testing.T) {
	t.Helper()
	ctl, line := start(t, controlReady, nil, bin(t, "edge-control"), f.ctlArgs...)
	m := controlAddrs.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot parse edge-control ready line %q", line)
	}
	f.control, f.mqtt, f.ctl = m[1], m[2], ctl
	harness.ControlToken(t, f.dataDir, f.control)
}

// device registers id and returns the agent arguments for it.
func (f *fleet) device(t *testing.T, id string) []string {
	t.Helper()
	// Global flags go after the command: edgectl COMMAND ... --control URL.
	out, errOut, code := edgectl(t, "device", "add", id, "--control", f.control, "--json")
	if code != 0 {
		t.Fatalf("edgectl device add %s = %d\n%s%s", id, code, out, errOut)
	}
	var cred struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(out), &cred); err != nil || cred.Password == "" {
		t.Fatalf("device add %s: bad JSON %q: %v", id, out, err)
	}
	// A generous heartbeat timeout: on a loaded CI machine a worker and
	// its supervisor can both go unscheduled for seconds, and a test that
	// is not about heartbeats must not see its worker killed for it. Tests
	// that are about them append their own --heartbeat-timeout (the last
	// one given wins).
	return []string{"run", "--id", id, "--broker", "tcp://" + f.mqtt, "--password", cred.Password,
		"--data", t.TempDir(), "--trust", filepath.Join(f.keyDir, "edge.pub"), "--grace", "2s",
		"--heartbeat-timeout", "10s"}
}

// push deploys file as version to one node on port; it returns edgectl's
// output, the per-device reasons from its JSON result, and its exit code.
func (f *fleet) push(t *testing.T, file, version, node string, port int) (string, string, int) {
	t.Helper()
	return f.pushDB(t, file, version, node, "sqlite", port)
}

// pushDB is push with the module bound to database binding db.
func (f *fleet) pushDB(t *testing.T, file, version, node, db string, port int) (string, string, int) {
	t.Helper()
	out, errOut, code := edgectl(t, "push", file, "--control", f.control,
		"--key", filepath.Join(f.keyDir, "edge.key"), "--name", "orders", "--version", version,
		"--node", node, "--db", db, "--port", fmt.Sprint(port), "--wait", "2m", "--json")
	var res struct {
		Devices []struct {
			Device, State, Reason string
		}
	}
	var reasons []string
	if json.Unmarshal([]byte(out), &res) == nil {
		for _, d := range res.Devices {
			reasons = append(reasons, d.Device+" "+d.State+": "+d.Reason)
		}
	}
	return out + errOut, strings.Join(reasons, "; "), code
}

func getOrders(t *testing.T, base string) string {
	t.Helper()
	status, body := call(t, "GET", base+"/orders", "")
	if status != 200 {
		t.Fatalf("GET %s/orders = %d %q", base, status, body)
	}
	return body
}

func TestFleet(t *testing.T) {
	f := startFleet(t)
	agent := bin(t, "edge-agent")
	wasm := bin(t, "orders.wasm")
	argsA, argsB := f.device(t, "a"), f.device(t, "b")
	agentA, _ := start(t, agentRunning, nil, agent, argsA...)
	start(t, agentRunning, nil, agent, argsB...)

	// Both agents share the machine, so each device gets its own port:
	// one push per device, same module name and version.
	pa, pb := freePort(t), freePort(t)
	for pb == pa {
		pb = freePort(t)
	}
	baseA := fmt.Sprintf("http://127.0.0.1:%d", pa)
	baseB := fmt.Sprintf("http://127.0.0.1:%d", pb)
	for _, d := range []struct {
		node string
		port int
		base string
	}{{"a", pa, baseA}, {"b", pb, baseB}} {
		if out, _, code := f.push(t, wasm, "1.0.0", d.node, d.port); code != 0 {
			t.Fatalf("push 1.0.0 to %s = %d\n%s", d.node, code, out)
		}
		runWorkflow(t, d.base, seedWorkflow(t))
	}
	seeded := getOrders(t, baseA)

	// 1.1.0 to a under continuous load: not one request may fail.
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		total    atomic.Int64
		failures atomic.Int64
		mu       sync.Mutex
		firstErr []string
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				total.Add(1)
				resp, err := client.Get(baseA + "/orders")
				var msg string
				if err != nil {
					msg = err.Error()
				} else {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || rerr != nil {
						msg = fmt.Sprintf("status %d %q %v", resp.StatusCode, b, rerr)
					}
				}
				if msg != "" {
					failures.Add(1)
					mu.Lock()
					if len(firstErr) < 5 {
						firstErr = append(firstErr, msg)
					}
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	out, _, code := f.push(t, wasm, "1.1.0", "a", pa)
	stop.Store(true)
	wg.Wait()
	if code != 0 {
		t.Fatalf("push 1.1.0 to a = %d\n%s", code, out)
	}
	t.Logf("load during 1.0.0 -> 1.1.0: %d requests, %d failures", total.Load(), failures.Load())
	if failures.Load() != 0 || total.Load() == 0 {
		t.Errorf("%d of %d requests failed during the update: %v", failures.Load(), total.Load(), firstErr)
	}
	if got := getOrders(t, baseA); got != seeded {
		t.Errorf("after 1.1.0 /orders = %q, want %q", got, seeded)
	}

	// An older version is refused; a still serves.
	if out, reason, code := f.push(t, wasm, "1.0.0", "a", pa); code != 1 || !strings.Contains(reason, "rejected") {
		t.Errorf("push of older 1.0.0 after 1.1.0 = exit %d (%s), want 1 and rejected:\n%s", code, reason, out)
	} else {
		t.Logf("downgrade refused: %s", reason)
	}
	if got := getOrders(t, baseA); got != seeded {
		t.Errorf("after refused downgrade /orders = %q, want %q", got, seeded)
	}

	// A file with the wasm magic but no valid module fails; a keeps 1.1.0.
	bad := filepath.Join(t.TempDir(), "orders.wasm")
	garbage := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0x13, 0x37}, 64)...)
	if err := os.WriteFile(bad, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, reason, code := f.push(t, bad, "1.2.0", "a", pa); code != 1 || !strings.Contains(reason, "failed") {
		t.Errorf("push of a broken module = exit %d (%s), want 1 and failed:\n%s", code, reason, out)
	} else {
		t.Logf("broken module refused: %s", reason)
	}
	if got := getOrders(t, baseA); got != seeded {
		t.Errorf("after broken 1.2.0 /orders = %q, want %q", got, seeded)
	}
	if got := getOrders(t, baseB); got != seeded {
		t.Errorf("device b /orders = %q, want %q", got, seeded)
	}

	// Controller down: a restarts and serves its last good version from disk.
	agentA.Stop(t)
	f.ctl.Stop(t)
	start(t, agentRunning, nil, agent, argsA...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(baseA + "/orders")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if string(b) != seeded {
					t.Errorf("offline restart /orders = %q, want %q", b, seeded)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("device a does not serve /orders 30s after an offline restart (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
