// Command bench measures the order service under edge-agent against the
// same source built natively, on one machine in one run, and writes the
// results as Markdown (docs/BENCHMARKS.md via `make bench`).
//
// What it measures:
//   - requests/s and p50/p99 for GET /orders (5 rows) and POST /create_order,
//     at 1 and 32 concurrent clients, native vs Wasm in both deadline modes,
//     in interleaved rounds so machine noise hits all of them alike;
//   - cold start (empty compilation cache) and warm start (process start to
//     the first 200);
//   - RSS of the agent idle and after load, and per-instance memory (pool of
//     1 vs 4);
//   - module size raw and gzip.
//
// Every measurement covers the Go module (orders.wasm) and, when the bin
// folder holds it (make build with Debian's Rust toolchain), the Rust one
// (orders-rs.wasm), interleaved in the same run.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/tests/loadgen"
)

func main() {
	bin := flag.String("bin", "bin", "folder with edge-agent, orders-native, orders.wasm and, if built, orders-rs.wasm")
	out := flag.String("out", "", "write the Markdown report here (default: stdout)")
	dur := flag.Duration("duration", 5*time.Second, "length of one measured load run")
	rounds := flag.Int("rounds", 2, "interleaved rounds per workload")
	flag.Parse()
	b := &bench{bin: *bin, dur: *dur, rounds: *rounds}
	report, err := b.run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(report)
		return
	}
	if err := writeReport(*out, report); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "bench: wrote", *out)
}

// writeReport replaces the generated part of path (between the "make
// bench" markers): the hand-written sections around it survive a new run.
func writeReport(path, report string) error { return harness.WriteSection(path, "bench", report) }

type bench struct {
	bin    string
	dur    time.Duration
	rounds int
	md     strings.Builder
	sum    summary // the table, filled as the run goes
}

func (b *bench) printf(format string, args ...any) {
	fmt.Fprintf(&b.md, format, args...)
	fmt.Fprintf(os.Stderr, format, args...)
}

// server is a running order service.
type server struct {
	name string
	cmd  *exec.Cmd
	url  string
}

var readyRe = regexp.MustCompile(`on (http://[0-9.:]+)`)

func (b *bench) start(name string, args ...string) (*server, time.Duration, error) {
	cmd := exec.Command(filepath.Join(b.bin, args[0]), args[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	cmd.Stderr = io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := readyRe.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			s := &server{name: name, cmd: cmd, url: m[1]}
			// Process start → first 200.
			for {
				if resp, err := http.Get(s.url + "/"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return s, time.Since(t0), nil
					}
				}
				if time.Since(t0) > time.Minute {
					s.stop()
					return nil, 0, fmt.Errorf("%s: no 200 within a minute", name)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, 0, fmt.Errorf("%s exited before it was ready", name)
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// rss returns the resident set size of the server process in MiB.
func (s *server) rss() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (s *server) seed() error {
	orders, err := os.ReadFile("deploy/demo/orders.json")
	if err != nil {
		return err
	}
	for _, r := range []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/init", nil},
		{"POST", "/create_orders", orders},
	} {
		req, _ := http.NewRequest(r.method, s.url+r.path, bytes.NewReader(r.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %s: %d", r.method, r.path, resp.StatusCode)
		}
	}
	return nil
}

func (b *bench) run(ctx context.Context) (string, error) {
	tmp, err := os.MkdirTemp("", "edge-bench")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	mods := []module{{"Go", filepath.Join(b.bin, "orders.wasm")}}
	if rs := filepath.Join(b.bin, "orders-rs.wasm"); fileExists(rs) {
		mods = append(mods, module{"Rust", rs})
	}

	b.printf("# Benchmarks\n\nProduced by `go run ./tests/bench %s` (`make bench` runs it with the defaults) on %s, %d CPUs, %s, %s.\n",
		strings.Join(os.Args[1:], " "), time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), cpuModel())
	b.printf("Load average at the start: %s (2 cores: above 2 the machine was busy with other work).\n", loadAvg())
	b.printf("Load comes from `tests/loadgen` (closed loop, keep-alive, exact percentiles) on the same machine, so compare ratios within this run, not absolute numbers across machines.\n\n")

	if err := b.moduleSize(mods); err != nil {
		return "", err
	}
	if err := b.startTimes(tmp, mods); err != nil {
		return "", err
	}
	bd, err := b.startBoard(tmp)
	if err != nil {
		return "", fmt.Errorf("board: %w", err)
	}
	defer func() { bd.stop() }()
	if err := b.boardDeploy(bd, mods); err != nil {
		return "", err
	}
	if err := b.throughput(ctx, tmp, mods, bd); err != nil {
		return "", err
	}
	if err := b.boardMemory(ctx, bd, mods); err != nil {
		return "", err
	}
	if err := b.boardRestart(bd); err != nil {
		return "", err
	}
	bd.stop()
	if err := b.memory(ctx, tmp, mods); err != nil {
		return "", err
	}
	if err := b.pushbench(); err != nil {
		return "", err
	}
	size, err := armSize(tmp)
	if err != nil {
		return "", err
	}
	b.sum.armSize = size
	b.summary()
	return b.md.String(), nil
}

// module is one build of the order service as a Wasm module.
type module struct {
	lang string // "Go", "Rust"
	path string
}

func (m module) file() string { return filepath.Base(m.path) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (b *bench) moduleSize(mods []module) error {
	b.printf("## Module size\n\n| module | raw | gzip -9 |\n|---|---|---|\n")
	for _, m := range mods {
		raw, err := os.ReadFile(m.path)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(raw)
		w.Close()
		b.printf("| %s (%s) | %d bytes (%.2f MiB) | %d bytes (%.2f MiB) |\n", m.file(), m.lang, len(raw), mib(len(raw)), gz.Len(), mib(gz.Len()))
	}
	b.printf("\n")
	return nil
}

// agentArgs runs `edge-agent serve` with its defaults (a worker process in
// fast mode under the watchdog) and the given pool.
func agentArgs(wasm, data, db string, pool int) []string {
	return []string{"edge-agent", "serve", wasm, "--http", "127.0.0.1:0", "--data", data,
		"--db", db, "--pool", strconv.Itoa(pool), "--log-level", "warn"}
}

func (b *bench) startTimes(tmp string, mods []module) error {
	b.printf("## Start time (process start → first 200 on `GET /`)\n\n| module | start | run 1 | run 2 | run 3 | median |\n|---|---|---|---|---|---|\n")
	cold := make([][]time.Duration, len(mods))
	warm := make([][]time.Duration, len(mods))
	for i := range 3 { // rounds interleave the modules
		for mi, m := range mods {
			data := filepath.Join(tmp, fmt.Sprintf("start-%d-%d", mi, i))
			db := "sqlite:" + filepath.Join(data, "orders.db")
			s, d, err := b.start("cold", agentArgs(m.path, data, db, 1)...)
			if err != nil {
				return err
			}
			s.stop()
			cold[mi] = append(cold[mi], d)
			s, d, err = b.start("warm", agentArgs(m.path, data, db, 1)...)
			if err != nil {
				return err
			}
			s.stop()
			warm[mi] = append(warm[mi], d)
		}
	}
	for mi, m := range mods {
		for _, row := range []struct {
			name string
			ds   []time.Duration
		}{{"cold (empty cache: compile)", cold[mi]}, {"warm (compiled code from the cache)", warm[mi]}} {
			b.printf("| %s | %s | %s | %s | %s | **%s** |\n", m.lang, row.name, ms(row.ds[0]), ms(row.ds[1]), ms(row.ds[2]), ms(median(row.ds)))
		}
	}
	b.printf("\n")
	return nil
}

type workload struct {
	name   string
	method string
	path   string
	body   []byte
	conc   int
}

func (b *bench) throughput(ctx context.Context, tmp string, mods []module, bd *board) error {
	order := []byte(`{"order_id":6,"product_id":7,"quantity":4,"amount":99.5,"shipping":5.25,"tax":7.75,"shipping_address":"1 Infinite Loop"}`)
	workloads := []workload{
		{"GET /orders (5 rows)", "GET", "/orders", nil, 1},
		{"GET /orders (5 rows)", "GET", "/orders", nil, 32},
		{"POST /create_order", "POST", "/create_order", order, 1},
		{"POST /create_order", "POST", "/create_order", order, 32},
	}
	// A variant opens a server for one round: a process of its own
	// (native, serve), or the module the board runs (run).
	type variant struct {
		name string
		open func(round, vi int) (url string, stop func(), err error)
	}
	data := filepath.Join(tmp, "throughput")
	process := func(name string, args func(db string) []string) func(int, int) (string, func(), error) {
		return func(round, vi int) (string, func(), error) {
			db := "sqlite:" + filepath.Join(tmp, fmt.Sprintf("tp-%d-%d.db", round, vi))
			s, _, err := b.start(name, args(db)...)
			if err != nil {
				return "", nil, err
			}
			return s.url, s.stop, nil
		}
	}
	variants := []variant{
		{"native", process("native", func(db string) []string { return []string{"orders-native", "--http", "127.0.0.1:0", "--db", db} })},
	}
	for _, m := range mods {
		name := boardName(m)
		variants = append(variants,
			variant{m.lang + " wasm, run (board)", func(int, int) (string, func(), error) { return bd.url(name), func() {}, nil }},
			variant{m.lang + " wasm, serve", process(m.lang+" serve", func(db string) []string { return agentArgs(m.path, data, db, 2) })})
	}
	results := map[string][]loadgen.Result{} // variant/workload → rounds
	var failures []string
	for round := range b.rounds {
		for vi, v := range variants {
			url, stop, err := v.open(round, vi)
			if err != nil {
				return err
			}
			s := &server{name: v.name, url: url}
			for wi, w := range workloads {
				if w.method == "GET" || wi == 2 {
					if err := s.seed(); err != nil {
						stop()
						return fmt.Errorf("%s: seed: %w", v.name, err)
					}
				}
				r := loadgen.Run(ctx, loadgen.Config{Method: w.method, URL: url + w.path, Body: w.body,
					Concurrency: w.conc, Duration: b.dur, Warmup: time.Second})
				// Failures are reported, not fatal: on a busy machine a worker
				// that misses its heartbeats is killed and restarted (its
				// open connections end), which is what a board would do too.
				if r.Failures > 0 {
					fmt.Fprintf(os.Stderr, "%s %s c=%d: %d failures, first: %v\n", v.name, w.path, w.conc, r.Failures, r.FirstErr)
					failures = append(failures, fmt.Sprintf("%s %s c=%d round %d: %d of %d (first: %v)", v.name, w.path, w.conc, round+1, r.Failures, r.Requests+r.Failures, r.FirstErr))
				}

				key := fmt.Sprintf("%d/%d", vi, wi)
				results[key] = append(results[key], r)
				fmt.Fprintf(os.Stderr, "round %d %-22s %-22s c=%-2d %s\n", round+1, v.name, w.name, w.conc, r)
			}
			stop()
		}
	}
	b.printf("## Requests: Wasm vs the native build (same source, same SQLite settings)\n\n")
	b.printf("%d interleaved rounds of %s per cell (after 1 s warm-up); the best round is shown, the ratio is the build's req/s over native's, best rounds. "+
		"**run (board)**: the module pushed with edgectl to `edge-agent run --board %s` (worker process in fast mode under the watchdog, pool 2, 64 MiB of guest memory per instance, 256 MiB worker cap). "+
		"**serve**: `edge-agent serve` with its defaults (a worker process under the same watchdog), pool 2. SQLite with WAL and synchronous=FULL everywhere. The native build is the Go source of the Go module.\n\n", b.rounds, b.dur, benchBoard)
	b.printf("| workload | clients | build | req/s | p50 / p99 | req/s vs native | p99 vs native |\n|---|---|---|---|---|---|---|\n")
	for wi, w := range workloads {
		best := func(vi int) loadgen.Result {
			rs := results[fmt.Sprintf("%d/%d", vi, wi)]
			return slices.MaxFunc(rs, func(a, b loadgen.Result) int { return int(a.PerSecond - b.PerSecond) })
		}
		native := best(0)
		for vi, v := range variants {
			r := best(vi)
			ratio, p99 := r.PerSecond/native.PerSecond, float64(r.P99)/float64(native.P99)
			b.printf("| %s | %d | %s | %.0f | %s / %s | **%.2f** | %.2f× |\n", w.name, w.conc, v.name, r.PerSecond, us(r.P50), us(r.P99), ratio, p99)
			if w.conc == 32 && strings.HasPrefix(v.name, "Go wasm") {
				switch {
				case wi == 1 && strings.Contains(v.name, "run"):
					b.sum.getRun, b.sum.p99 = ratio, p99
				case wi == 1:
					b.sum.getServe = ratio
				case wi == 3 && strings.Contains(v.name, "run"):
					b.sum.post = ratio
				}
			}
		}
	}
	b.printf("\n")
	if len(failures) > 0 {
		b.printf("Failed requests (connections ended by a worker the watchdog killed and restarted): %s.\n\n", strings.Join(failures, "; "))
	}
	return nil
}

// boardName is the name a module is pushed under on the board.
func boardName(m module) string { return "orders-" + strings.ToLower(m.lang) }

func (b *bench) memory(ctx context.Context, tmp string, mods []module) error {
	b.printf("## Memory per instance (`edge-agent serve`, its worker process)\n\n| module | pool | worker RSS / PSS idle after start | after 5 s of GET /orders at 32 clients |\n|---|---|---|---|\n")
	perInstance := make([]float64, len(mods))
	for mi, m := range mods {
		var after []float64
		for _, pool := range []int{1, 4} {
			data := filepath.Join(tmp, fmt.Sprintf("mem-%d-%d", mi, pool))
			s, _, err := b.start("mem", agentArgs(m.path, data, "sqlite:"+filepath.Join(data, "o.db"), pool)...)
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Second) // let the pool grow to its size
			worker := func() mem {
				if ws := children(s.cmd.Process.Pid); len(ws) > 0 {
					return memOf(ws[0])
				}
				return mem{}
			}
			idle := worker()
			if err := s.seed(); err != nil {
				s.stop()
				return err
			}
			loadgen.Run(ctx, loadgen.Config{Method: "GET", URL: s.url + "/orders", Concurrency: 32, Duration: 5 * time.Second})
			loaded := worker()
			after = append(after, loaded.rss)
			s.stop()
			b.printf("| %s | %d | %s | %s |\n", m.lang, pool, idle, loaded)
		}
		perInstance[mi] = (after[1] - after[0]) / 3
	}
	b.printf("\nPer-instance memory after load ≈ (pool 4 − pool 1) / 3 of the worker's RSS:")
	for mi, m := range mods {
		b.printf(" %s **%.1f MiB**", m.lang, perInstance[mi])
		if mi < len(mods)-1 {
			b.printf(",")
		}
	}
	b.printf(".\n\n")
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}
func mib(n int) float64 { return float64(n) / (1 << 20) }

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
