package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	"github.com/edgeplane/edge/tests/loadgen"
	"github.com/edgeplane/edge/wire"
)

// The board: edge-control with its embedded broker, one `edge-agent run`
// with a board profile, and modules pushed with edgectl, as a device runs
// them (worker processes in fast mode under the watchdog, memory cap,
// synchronous=FULL, body and deadline limits: all the defaults).
const benchBoard = "rpi4" // pool 2, 1024 pages, 256 MiB worker cap

type board struct {
	b        *bench
	dir      string
	control  string
	keys     string
	password string
	ctl      *exec.Cmd
	agent    *exec.Cmd
	ports    map[string]int // module name → port
}

var (
	controlReady = regexp.MustCompile(`edge-control: http on (http://[0-9.:]+), mqtt on tcp://([0-9.:]+)`)
	agentReady   = regexp.MustCompile(`edge-agent: running as`)
)

// startProc starts bin/name and waits for a line of its output matching
// ready; the rest of the output is discarded.
func (b *bench) startProc(ready *regexp.Regexp, name string, args ...string) (*exec.Cmd, []string, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case m := <-found:
		return cmd, m, nil
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, fmt.Errorf("%s not ready within a minute", name)
	}
}

func stopProc(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (bd *board) edgectl(args ...string) (string, error) {
	var out, diag bytes.Buffer
	cmd := exec.Command(filepath.Join(bd.b.bin, "edgectl"), args...)
	// The controller wrote its admin token at its first start.
	cmd.Env = os.Environ()
	if tok, err := os.ReadFile(filepath.Join(bd.dir, "control", "admin.token")); err == nil {
		cmd.Env = append(cmd.Env, "EDGE_TOKEN="+strings.TrimSpace(string(tok)))
	}
	cmd.Stdout, cmd.Stderr = &out, &diag
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("edgectl %s: %v\n%s%s", args[0], err, &out, &diag)
	}
	return out.String(), nil
}

// startBoard starts the controller and registers the device.
func (b *bench) startBoard(tmp string) (*board, error) {
	bd := &board{b: b, dir: filepath.Join(tmp, "board"), ports: map[string]int{}}
	ctl, m, err := b.startProc(controlReady, "edge-control", "--data", filepath.Join(bd.dir, "control"),
		"--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	bd.ctl, bd.control = ctl, m[1]
	broker := m[2]
	bd.keys = filepath.Join(bd.dir, "keys")
	if _, err := bd.edgectl("keygen", "--out", bd.keys, "--force"); err != nil {
		bd.stop()
		return nil, err
	}
	out, err := bd.edgectl("device", "add", "bench", "--control", bd.control, "--json")
	if err != nil {
		bd.stop()
		return nil, err
	}
	var cred wire.DeviceCredentials
	if err := json.Unmarshal([]byte(out), &cred); err != nil {
		bd.stop()
		return nil, fmt.Errorf("device add: %v: %q", err, out)
	}
	bd.password = cred.Password
	if err := os.WriteFile(filepath.Join(bd.dir, "broker"), []byte("tcp://"+broker), 0o600); err != nil {
		bd.stop()
		return nil, err
	}
	_, err = bd.startAgent()
	return bd, err
}

// startAgent starts `edge-agent run` and returns the time from process
// start to its "running" line.
func (bd *board) startAgent() (time.Duration, error) {
	broker, err := os.ReadFile(filepath.Join(bd.dir, "broker"))
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	agent, _, err := bd.b.startProc(agentReady, "edge-agent", "run", "--id", "bench",
		"--broker", string(broker), "--password", bd.password, "--data", filepath.Join(bd.dir, "agent"),
		"--trust", filepath.Join(bd.keys, "edge.pub"), "--board", benchBoard, "--grace", "0", "--log-level", "warn")
	if err != nil {
		return 0, err
	}
	bd.agent = agent
	return time.Since(t0), nil
}

func (bd *board) stop() {
	stopProc(bd.agent)
	stopProc(bd.ctl)
}

// push deploys wasm as module name on a port of its own and waits until it
// runs; it returns edgectl's wall time.
func (bd *board) push(name, wasm, version string) (time.Duration, error) {
	port, ok := bd.ports[name]
	if !ok {
		var err error
		if port, err = freeport.Pick(); err != nil {
			return 0, err
		}
		bd.ports[name] = port
	}
	t0 := time.Now()
	_, err := bd.edgectl("push", wasm, "--control", bd.control, "--key", filepath.Join(bd.keys, "edge.key"),
		"--name", name, "--version", version, "--node", "bench", "--db", "sqlite", "--port", strconv.Itoa(port), "--wait", "3m")
	return time.Since(t0), err
}

func (bd *board) url(name string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", bd.ports[name])
}

// firstOK waits for the first 200 of GET url/ and returns when it came.
func firstOK(url string, limit time.Duration) (time.Time, error) {
	end := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(end) {
		if resp, err := client.Get(url + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Now(), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no 200 from %s within %s", url, limit)
}

// restartWarm stops the agent and starts it again with its compile cache
// warm; it returns process start → first 200 of module name.
func (bd *board) restartWarm(name string) (time.Duration, error) {
	stopProc(bd.agent)
	broker, err := os.ReadFile(filepath.Join(bd.dir, "broker"))
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(filepath.Join(bd.b.bin, "edge-agent"), "run", "--id", "bench",
		"--broker", string(broker), "--password", bd.password, "--data", filepath.Join(bd.dir, "agent"),
		"--trust", filepath.Join(bd.keys, "edge.pub"), "--board", benchBoard, "--grace", "0", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	bd.agent = cmd
	at, err := firstOK(bd.url(name), time.Minute)
	if err != nil {
		return 0, err
	}
	return at.Sub(t0), nil
}

// workers returns the agent's worker processes: its children.
func (bd *board) workers() []int {
	return children(bd.agent.Process.Pid)
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// mem is a process's resident and proportional set size, in MiB.
type mem struct{ rss, pss float64 }

func (m mem) String() string { return fmt.Sprintf("%.1f / %.1f MiB", m.rss, m.pss) }

// memOf reads /proc/PID/smaps_rollup.
func memOf(pid int) mem {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return mem{}
	}
	var m mem
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			m.rss = kb / 1024
		case "Pss:":
			m.pss = kb / 1024
		}
	}
	return m
}

// workerOf returns the worker process serving the module on port: the
// child of the agent that holds a socket listening on it. With one module
// per worker and the module's listener inherited, the worker is found by
// the listening socket's inode.
func (bd *board) workerOf(name string) int {
	inode := listenInode(bd.ports[name])
	for _, pid := range bd.workers() {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); l == "socket:["+inode+"]" {
				return pid
			}
		}
	}
	return 0
}

// listenInode finds the inode of the socket listening on port (any
// address, IPv4 or IPv6) in /proc/net/tcp and tcp6.
func listenInode(port int) string {
	want := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && strings.HasSuffix(f[1], want) && f[3] == "0A" { // LISTEN
				return f[9]
			}
		}
	}
	return ""
}

// armSize builds the stripped arm64 edge-agent as `make dist` does and
// returns its size in bytes.
func armSize(tmp string) (int64, error) {
	out := filepath.Join(tmp, "edge-agent-arm64")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/edge-agent")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build arm64 agent: %v\n%s", err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// summary holds the figures of the table.
type summary struct {
	getRun, getServe, post, p99 float64
	workerDeploy, workerLoad    mem
	supervisor                  mem
	armSize                     int64
	warmRestart                 time.Duration
	pushRatio                   float64
	loadAvg                     string
}

// boardDeploy pushes each module to the board and records the worker's
// memory right after the deploy (the Go module's is the table's figure).
func (b *bench) boardDeploy(bd *board, mods []module) error {
	b.printf("## The board: `edge-agent run --board %s`, modules pushed with edgectl\n\n", benchBoard)
	b.printf("| module | edgectl push → running (wall) | worker RSS / PSS right after the deploy |\n|---|---|---|\n")
	for _, m := range mods {
		wall, err := bd.push(boardName(m), m.path, "1.0.0")
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond) // the pool grows in the background
		w := memOf(bd.workerOf(boardName(m)))
		if m.lang == "Go" {
			b.sum.workerDeploy = w
		}
		b.printf("| %s | %s | %s |\n", m.lang, ms(wall), w)
	}
	b.printf("\n")
	return nil
}

// boardMemory loads each module on the board for 5 s and reports the
// worker's and the supervisor's memory.
func (b *bench) boardMemory(ctx context.Context, bd *board, mods []module) error {
	b.printf("### Memory on the board (RSS / PSS of each process)\n\n| process | idle | after 5 s of GET /orders at 32 clients |\n|---|---|---|\n")
	sup := memOf(bd.agent.Process.Pid)
	for _, m := range mods {
		name := boardName(m)
		pid := bd.workerOf(name)
		idle := memOf(pid)
		s := &server{url: bd.url(name)}
		if err := s.seed(); err != nil {
			return err
		}
		loadgen.Run(ctx, loadgen.Config{Method: "GET", URL: s.url + "/orders", Concurrency: 32, Duration: 5 * time.Second})
		loaded := memOf(pid)
		if m.lang == "Go" {
			b.sum.workerLoad = loaded
		}
		b.printf("| worker of %s (%s module, pool 2) | %s | %s |\n", name, m.lang, idle, loaded)
	}
	b.sum.supervisor = memOf(bd.agent.Process.Pid)
	b.printf("| supervisor (`edge-agent run`, MQTT session, %d modules) | %s | %s |\n\n", len(mods), sup, b.sum.supervisor)
	return nil
}

// boardRestart restarts the agent three times with its compile cache warm
// and times process start → first 200 of the Go module.
func (b *bench) boardRestart(bd *board) error {
	var ds []time.Duration
	for range 3 {
		d, err := bd.restartWarm("orders-go")
		if err != nil {
			return err
		}
		ds = append(ds, d)
		time.Sleep(time.Second)
	}
	b.sum.warmRestart = median(ds)
	b.printf("Restart of `edge-agent run` with a warm compile cache → first 200 of the Go module: %s, %s, %s (median **%s**).\n\n",
		ms(ds[0]), ms(ds[1]), ms(ds[2]), ms(b.sum.warmRestart))
	return nil
}

var pushRatioRe = regexp.MustCompile(`total / bare compile = \*\*([0-9.]+)×\*\*`)

// pushbench runs tests/pushbench (push → serving, by phase) and includes
// its table.
func (b *bench) pushbench() error {
	cmd := exec.Command("go", "run", "./tests/pushbench", "-bin", b.bin, "-runs", "3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pushbench: %w", err)
	}
	m := pushRatioRe.FindStringSubmatch(out.String())
	if m == nil {
		return fmt.Errorf("pushbench: no ratio in its output:\n%s", &out)
	}
	b.sum.pushRatio, _ = strconv.ParseFloat(m[1], 64)
	b.printf("## Push → serving on one device (`tests/pushbench`)\n\n%s\n", &out)
	return nil
}

// summary prints the table: each figure, its goal and whether it
// is met.
func (b *bench) summary() {
	b.sum.loadAvg = loadAvg()
	b.printf("## Summary: the goals of issue 10\n\nLoad average when the summary was written: %s.\n\n| figure | measured | goal | |\n|---|---|---|---|\n", b.sum.loadAvg)
	row := func(name, measured, goal string, ok bool) {
		mark := "missed"
		if ok {
			mark = "met"
		}
		b.printf("| %s | %s | %s | %s |\n", name, measured, goal, mark)
	}
	s := &b.sum
	row("GET /orders req/s, Wasm ÷ native, `edge-agent run` (board), 32 clients", fmt.Sprintf("%.2f", s.getRun), "≥ 0.85", s.getRun >= 0.85)
	row("same, `edge-agent serve` with its defaults", fmt.Sprintf("%.2f", s.getServe), "≥ 0.85", s.getServe >= 0.85)
	row("POST /create_order req/s, Wasm ÷ native (board, 32 clients)", fmt.Sprintf("%.2f", s.post), "≥ 0.85", s.post >= 0.85)
	row("p99 at 32 clients, Wasm ÷ native (GET /orders, board)", fmt.Sprintf("%.2f×", s.p99), "≤ 1.2×", s.p99 <= 1.2)
	row("worker RSS right after a deploy / after 5 s of load (pool 2)", fmt.Sprintf("%.1f / %.1f MiB", s.workerDeploy.rss, s.workerLoad.rss), "≤ 40 / ≤ 48 MB",
		s.workerDeploy.rss*1.048576 <= 40 && s.workerLoad.rss*1.048576 <= 48)
	row("supervisor RSS (PSS)", fmt.Sprintf("%.1f (%.1f) MiB", s.supervisor.rss, s.supervisor.pss), "≤ 12 MB (≤ 8 MB)",
		s.supervisor.rss*1.048576 <= 12 && s.supervisor.pss*1.048576 <= 8)
	row("`edge-agent` arm64, stripped", fmt.Sprintf("%.2f MB", float64(s.armSize)/1e6), "≤ 12 MB", s.armSize <= 12e6)
	row("restart with a warm compile cache → first 200", ms(s.warmRestart), "≤ 150 ms", s.warmRestart <= 150*time.Millisecond)
	row("push → serving ÷ bare compile", fmt.Sprintf("%.2f×", s.pushRatio), "≤ 1.3×", s.pushRatio <= 1.3)
	b.printf("\n")
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
