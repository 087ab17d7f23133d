package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// killTrials is how many kills TestKillTrials makes; -tags long raises it
// (killtrials_long_test.go) and EDGE_KILL_TRIALS overrides both.
var killTrials = 100

// TestKillTrials is issue 12's crash figure: SIGKILL of the agent or of
// one of its workers at a random moment, ≥ 100 times, while deploys,
// operator rollbacks and order writes run without pause. After every
// trial:
//
//   - the store opens and reads (state.json decodes, the committed
//     version's blob is on disk and matches its digest);
//   - the replay floor (epoch, highest committed version) never went down,
//     and the committed version went down only by an operator rollback
//     (a higher epoch) or the agent's own crash-loop rollback (the version
//     it left is quarantined);
//   - the restarted agent, or the agent whose worker was killed, serves
//     the module again within 30 s (the times are logged);
//   - a killed agent leaves no worker behind.
//
// At the end every order a client got a 200 for is in GET /orders.
func TestKillTrials(t *testing.T) {
	trials := killTrials
	if s := os.Getenv("EDGE_KILL_TRIALS"); s != "" {
		fmt.Sscan(s, &trials)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EDGE_KILL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("%d trials, seed %d (EDGE_KILL_SEED to replay the choices)", trials, seed)
	rng := rand.New(rand.NewPCG(seed, 12))

	f := startFleet(t, "--deploy-timeout", "60s") // a cold compile on a loaded machine takes 20 s and more
	agent := bin(t, "edge-agent")
	args := f.device(t, "kt")
	args = append(args, "--grace", "300ms", "--metrics-interval", "0")
	dataDir := argValue(args, "--data")
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	env := []string{agentMarker + "=" + marker}
	ag, _ := start(t, agentRunning, env, agent, args...)

	wasm, err := os.ReadFile(bin(t, "orders.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	files := t.TempDir()
	// Most versions reuse one file (stored already: the deploy is a
	// start, probe, switch and commit); every fourth has new bytes, so
	// kills also land in chunk fetches, blob writes and compiles.
	file := func(n int) string {
		tag := "same"
		if n%4 == 0 {
			tag = fmt.Sprint(n)
		}
		p := filepath.Join(files, "orders-"+tag+".wasm")
		if _, err := os.Stat(p); err != nil {
			if err := os.WriteFile(p, withCustomSection(wasm, "edge-killtrials", []byte(tag)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	if out, _, code := f.push(t, file(1), "1.0.1", "kt", port); code != 0 {
		t.Fatalf("push 1.0.1 = %d\n%s", code, out)
	}
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("GET /init = %d %s", status, body)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	orders := &orderLoad{base: base}
	for w := range 2 {
		wg.Go(func() { orders.run(ctx, int64(w)) })
	}
	ops := &deployOps{f: f, node: "kt", port: port, file: file}
	wg.Go(func() { ops.run(ctx, t) })

	store := storeView{dir: filepath.Join(dataDir, "store")}
	before := store.read(t, "start")
	var agentKills, workerKills int
	var restarts, recoveries []time.Duration
	for i := range trials {
		// Mostly soon after the last recovery (boot, resumed deploys),
		// every tenth trial later (a deploy's fetch, compile or grace).
		delay := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		if i%10 == 9 {
			delay = time.Duration(rng.Int64N(int64(2500 * time.Millisecond)))
		}
		time.Sleep(delay)
		killAgent := rng.IntN(3) > 0
		what := "agent"
		if !killAgent {
			workers := slices.DeleteFunc(markedProcs(marker), func(pid int) bool { return pid == ag.Cmd.Process.Pid })
			if len(workers) == 0 {
				killAgent = true // between workers: take the agent instead
			} else {
				pid := workers[rng.IntN(len(workers))]
				what = fmt.Sprintf("worker %d", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				workerKills++
			}
		}
		killedAt := time.Now()
		if killAgent {
			agentKills++
			ag.Cmd.Process.Kill()
			<-ag.Done
			waitGone(t, marker, killedAt, i)
		}
		after := store.read(t, fmt.Sprintf("trial %d (%s killed %s in)", i, what, delay.Round(time.Millisecond)))
		checkNotLower(t, i, before, after)
		before = after
		if killAgent {
			ag, _ = start(t, agentRunning, env, agent, args...)
			restarts = append(restarts, time.Since(killedAt))
		}
		took, err := waitAnswering(base, killedAt, 30*time.Second)
		if err != nil {
			t.Fatalf("trial %d (%s killed %s in): nothing serves 30s later: %v\nagent:\n%s", i, what, delay.Round(time.Millisecond), err, tail(ag.Out.String(), 4000))
		}
		recoveries = append(recoveries, took)
		if testing.Verbose() {
			t.Logf("trial %3d: %-13s killed after %5s; serving %s later; committed %s (floor %d/%s); %d orders acknowledged",
				i, what, delay.Round(time.Millisecond), took.Round(time.Millisecond), after.Current, after.Epoch, after.Highest, orders.acked())
		}
	}
	stop()
	wg.Wait()

	// Every acknowledged order is stored, whichever version answered it.
	if _, err := waitAnswering(base, time.Now(), 30*time.Second); err != nil {
		t.Fatalf("nothing serves after the trials: %v", err)
	}
	status, body := call(t, "GET", base+"/orders", "")
	if status != 200 {
		t.Fatalf("GET /orders = %d %.300s", status, body)
	}
	var list []order
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /orders: %v", err)
	}
	have := map[int64]bool{}
	for _, o := range list {
		have[o.OrderID] = true
	}
	var lost []int64
	for _, id := range orders.ackedIDs() {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged orders lost, e.g. %v", len(lost), orders.acked(), lost[:min(10, len(lost))])
	}
	if orders.acked() == 0 {
		t.Errorf("no order was acknowledged during the trials")
	}
	t.Logf("%d trials (%d agent kills, %d worker kills): kill to agent ready p50 %s max %s; kill to serving p50 %s p99 %s max %s; "+
		"%d orders acknowledged, %d lost (%d requests failed or unanswered); operations: %s; last committed %s (floor %d/%s)",
		trials, agentKills, workerKills, pct(restarts, 50), pct(restarts, 100), pct(recoveries, 50), pct(recoveries, 99),
		pct(recoveries, 100), orders.acked(), len(lost), orders.failed.Load(), ops.summary(), before.Current, before.Epoch, before.Highest)
}

// argValue returns the value after flag in args.
func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// waitGone waits until no process of the killed agent (its workers) is
// left; PR_SET_PDEATHSIG makes that immediate.
func waitGone(t *testing.T, marker string, killedAt time.Time, trial int) {
	t.Helper()
	for len(markedProcs(marker)) > 0 {
		if time.Since(killedAt) > 5*time.Second {
			t.Fatalf("trial %d: processes %v of the killed agent alive 5s after SIGKILL", trial, markedProcs(marker))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAnswering polls GET / until it answers 200 and returns the time since
// from.
func waitAnswering(base string, from time.Time, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Since(from) < limit {
		resp, err := client.Get(base + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(from), nil
			}
			err = fmt.Errorf("GET / = %d", resp.StatusCode)
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
	return 0, last
}

// storeView reads the agent's store the way the agent does at boot.
type storeView struct{ dir string }

// moduleFacts is what the trials compare of the orders module's state.
type moduleFacts struct {
	store.ModuleState
	currentEpoch uint64
}

func (v storeView) read(t *testing.T, when string) moduleFacts {
	t.Helper()
	st, err := store.Open(v.dir, nil, store.Options{})
	if err != nil {
		t.Fatalf("%s: store unreadable: %v", when, err)
	}
	ms := st.Module("orders")
	if ms.Current == "" {
		t.Fatalf("%s: no committed version of orders: nothing runnable (%+v)", when, ms)
	}
	rec := ms.Versions[ms.Current]
	if rec == nil {
		t.Fatalf("%s: committed version %s has no record", when, ms.Current)
	}
	if _, err := st.ReadBlob(rec.SHA256, rec.Size); err != nil {
		t.Fatalf("%s: committed version %s: blob unreadable: %v", when, ms.Current, err)
	}
	m, err := wire.ParseManifest(rec.Envelope.Payload)
	if err != nil {
		t.Fatalf("%s: committed version %s: stored manifest: %v", when, ms.Current, err)
	}
	return moduleFacts{ModuleState: ms, currentEpoch: m.Epoch}
}

// checkNotLower: the replay floor never goes down; the committed version
// only by an operator rollback (higher epoch) or a crash-loop rollback
// (the version left is quarantined).
func checkNotLower(t *testing.T, trial int, before, after moduleFacts) {
	t.Helper()
	if c, err := store.CompareFloor(after.Epoch, after.Highest, before.Epoch, before.Highest); err != nil || c < 0 {
		t.Errorf("trial %d: replay floor went down: %d/%s, was %d/%s (%v)", trial, after.Epoch, after.Highest, before.Epoch, before.Highest, err)
	}
	c, err := store.CompareFloor(after.currentEpoch, after.Current, before.currentEpoch, before.Current)
	if err != nil {
		t.Errorf("trial %d: %v", trial, err)
		return
	}
	if c >= 0 {
		return
	}
	for _, q := range after.Quarantine {
		if q.Version == before.Current {
			return // the agent's own rollback of a crash-looping version
		}
	}
	t.Errorf("trial %d: committed version went down: %d/%s, was %d/%s, and %s is not quarantined",
		trial, after.currentEpoch, after.Current, before.currentEpoch, before.Current, before.Current)
}

// orderLoad posts orders with unique ids and records each acknowledged one.
type orderLoad struct {
	base   string
	mu     sync.Mutex
	ids    []int64
	failed atomic.Int64
	errs   []string // the first few failures
}

func (o *orderLoad) fail(msg string) {
	o.failed.Add(1)
	o.mu.Lock()
	if len(o.errs) < 5 {
		o.errs = append(o.errs, time.Now().Format("15:04:05.000 ")+msg)
	}
	o.mu.Unlock()
}

func (o *orderLoad) run(ctx context.Context, worker int64) {
	client := &http.Client{Timeout: 3 * time.Second}
	for n := int64(1); ctx.Err() == nil; n++ {
		id := 1_000_000*(worker+1) + n
		body := fmt.Sprintf(`{"order_id":%d,"product_id":7,"quantity":1,"amount":9.5,"shipping":1,"tax":0.5,"shipping_address":"kill trial"}`, id)
		req, _ := http.NewRequestWithContext(ctx, "POST", o.base+"/create_order", strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				o.fail(err.Error())
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && bytes.Contains(b, []byte(`"status":true`)) {
			o.mu.Lock()
			o.ids = append(o.ids, id)
			o.mu.Unlock()
		} else {
			o.fail(fmt.Sprintf("%d %.200s", resp.StatusCode, b))
		}
	}
}

func (o *orderLoad) acked() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ids)
}

func (o *orderLoad) ackedIDs() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ids)
}

// deployOps pushes version after version and, every fifth operation,
// rolls back to the version before, without pause.
type deployOps struct {
	f    *fleet
	node string
	port int
	file func(n int) string

	mu      sync.Mutex
	results map[string]int // "push running", "rollback exit 1" ...
}

func (d *deployOps) run(ctx context.Context, t *testing.T) {
	key := filepath.Join(d.f.keyDir, "edge.key")
	prev := "1.0.1"
	for n := 2; ctx.Err() == nil; n++ {
		version := fmt.Sprintf("1.0.%d", n)
		kind, args := "push", []string{"push", d.file(n), "--control", d.f.control, "--key", key, "--name", "orders",
			"--version", version, "--node", d.node, "--db", "sqlite", "--port", fmt.Sprint(d.port), "--wait", "25s", "--json"}
		if n%5 == 0 {
			kind, args = "rollback", []string{"rollback", "orders", "--to", prev, "--control", d.f.control, "--key", key,
				"--node", d.node, "--wait", "25s", "--json"}
		}
		cmd := exec.CommandContext(ctx, bin(t, "edgectl"), args...)
		cmd.Env = harness.EdgectlEnvFor(args) // the controller's operator token
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ctx.Err() != nil {
			return
		}
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		state := fmt.Sprintf("exit %d", code)
		var res pushResult
		if json.Unmarshal(out.Bytes(), &res) == nil && len(res.Devices) == 1 {
			state = res.Devices[0].State
			if state != wire.StateRunning {
				t.Logf("%s %s: %s: %.200s", kind, version, state, res.Devices[0].Reason)
			}
		} else if code != 0 {
			// Refused before a deployment existed (409: the last one has
			// not timed out yet): the status code names it.
			line := strings.TrimSpace(errOut.String())
			if i := strings.LastIndexByte(line, '\n'); i >= 0 {
				line = line[i+1:]
			}
			t.Logf("%s %s: exit %d: %.200s", kind, version, code, line)
		}
		d.mu.Lock()
		if d.results == nil {
			d.results = map[string]int{}
		}
		d.results[kind+" "+state]++
		d.mu.Unlock()
		if kind == "push" && code == 0 {
			prev = version
		}
		if code != 0 {
			time.Sleep(100 * time.Millisecond) // e.g. 409 while the last one times out
		}
	}
}

func (d *deployOps) summary() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []string
	for k, n := range d.results {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// pct is the p-th percentile of ds (100: the maximum).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(time.Millisecond)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
