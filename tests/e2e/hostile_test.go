package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostileDir holds the hostile corpus (see its README.md).
func hostileDir() string { return filepath.Join(repoRoot(), "tests", "e2e", "testdata", "hostile") }

// What a hostile module's misbehaviour costs it.
const (
	// runaway: the worker answers 504 at the deadline and the supervisor
	// kills it a second later and starts it again; five of those in a
	// minute and the agent goes back to the last-known-good version and
	// quarantines the manifest.
	runaway = "runaway"
	// instance: the call fails at once (a trap, a refused grow, a bad
	// response); only that instance is discarded and replaced, the worker
	// and its other instances serve on, nothing is quarantined (the
	// module answered; a rate of 5xx is the grace period's business).
	instance = "instance"
	// noInit: the version never becomes ready; the deploy fails within
	// the deadline + 1s, the manifest is quarantined, the previous
	// version serves throughout.
	noInit = "init"
)

var hostileCases = []struct {
	name     string
	kind     string
	status   int    // of GET /x
	deadline string // the manifest's; "" the agent's (10 s)
}{
	{"loop", runaway, 504, "500ms"},
	{"recursion", runaway, 504, "500ms"},
	// Every host import checks the deadline: the flood is unwound there.
	{"hostflood", instance, 504, "500ms"},
	{"deeprecursion", instance, 500, ""},
	{"membomb", instance, 500, ""},
	{"tablegrow", instance, 500, ""},
	{"hugeresp", instance, 502, ""},
	{"oob", instance, 200, ""},
	{"initloop", noInit, 0, "500ms"},
}

// TestHostileModules is issue 12's hostile corpus on a real agent: each
// module of testdata/hostile is pushed as 2.0.0 of a module whose 1.0.0
// is a well-behaved guest (echo), on one agent that also serves the order
// service under a steady load of writes. Whatever the hostile modules do,
// the agent process stays up, its MQTT session is never lost, every order
// write is answered 200 and kept, and each hostile module ends as its kind
// says (see runaway, instance, noInit above). The times are logged
// (docs/HARDENING.md).
func TestHostileModules(t *testing.T) {
	f := startFleet(t)
	args := append(f.device(t, "h"), "--metrics-interval", "0")
	dataDir := argValue(args, "--data")
	ag, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args...)

	ordersPort := freePort(t)
	if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "h", ordersPort); code != 0 {
		t.Fatalf("push orders = %d\n%s", code, out)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ordersPort)
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("GET /init = %d %s", status, body)
	}
	ctx, stop := context.WithCancel(context.Background())
	orders := &orderLoad{base: base}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); orders.run(ctx, 0) }()
	defer func() { stop(); <-loadDone }()

	t.Run("corpus", func(t *testing.T) {
		for _, tc := range hostileCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := &hostileRun{f: f, agentOut: ag.Out, name: tc.name, port: freePort(t), deadline: tc.deadline}
				h.base = fmt.Sprintf("http://127.0.0.1:%d", h.port)
				if _, reason, code := h.push(t, filepath.Join(repoRoot(), "agent", "wasmhost", "testdata", "echo.wasm"), "1.0.0"); code != 0 {
					t.Fatalf("push echo as %s 1.0.0 = %d (%s)", tc.name, code, reason)
				}
				switch tc.kind {
				case runaway:
					h.runaway(t, tc.status)
				case instance:
					h.instance(t, tc.status)
				case noInit:
					h.noInit(t)
				}
			})
		}
	})

	stop()
	<-loadDone
	select {
	case <-ag.Done:
		t.Fatalf("the agent exited: %v\n%s", ag.Err, tail(ag.Out.String(), 4000))
	default:
	}
	st := status(t, dataDir)
	if !st.Connection.Connected || st.Connection.Lost != 0 {
		t.Errorf("MQTT session: connected %v, %d connection(s) lost; want connected throughout", st.Connection.Connected, st.Connection.Lost)
	}
	if t.Failed() || orders.failed.Load() != 0 {
		var crashes []string
		for _, l := range strings.Split(ag.Out.String(), "\n") {
			if strings.Contains(l, "crashed") || strings.Contains(l, "killed") {
				crashes = append(crashes, l)
			}
		}
		t.Logf("the agent's crash lines:\n%s", strings.Join(crashes, "\n"))
	}
	if n := orders.failed.Load(); n != 0 || orders.acked() == 0 {
		t.Errorf("order writes beside the hostile modules: %d failed, %d acknowledged; want none failed: %q", n, orders.acked(), orders.errs)
	}
	got := map[int64]bool{}
	var list []order
	_, body := call(t, "GET", base+"/orders", "")
	json.Unmarshal([]byte(body), &list)
	for _, o := range list {
		got[o.OrderID] = true
	}
	for _, id := range orders.ackedIDs() {
		if !got[id] {
			t.Errorf("acknowledged order %d lost", id)
			break
		}
	}
	t.Logf("order service beside them: %d writes acknowledged, 0 failed, all kept; MQTT session never lost", orders.acked())
}

// hostileRun is one module of the corpus on the shared agent.
type hostileRun struct {
	f        *fleet
	agentOut interface{ String() string }
	name     string
	port     int
	base     string
	deadline string
}

func (h *hostileRun) push(t *testing.T, file, version string) (string, string, int) {
	t.Helper()
	args := []string{"push", file, "--control", h.f.control, "--key", filepath.Join(h.f.keyDir, "edge.key"),
		"--name", h.name, "--version", version, "--node", "h", "--port", fmt.Sprint(h.port), "--wait", "2m", "--json"}
	if h.deadline != "" {
		args = append(args, "--deadline", h.deadline)
	}
	stdout, stderr, code := edgectl(t, args...)
	return stdout + stderr, reasons(stdout), code
}

// hit sends GET /x and returns its status (0: no answer) and how long it took.
func (h *hostileRun) hit(t *testing.T) (int, []byte, time.Duration) {
	t.Helper()
	start := time.Now()
	status, body, err := tryGet(h.base+"/x", 15*time.Second)
	if err != nil {
		t.Logf("%s: GET /x: %v", h.name, err)
	}
	return status, body, time.Since(start)
}

func tryGet(url string, timeout time.Duration) (int, []byte, error) {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// lines returns the agent's log lines naming the module (the last 40).
func (h *hostileRun) lines() string {
	var out []string
	for _, l := range strings.Split(h.agentOut.String(), "\n") {
		if strings.Contains(l, "="+h.name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-40):], "\n")
}

// logLines counts the agent's log lines matching re.
func (h *hostileRun) logLines(re *regexp.Regexp) int {
	return len(re.FindAllStringIndex(h.agentOut.String(), -1))
}

// runaway: each GET /x gets 504; the worker is killed and a new one is
// ready within a stated time; the fifth crash in a minute brings back
// echo 1.0.0 and quarantines 2.0.0.
func (h *hostileRun) runaway(t *testing.T, want int) {
	if _, reason, code := h.push(t, filepath.Join(hostileDir(), h.name+".wasm"), "2.0.0"); code != 0 {
		t.Fatalf("push %s 2.0.0 = %d (%s), want running (its probe passes)", h.name, code, reason)
	}
	crashed := regexp.MustCompile(`msg="worker crashed; restarting"[^\n]* module=` + h.name + ` `)
	ready := regexp.MustCompile(`msg="worker ready"[^\n]* worker=` + h.name + `@`)
	var kills, replaced []time.Duration
	start := time.Now()
	for n := 0; ; n++ {
		if v := h.serving(t); v == "1.0.0" {
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("%s: still serving %s after %d runaway requests in %s, want a crash-loop rollback to 1.0.0", h.name, h.serving(t), n, time.Since(start).Round(time.Second))
		}
		crashes, readies := h.logLines(crashed), h.logLines(ready)
		status, _, took := h.hit(t)
		if status == 200 {
			break // answered by echo 1.0.0: rolled back meanwhile
		}
		if status != want {
			t.Errorf("%s: GET /x = %d after %s, want %d", h.name, status, took.Round(time.Millisecond), want)
		}
		t0 := time.Now().Add(-took)
		for h.logLines(crashed) == crashes && time.Since(t0) < 10*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		if h.logLines(crashed) == crashes {
			if h.serving(t) == "1.0.0" {
				break
			}
			t.Fatalf("%s: worker not killed within 10s of a runaway request; the agent's lines about it:\n%s", h.name, h.lines())
		}
		kills = append(kills, time.Since(t0))
		for h.logLines(ready) == readies && time.Since(t0) < 20*time.Second && h.serving(t) != "1.0.0" {
			time.Sleep(10 * time.Millisecond)
		}
		replaced = append(replaced, time.Since(t0))
	}
	rolledBack := time.Since(start)
	if status, body, err := tryGet(h.base+"/", 5*time.Second); err != nil || status != 200 {
		t.Errorf("%s: after the rollback GET / = %d %q %v, want echo 1.0.0's 200", h.name, status, body, err)
	}
	h.wantQuarantined(t, "2.0.0")
	t.Logf("%s: %d runaway requests answered %d; worker killed %s after the request (max), a new one ready %s after (max); rolled back to 1.0.0 and 2.0.0 quarantined %s after the first",
		h.name, len(kills), want, pct(kills, 100), pct(replaced, 100), rolledBack.Round(time.Millisecond))
}

// instance: GET /x fails at once with want, the next GET / is served,
// no worker restarts, nothing is quarantined.
func (h *hostileRun) instance(t *testing.T, want int) {
	if _, reason, code := h.push(t, filepath.Join(hostileDir(), h.name+".wasm"), "2.0.0"); code != 0 {
		t.Fatalf("push %s 2.0.0 = %d (%s), want running (its probe passes)", h.name, code, reason)
	}
	crashed := regexp.MustCompile(`msg="worker crashed; restarting"[^\n]* module=` + h.name + ` `)
	var answers, next []time.Duration
	for range 5 {
		status, body, took := h.hit(t)
		if status != want {
			t.Errorf("%s: GET /x = %d %.200q after %s, want %d", h.name, status, body, took.Round(time.Millisecond), want)
		}
		if h.name == "oob" {
			checkOOBCodes(t, body)
		}
		answers = append(answers, took)
		t0 := time.Now()
		if status, body, err := tryGet(h.base+"/", 10*time.Second); err != nil || status != 200 || string(body) != "ok" {
			t.Errorf("%s: GET / after GET /x = %d %q %v, want 200 ok", h.name, status, body, err)
		}
		next = append(next, time.Since(t0))
	}
	if n := h.logLines(crashed); n != 0 {
		t.Errorf("%s: worker restarted %d times, want 0 (only the instance is replaced):\n%s", h.name, n, h.lines())
	}
	if v := h.serving(t); v != "2.0.0" {
		t.Errorf("%s: serves %q, want 2.0.0 (nothing to roll back: the module answered)", h.name, v)
	}
	t.Logf("%s: 5 requests answered %d within %s (max); the next GET / within %s (max); worker never restarted",
		h.name, want, pct(answers, 100), pct(next, 100))
}

// noInit: the deploy fails within the deadline + 1s (and start-up), 1.0.0
// serves throughout, and the same manifest again is refused.
func (h *hostileRun) noInit(t *testing.T) {
	file := filepath.Join(hostileDir(), h.name+".wasm")
	start := time.Now()
	_, reason, code := h.push(t, file, "2.0.0")
	took := time.Since(start)
	if code != 1 || !strings.Contains(reason, "past its deadline") {
		t.Fatalf("%s: push 2.0.0 = exit %d (%s), want failed naming the runaway _initialize", h.name, code, reason)
	}
	if status, body, err := tryGet(h.base+"/", 5*time.Second); err != nil || status != 200 {
		t.Errorf("%s: GET / = %d %q %v, want echo 1.0.0's 200", h.name, status, body, err)
	}
	if _, reason, code := h.push(t, file, "2.0.0"); code != 1 || !strings.Contains(reason, "rejected") {
		t.Errorf("%s: the same manifest again = exit %d (%s), want rejected as quarantined", h.name, code, reason)
	}
	h.wantQuarantined(t, "2.0.0")
	t.Logf("%s: push of 2.0.0 failed %s after it began (%s); 1.0.0 served throughout", h.name, took.Round(time.Millisecond), reason)
}

// serving is the version the agent reports serving for the module.
func (h *hostileRun) serving(t *testing.T) string {
	t.Helper()
	v, _ := h.f.serving(t, "h", h.name)
	return v
}

func (h *hostileRun) wantQuarantined(t *testing.T, version string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stdout, stderr, code := edgectl(t, "quarantine", "list", "h", "--control", h.f.control, "--json")
		var rows []struct{ Device, Module, Version, Reason string }
		json.Unmarshal([]byte(stdout), &rows)
		for _, r := range rows {
			if r.Module == h.name && r.Version == version {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("%s %s not in the quarantine list (exit %d): %s%s", h.name, version, code, stdout, stderr)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOOBCodes: the oob guest's return codes (testdata/hostile/oob.wat):
// log returns nothing (0), every edge import ErrMemory (-1), and WASI's
// fd_write EFAULT (21).
func checkOOBCodes(t *testing.T, body []byte) {
	t.Helper()
	want := []int32{0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 21, 21}
	if len(body) != 4*len(want) {
		t.Errorf("oob: body of %d bytes, want %d return codes", len(body), len(want))
		return
	}
	for i, w := range want {
		if got := int32(binary.LittleEndian.Uint32(body[4*i:])); got != w {
			t.Errorf("oob: return code %d = %d, want %d", i, got, w)
		}
	}
}

// TestHostileCorpusCurrent: each committed .wasm of the corpus is what
// wat2wasm makes of its .wat (skipped without wabt).
func TestHostileCorpusCurrent(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not installed (apt-get install wabt)")
	}
	files, _ := filepath.Glob(filepath.Join(hostileDir(), "*.wat"))
	if len(files) != len(hostileCases) {
		t.Errorf("%d .wat files, %d cases in hostileCases", len(files), len(hostileCases))
	}
	for _, f := range files {
		out := filepath.Join(t.TempDir(), "out.wasm")
		if b, err := exec.Command(wat2wasm, f, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", f, err, b)
		}
		got, _ := os.ReadFile(out)
		want, err := os.ReadFile(strings.TrimSuffix(f, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s.wasm is not current: regenerate it (see testdata/hostile/README.md)", strings.TrimSuffix(filepath.Base(f), ".wat"))
		}
	}
}
