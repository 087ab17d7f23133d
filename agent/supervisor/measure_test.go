package supervisor

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestMeasureSplit measures what the supervisor/worker split costs:
// memory of the supervisor alone and of one worker serving orders.wasm
// (pool 1 and 4), and GET /orders latency at one client through a worker
// vs `edge-agent serve` (guest in the serving process). Linux only (reads
// /proc). Run with:
//
//	EDGE_MEASURE_SPLIT=1 go test -count=1 -run MeasureSplit -v ./agent/supervisor
//
// EDGE_MEASURE_SECONDS sets the length of each latency run (default 3).
func TestMeasureSplit(t *testing.T) {
	if os.Getenv("EDGE_MEASURE_SPLIT") == "" {
		t.Skip("set EDGE_MEASURE_SPLIT=1 to measure")
	}
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("needs Linux /proc")
	}
	secs := 3
	if v, err := strconv.Atoi(os.Getenv("EDGE_MEASURE_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	run := time.Duration(secs) * time.Second
	cache := t.TempDir()

	// Supervisor alone: `edge-agent run` with no module and no broker.
	pub, _, _ := ed25519.GenerateKey(nil)
	pem, _ := wire.MarshalPublicKey(pub)
	trust := filepath.Join(t.TempDir(), "trust.pem")
	os.WriteFile(trust, pem, 0o600)
	agent := exec.Command(agentBin, "run", "--id", "dev-measure", "--broker", "tcp://127.0.0.1:1",
		"--trust", trust, "--data", t.TempDir(), "--log-level", "error")
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	t.Logf("supervisor alone (edge-agent run, no module, offline): %s", memOf(t, agent.Process.Pid))
	agent.Process.Kill()
	agent.Wait()

	// Warm the compilation cache: memory is measured after a start from
	// the warm cache, as after any restart.
	{
		s := newSupervisor(t, cache)
		if err := deploy(t, s, manifest("1.0.0", freePort(t), "/"), copyWasm(t, "warm.wasm")); err != nil {
			t.Fatal(err)
		}
		s.Close(context.Background())
	}

	type lat struct{ name, res string }
	var lats []lat
	for _, pool := range []int{1, 4} {
		s := newSupervisor(t, cache)
		port := freePort(t)
		m := manifest("1.0.0", port, "/")
		m.Limits.Pool = pool
		if err := deploy(t, s, m, copyWasm(t, fmt.Sprintf("p%d.wasm", pool))); err != nil {
			t.Fatal(err)
		}
		pid := workerPid(s)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		seed(t, base)
		t.Logf("worker pool %d, idle after start: %s", pool, memOf(t, pid))
		res := latency(t, base+"/orders", run)
		t.Logf("worker pool %d, after %s of GET /orders: %s", pool, run, memOf(t, pid))
		lats = append(lats, lat{fmt.Sprintf("worker (supervisor split), pool %d, deadline-mode fast", pool), res})
		s.Close(context.Background())
	}

	// In process: edge-agent serve, same pool and deadline mode as the
	// worker (fast: the watchdog stops runaways), and its default.
	warmed := map[string]int{}
	serveData := map[string]string{"fast": t.TempDir(), "interrupt": t.TempDir()}
	for _, mode := range []string{"fast", "fast", "interrupt", "interrupt"} { // the first of each warms its cache
		port := freePort(t)
		srv := exec.Command(agentBin, "serve", ordersWasm, "--http", fmt.Sprintf("127.0.0.1:%d", port),
			"--db", "sqlite:"+filepath.Join(t.TempDir(), "orders.db"), "--data", serveData[mode],
			"--pool", "4", "--deadline-mode", mode, "--log-level", "error")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if code, err := get(http.DefaultClient, base+"/"); err == nil && code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("serve not up")
			}
			time.Sleep(50 * time.Millisecond)
		}
		seed(t, base)
		if warmed[mode] == 0 {
			warmed[mode]++
			srv.Process.Kill()
			srv.Wait()
			continue
		}
		t.Logf("edge-agent serve (in process), pool 4, %s, idle: %s", mode, memOf(t, srv.Process.Pid))
		res := latency(t, base+"/orders", run)
		lats = append(lats, lat{"edge-agent serve (in process), pool 4, deadline-mode " + mode, res})
		t.Logf("edge-agent serve (in process), pool 4, %s, after load: %s", mode, memOf(t, srv.Process.Pid))
		srv.Process.Kill()
		srv.Wait()
	}
	for _, l := range lats {
		t.Logf("GET /orders, 1 client, %s: %s", l.name, l.res)
	}
}

func workerPid(s *Supervisor) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mods["orders"].cur
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.cmd.Process.Pid
}

// seed creates the table and the five orders of the demo.
func seed(t *testing.T, base string) {
	t.Helper()
	if code, err := get(http.DefaultClient, base+"/init"); err != nil || code != 200 {
		t.Fatalf("init: %d %v", code, err)
	}
	var b strings.Builder
	b.WriteString("[")
	for i := range 5 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"order_id":%d,"product_id":%d,"quantity":%d,"amount":%d.5,"shipping":4.2,"tax":1.1,"shipping_address":"%d rue de la Paix, Lyon"}`,
			i+1, 100+i, i+1, 10*(i+1), i+1)
	}
	b.WriteString("]")
	resp, err := http.Post(base+"/create_orders", "application/json", strings.NewReader(b.String()))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create_orders: %v %v", resp, err)
	}
	resp.Body.Close()
}

// latency GETs url with one keep-alive client for d (after a 300 ms warm
// up) and summarises the latencies.
func latency(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		get(c, url)
	}
	var ds []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		t0 := time.Now()
		code, err := get(c, url)
		if err != nil || code != 200 {
			t.Fatalf("GET: %d %v", code, err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(time.Microsecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, %d requests (%.0f/s)", q(0.5), q(0.9), q(0.99), len(ds), float64(len(ds))/d.Seconds())
}

// memOf reads RSS and PSS of pid.
func memOf(t *testing.T, pid int) string {
	t.Helper()
	field := func(file, name string) string {
		f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			return "?"
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				return fmt.Sprintf("%.1f MB", float64(kb)/1024)
			}
		}
		return "?"
	}
	return fmt.Sprintf("RSS %s, PSS %s", field("status", "VmRSS"), field("smaps_rollup", "Pss"))
}
