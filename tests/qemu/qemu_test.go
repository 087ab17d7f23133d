//go:build qemu

package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"
)

// arch is one emulated target.
type arch struct {
	name   string // armv7, as in the board profile names
	goarch string
	goarm  string
	qemu   string // qemu-user binary
	engine string // the engine the agent must report
}

var arches = []arch{
	{name: "arm64", goarch: "arm64", qemu: "qemu-aarch64-static", engine: "compiler"},
	{name: "armv7", goarch: "arm", goarm: "7", qemu: "qemu-arm-static", engine: "interpreter"},
	{name: "riscv64", goarch: "riscv64", qemu: "qemu-riscv64-static", engine: "interpreter"},
}

// needQEMU returns the path of a's emulator; it skips the test when the
// emulator is missing, and fails it when CI is set.
func needQEMU(t *testing.T, a arch) string {
	t.Helper()
	p, err := exec.LookPath(a.qemu)
	if err != nil {
		msg := fmt.Sprintf("%s not found (apt-get install qemu-user-static): %v", a.qemu, err)
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %s", msg)
		}
		t.Skip(msg)
	}
	return p
}

func (a arch) env() []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.goarch)
	if a.goarm != "" {
		env = append(env, "GOARM="+a.goarm)
	}
	return env
}

// goBuild runs go with a's cross-compilation environment in the repository.
func (a arch) goBuild(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot()
	cmd.Env = a.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=%s go %s: %v\n%s", a.goarch, strings.Join(args, " "), err, out)
	}
}

// figures are one architecture's measurements, all under emulation.
type figures struct {
	size             int64
	idleRSS          int64 // KiB, supervisor; workerRSS the module's worker
	workerRSS        int64
	pushToRunning    time.Duration
	coldFirst200     time.Duration // push → first 200 on the module port
	warmFirst200     time.Duration // agent process start → first 200 after a restart
	workflow         time.Duration
	requestLatency   time.Duration // median GET /orders, warm
	engine, board    string
	ready, readyWarm time.Duration // agent process start → "running as" line
}

var (
	figMu   sync.Mutex
	figByID = map[string]*figures{}
)

// TestUnitUnderQEMU runs the unit tests of the host ABI, the store and the
// ABI codec cross-compiled, under each emulator.
func TestUnitUnderQEMU(t *testing.T) {
	pkgs := []string{"./agent/wasmhost", "./agent/store", "./modules/abi"}
	for _, a := range arches {
		t.Run(a.name, func(t *testing.T) {
			emu := needQEMU(t, a)
			dir := t.TempDir()
			for _, pkg := range pkgs {
				t.Run(filepath.Base(pkg), func(t *testing.T) {
					x := filepath.Join(dir, filepath.Base(pkg)+".test")
					a.goBuild(t, "test", "-c", "-o", x, pkg)
					ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
					defer cancel()
					begin := time.Now()
					cmd := exec.CommandContext(ctx, emu, x, "-test.count=1", "-test.v", "-test.timeout=8m")
					cmd.Dir = filepath.Join(repoRoot(), pkg) // wasmhost reads testdata/
					out, err := cmd.CombinedOutput()
					if err != nil {
						t.Fatalf("%s %s: %v\n%s", a.qemu, pkg, err, out)
					}
					var skips []string
					for _, l := range strings.Split(string(out), "\n") {
						if strings.Contains(l, "--- SKIP") {
							skips = append(skips, strings.TrimSpace(l))
						}
					}
					t.Logf("%s %s: ok in %s, %d skip lines", a.name, pkg, time.Since(begin).Round(time.Second), len(skips))
					if a.engine == "interpreter" && pkg == "./agent/wasmhost" {
						// Only the interpreter exists here: the compiler cases must skip, not fail.
						if !strings.Contains(string(out), "compiler not usable") {
							t.Errorf("%s: no compiler test skipped with \"compiler not usable\"", a.name)
						}
					}
					for _, s := range skips {
						t.Log("  " + s)
					}
				})
			}
		})
	}
}

var (
	controlReady = regexp.MustCompile(`edge-control: (http on http://\S+, mqtt on tcp://\S+)`)
	controlAddrs = regexp.MustCompile(`http on (http://[0-9.:]+), mqtt on tcp://([0-9.:]+)`)
	agentRunning = regexp.MustCompile(`edge-agent: running as \S+`)
)

// TestAgentUnderQEMU runs the emulated agent of each architecture against a
// host controller: push, seed workflow, reported engine, restart from the
// store and cache.
func TestAgentUnderQEMU(t *testing.T) {
	for _, a := range arches {
		t.Run(a.name, func(t *testing.T) {
			emu := needQEMU(t, a)
			fig := &figures{}
			figMu.Lock()
			figByID[a.name] = fig
			figMu.Unlock()
			runAgentArch(t, a, emu, fig)
		})
	}
}

func runAgentArch(t *testing.T, a arch, emu string, fig *figures) {
	agent := filepath.Join(t.TempDir(), "edge-agent")
	a.goBuild(t, "build", "-trimpath", "-ldflags", "-s -w", "-o", agent, "./cmd/edge-agent")
	if st, err := os.Stat(agent); err == nil {
		fig.size = st.Size()
	}

	ctlData := t.TempDir()
	_, line := start(t, controlReady, time.Minute, hostBin(t, "edge-control"),
		"--data", ctlData, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	m := controlAddrs.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot parse edge-control ready line %q", line)
	}
	control, mqtt := m[1], m[2]
	controlToken(t, ctlData, control) // edgectl and call send it
	keys := t.TempDir()
	if out, code := edgectl(t, "keygen", "--out", keys, "--force"); code != 0 {
		t.Fatalf("edgectl keygen = %d\n%s", code, out)
	}
	id := "qemu-" + a.name
	out, code := edgectl(t, "device", "add", id, "--control", control, "--json")
	if code != 0 {
		t.Fatalf("edgectl device add = %d\n%s", code, out)
	}
	var cred struct{ Password string }
	if err := json.Unmarshal([]byte(out[:strings.LastIndexByte(out, '}')+1]), &cred); err != nil || cred.Password == "" {
		t.Fatalf("device add: bad JSON %q: %v", out, err)
	}
	data := t.TempDir()
	args := []string{agent, "run", "--id", id, "--broker", "tcp://" + mqtt, "--password", cred.Password,
		"--data", data, "--trust", filepath.Join(keys, "edge.pub"), "--listen", "127.0.0.1",
		"--worker-launcher", emu,
		// Emulation is 5-10x slower: a 300 ms heartbeat timeout killed
		// healthy workers in a manual arm64 run.
		"--heartbeat-timeout", "2s"}
	ag, _ := start(t, agentRunning, 2*time.Minute, emu, args...)
	fig.ready = time.Since(ag.Started)

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	pushed := time.Now()
	out, code = edgectl(t, "push", hostBin(t, "orders.wasm"), "--control", control,
		"--key", filepath.Join(keys, "edge.key"), "--version", "1.0.0", "--node", id,
		"--db", "sqlite", "--port", strconv.Itoa(port), "--wait", "10m")
	fig.pushToRunning = time.Since(pushed)
	if code != 0 {
		t.Fatalf("push = %d after %s\n%s\nagent:\n%s", code, fig.pushToRunning, out, ag.Out)
	}
	fig.coldFirst200 = waitServing(t, base, pushed, ag)
	t.Logf("%s: push → running %s, push → first 200 %s", a.name, fig.pushToRunning.Round(time.Millisecond), fig.coldFirst200.Round(time.Millisecond))

	begin := time.Now()
	runWorkflow(t, base, seedWorkflow(t))
	fig.workflow = time.Since(begin)
	seeded := getOrders(t, base)
	fig.requestLatency = medianGet(t, base+"/orders", 9)

	// The engine and board the agent reports to the controller.
	status, body := call(t, "GET", control+"/api/v1/devices/"+id, "")
	if status != 200 {
		t.Fatalf("GET /api/v1/devices/%s = %d %q", id, status, body)
	}
	var dev struct {
		Status struct{ Engine, Board, Arch string }
	}
	if err := json.Unmarshal([]byte(body), &dev); err != nil {
		t.Fatalf("device JSON %q: %v", body, err)
	}
	fig.engine, fig.board = dev.Status.Engine, dev.Status.Board
	if dev.Status.Engine != a.engine {
		t.Errorf("%s reports engine %q, want %q", a.name, dev.Status.Engine, a.engine)
	}
	if want := "generic-" + a.name; dev.Status.Board != want {
		t.Errorf("%s reports board %q, want %q", a.name, dev.Status.Board, want)
	}

	// Idle RSS: the emulated supervisor and its emulated worker (qemu-user
	// runs the guest in its own process, so these include qemu itself).
	time.Sleep(3 * time.Second)
	fig.idleRSS = rssKiB(ag.Cmd.Process.Pid)
	for _, c := range children(ag.Cmd.Process.Pid) {
		fig.workerRSS += rssKiB(c)
	}

	// Restart with the same data, controller still up: served from the
	// store and the compilation cache.
	ag.Stop(t)
	if ag.Err != nil {
		t.Errorf("agent exit after SIGINT: %v\n%s", ag.Err, tail(ag.Out.String(), 20))
	}
	ag2, _ := start(t, agentRunning, 2*time.Minute, emu, args...)
	fig.readyWarm = time.Since(ag2.Started)
	fig.warmFirst200 = waitServing(t, base, ag2.Started, ag2)
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after restart /orders = %q, want %q", got, seeded)
	}
	t.Logf("%s: restart → running-as line %s, → first 200 %s (cold: push → first 200 %s)", a.name,
		fig.readyWarm.Round(time.Millisecond), fig.warmFirst200.Round(time.Millisecond), fig.coldFirst200.Round(time.Millisecond))
	if n := strings.Count(ag.Out.String()+ag2.Out.String(), "worker crashed"); n > 0 {
		t.Logf("%s: %d worker crash(es) during the run, e.g.:\n%s", a.name, n, grep(ag.Out.String()+ag2.Out.String(), "worker crashed", 3))
	}
}

// waitServing polls GET base/ until a 200 and returns the time since from
// (GET /orders answers 500 before /init created the table).
func waitServing(t *testing.T, base string, from time.Time, p *proc) time.Duration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		status, body, err := tryCall("GET", base+"/", "", 30*time.Second)
		if err == nil && status == 200 {
			return time.Since(from)
		}
		last = fmt.Sprintf("%d %q %v", status, body, err)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no 200 on %s/ within 5m (last: %s); agent:\n%s", base, last, p.Out)
	return 0
}

func medianGet(t *testing.T, url string, n int) time.Duration {
	var ds []time.Duration
	for range n {
		begin := time.Now()
		if status, body := call(t, "GET", url, ""); status != 200 {
			t.Fatalf("GET %s = %d %q", url, status, body)
		}
		ds = append(ds, time.Since(begin))
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j] < ds[i] {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	return ds[len(ds)/2]
}

// rssKiB reads VmRSS of pid from /proc; 0 if unknown.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// children lists the child pids of pid (of all its threads: Go starts
// processes from any thread).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func grep(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}

// edgectl runs the host CLI and returns its combined output and exit code.
func edgectl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hostBin(t, "edgectl"), args...)
	cmd.Env = edgectlEnv(args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("edgectl %s: %v", strings.Join(args, " "), err)
	}
	if ee != nil {
		return stdout.String() + stderr.String(), ee.ExitCode()
	}
	return stdout.String() + stderr.String(), 0
}

func getOrders(t *testing.T, base string) string {
	t.Helper()
	status, body := call(t, "GET", base+"/orders", "")
	if status != 200 {
		t.Fatalf("GET %s/orders = %d %q", base, status, body)
	}
	return body
}

// order, step, seedWorkflow and runWorkflow are copied from tests/e2e.
type order struct {
	OrderID         int64   `json:"order_id"`
	ProductID       int64   `json:"product_id"`
	Quantity        int64   `json:"quantity"`
	Amount          float64 `json:"amount"`
	Shipping        float64 `json:"shipping"`
	Tax             float64 `json:"tax"`
	ShippingAddress string  `json:"shipping_address"`
}

type step struct {
	method, path, body string
	status             int
	want               string
	ids                []int64
}

func seedWorkflow(t *testing.T) []step {
	ordersJSON := readFile(t, "deploy/demo/orders.json")
	update := readFile(t, "deploy/demo/update_order.json")
	ok := `{"status":true}`
	return []step{
		{method: "GET", path: "/init", status: 200, want: ok},
		{method: "POST", path: "/create_orders", body: ordersJSON, status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 2, 3, 4, 5}},
		{method: "GET", path: "/delete_order?id=2", status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 3, 4, 5}},
		{method: "POST", path: "/update_order", body: update, status: 200, want: ok},
		{method: "GET", path: "/orders", status: 200, ids: []int64{1, 3, 4, 5}},
	}
}

func runWorkflow(t *testing.T, base string, steps []step) {
	t.Helper()
	var last string
	for _, s := range steps {
		status, body := call(t, s.method, base+s.path, s.body)
		last = body
		if status != s.status {
			t.Fatalf("%s %s = %d %q, want %d", s.method, s.path, status, body, s.status)
		}
		if s.want != "" && body != s.want {
			t.Errorf("%s %s body = %q, want %q", s.method, s.path, body, s.want)
		}
		if s.ids != nil {
			var got []order
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s %s: %q is not a JSON array of orders: %v", s.method, s.path, body, err)
			}
			var ids []int64
			for _, o := range got {
				ids = append(ids, o.OrderID)
			}
			if !reflect.DeepEqual(ids, s.ids) {
				t.Errorf("%s %s ids = %v, want %v", s.method, s.path, ids, s.ids)
			}
		}
	}
	var final []order
	json.Unmarshal([]byte(last), &final)
	want := order{OrderID: 3, ProductID: 12, Quantity: 2, Amount: 56, Shipping: 15, Tax: 2, ShippingAddress: "123 Main St"}
	for _, o := range final {
		if o.OrderID == 3 && o != want {
			t.Errorf("order 3 after update = %+v, want %+v", o, want)
		}
	}
}

// TestZTable prints the figures the agent tests recorded (it runs last:
// tests run in source order).
func TestZTable(t *testing.T) {
	figMu.Lock()
	defer figMu.Unlock()
	if len(figByID) == 0 {
		t.Skip("no agent figures recorded")
	}
	var b strings.Builder
	b.WriteString("\n**Emulated (qemu-user on " + hostDesc() + "), not board figures.**\n\n")
	b.WriteString("| arch | engine | board | agent size (stripped) | idle RSS agent / worker | agent start → ready | push → running | cold: push → first 200 | warm: restart → first 200 | seed workflow | GET /orders (median) |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range arches {
		f, ok := figByID[a.name]
		if !ok {
			continue
		}
		r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f MB | %.1f / %.1f MiB | %s | %s | %s | %s | %s | %s |\n",
			a.name, f.engine, f.board, float64(f.size)/1e6, float64(f.idleRSS)/1024, float64(f.workerRSS)/1024,
			r(f.ready), r(f.pushToRunning), r(f.coldFirst200), r(f.warmFirst200), r(f.workflow), r(f.requestLatency))
	}
	t.Log(b.String())
}

func hostDesc() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	cpus := strings.Count(string(b), "processor\t:")
	return fmt.Sprintf("a %d-core amd64 host", cpus)
}
