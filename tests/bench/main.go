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
	bin := flag.String("bin", "bin", "folder with edge-agent, orders-native and orders.wasm")
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
	wasm := filepath.Join(b.bin, "orders.wasm")

	b.printf("# Benchmarks\n\nProduced by `make bench` (`go run ./tests/bench -bin bin -out docs/BENCHMARKS.md`) on %s, %d CPUs, %s, %s.\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), cpuModel())
	b.printf("Load comes from `tests/loadgen` (closed loop, keep-alive, exact percentiles) on the same machine, so compare ratios within this run, not absolute numbers across machines.\n\n")

	if err := b.moduleSize(wasm); err != nil {
		return "", err
	}
	if err := b.startTimes(tmp, wasm); err != nil {
		return "", err
	}
	if err := b.throughput(ctx, tmp, wasm); err != nil {
		return "", err
	}
	if err := b.memory(ctx, tmp, wasm); err != nil {
		return "", err
	}
	return b.md.String(), nil
}

func (b *bench) moduleSize(wasm string) error {
	raw, err := os.ReadFile(wasm)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(raw)
	w.Close()
	b.printf("## Module size\n\n| module | raw | gzip -9 |\n|---|---|---|\n| orders.wasm | %d bytes (%.2f MiB) | %d bytes (%.2f MiB) |\n\n",
		len(raw), mib(len(raw)), gz.Len(), mib(gz.Len()))
	return nil
}

func agentArgs(wasm, data, db, mode string, pool int) []string {
	return []string{"edge-agent", "serve", wasm, "--http", "127.0.0.1:0", "--data", data,
		"--db", db, "--deadline-mode", mode, "--pool", strconv.Itoa(pool), "--log-level", "warn"}
}

func (b *bench) startTimes(tmp, wasm string) error {
	b.printf("## Start time (process start → first 200 on `GET /`)\n\n| start | run 1 | run 2 | run 3 | median |\n|---|---|---|---|---|\n")
	var cold, warm []time.Duration
	for i := range 3 {
		data := filepath.Join(tmp, fmt.Sprintf("start-%d", i))
		db := "sqlite:" + filepath.Join(data, "orders.db")
		s, d, err := b.start("cold", agentArgs(wasm, data, db, "interrupt", 1)...)
		if err != nil {
			return err
		}
		s.stop()
		cold = append(cold, d)
		s, d, err = b.start("warm", agentArgs(wasm, data, db, "interrupt", 1)...)
		if err != nil {
			return err
		}
		s.stop()
		warm = append(warm, d)
	}
	for _, row := range []struct {
		name string
		ds   []time.Duration
	}{{"cold (empty cache: compile)", cold}, {"warm (compiled code from the cache)", warm}} {
		b.printf("| %s | %s | %s | %s | **%s** |\n", row.name, ms(row.ds[0]), ms(row.ds[1]), ms(row.ds[2]), ms(median(row.ds)))
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

func (b *bench) throughput(ctx context.Context, tmp, wasm string) error {
	order := []byte(`{"order_id":6,"product_id":7,"quantity":4,"amount":99.5,"shipping":5.25,"tax":7.75,"shipping_address":"1 Infinite Loop"}`)
	workloads := []workload{
		{"GET /orders (5 rows)", "GET", "/orders", nil, 1},
		{"GET /orders (5 rows)", "GET", "/orders", nil, 32},
		{"POST /create_order", "POST", "/create_order", order, 1},
		{"POST /create_order", "POST", "/create_order", order, 32},
	}
	type variant struct {
		name string
		args func(db string) []string
	}
	data := filepath.Join(tmp, "throughput")
	variants := []variant{
		{"native", func(db string) []string { return []string{"orders-native", "--http", "127.0.0.1:0", "--db", db} }},
		{"wasm interrupt", func(db string) []string { return agentArgs(wasm, data, db, "interrupt", 2) }},
		{"wasm fast", func(db string) []string { return agentArgs(wasm, data, db, "fast", 2) }},
	}
	results := map[string][]loadgen.Result{} // variant/workload → rounds
	for round := range b.rounds {
		for vi, v := range variants {
			db := "sqlite:" + filepath.Join(tmp, fmt.Sprintf("tp-%d-%d.db", round, vi))
			s, _, err := b.start(v.name, v.args(db)...)
			if err != nil {
				return err
			}
			for wi, w := range workloads {
				if w.method == "GET" || wi == 2 {
					if err := s.seed(); err != nil {
						s.stop()
						return fmt.Errorf("%s: seed: %w", v.name, err)
					}
				}
				r := loadgen.Run(ctx, loadgen.Config{Method: w.method, URL: s.url + w.path, Body: w.body,
					Concurrency: w.conc, Duration: b.dur, Warmup: time.Second})
				if r.Failures > 0 {
					s.stop()
					return fmt.Errorf("%s %s c=%d: %d failures, first: %v", v.name, w.path, w.conc, r.Failures, r.FirstErr)
				}
				key := fmt.Sprintf("%d/%d", vi, wi)
				results[key] = append(results[key], r)
				fmt.Fprintf(os.Stderr, "round %d %-15s %-22s c=%-2d %s\n", round+1, v.name, w.name, w.conc, r)
			}
			s.stop()
		}
	}
	b.printf("## Requests: Wasm under edge-agent vs the native build (same source, same SQLite settings)\n\n")
	b.printf("%d interleaved rounds of %s per cell (after 1 s warm-up); the best round is shown, the ratio is Wasm/native req/s of the best rounds. Pool of 2 instances; SQLite with WAL and synchronous=FULL.\n\n", b.rounds, b.dur)
	b.printf("| workload | clients | native req/s | p50 / p99 | wasm interrupt req/s | p50 / p99 | ratio | wasm fast req/s | p50 / p99 | ratio |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for wi, w := range workloads {
		best := func(vi int) loadgen.Result {
			rs := results[fmt.Sprintf("%d/%d", vi, wi)]
			return slices.MaxFunc(rs, func(a, b loadgen.Result) int { return int(a.PerSecond - b.PerSecond) })
		}
		n, wi2, wf := best(0), best(1), best(2)
		b.printf("| %s | %d | %.0f | %s / %s | %.0f | %s / %s | **%.2f** | %.0f | %s / %s | **%.2f** |\n",
			w.name, w.conc, n.PerSecond, us(n.P50), us(n.P99),
			wi2.PerSecond, us(wi2.P50), us(wi2.P99), wi2.PerSecond/n.PerSecond,
			wf.PerSecond, us(wf.P50), us(wf.P99), wf.PerSecond/n.PerSecond)
	}
	b.printf("\n")
	return nil
}

func (b *bench) memory(ctx context.Context, tmp, wasm string) error {
	b.printf("## Memory (RSS of the edge-agent process)\n\n| pool | idle after start | after 5 s of GET /orders at 32 clients |\n|---|---|---|\n")
	var after []float64
	for _, pool := range []int{1, 4} {
		data := filepath.Join(tmp, fmt.Sprintf("mem-%d", pool))
		s, _, err := b.start("mem", agentArgs(wasm, data, "sqlite:"+filepath.Join(data, "o.db"), "interrupt", pool)...)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // let the pool grow to its size
		idle := s.rss()
		if err := s.seed(); err != nil {
			s.stop()
			return err
		}
		loadgen.Run(ctx, loadgen.Config{Method: "GET", URL: s.url + "/orders", Concurrency: 32, Duration: 5 * time.Second})
		loaded := s.rss()
		after = append(after, loaded)
		s.stop()
		b.printf("| %d | %.1f MiB | %.1f MiB |\n", pool, idle, loaded)
	}
	b.printf("\nPer-instance memory after load ≈ (pool 4 − pool 1) / 3 = **%.1f MiB**.\n\n", (after[1]-after[0])/3)
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
