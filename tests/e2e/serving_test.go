package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/tests/harness"
)

// The serving path of the agent under misbehaving clients, modules and
// dependencies, driven against both ways the agent serves a module:
// `edge-agent serve`, and a worker process of `edge-agent run` (the
// agent binary's worker subcommand, started the way the supervisor starts
// it: the config on stdin, the listener on fd 3, heartbeats on fd 4).

// target is one agent serving a module.
type target struct {
	name string
	proc *proc
	base string // http://host:port
}

// servingTargets starts the module wasm under serve and under a worker,
// each with the same limits; serveArgs are serve's flags for them. With
// warm, each is started once before, so that the one returned loads its
// code from the compilation cache, as a board does after its first start
// (a cold compile leaves the process some 30 MiB larger for a while).
func servingTargets(t *testing.T, wasm, dsn string, serveArgs []string, cfg worker.Config, warm bool) []target {
	t.Helper()
	data := sharedState(t)
	args := append([]string{"serve", wasm, "--http", "127.0.0.1:0", "--data", data}, serveArgs...)
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	cfg.Module, cfg.DB = wasm, dsn
	if strings.HasPrefix(dsn, "sqlite:") {
		cfg.DB = dsn + "-worker"
	}
	cfg.CacheDir = filepath.Join(sharedState(t), "worker-cache")
	if warm {
		p, _ := start(t, agentReady, nil, bin(t, "edge-agent"), args...)
		p.Stop(t)
		p, _ = startWorker(t, cfg)
		p.Stop(t)
	}
	sp, sbase := start(t, agentReady, nil, bin(t, "edge-agent"), args...)
	wp, wbase := startWorker(t, cfg)
	return []target{{"serve", sp, sbase}, {"worker", wp, wbase}}
}

var workerReady = regexp.MustCompile(`msg="worker ready"`)

// startWorker runs `edge-agent worker` as the supervisor does and returns
// it with its URL. Heartbeats are read and dropped.
func startWorker(t *testing.T, cfg worker.Config) (*proc, string) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = strings.TrimSuffix(filepath.Base(cfg.Module), ".wasm") + "@test"
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(sharedState(t), "worker-cache")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	hbr, hbw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hbw.Close()
	go func() { io.Copy(io.Discard, hbr); hbr.Close() }()
	conf, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin(t, "edge-agent"), "worker", "--log-level", "info")
	cmd.Stdin = strings.NewReader(string(conf))
	cmd.ExtraFiles = []*os.File{lf, hbw}
	p, _ := harness.StartCmd(t, workerReady, time.Minute, cmd)
	return p, "http://" + ln.Addr().String()
}

// rssMiB returns a process's resident memory and its peak, in MiB.
func rssMiB(t *testing.T, pid int) (now, peak float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak
}

// TestStalledUploads is the slow-body attack: 200 connections each announce
// a 1 MiB body (Content-Length: 1048576), send 1,048,000 bytes of it and
// stop. The agent must stay within a memory bound, answer or close every
// stalled connection within the body idle timeout (3 s here) plus the
// time to get a 408 out, and keep serving a normal client meanwhile. Before
// the fix, serve grew by ~220 MiB and every connection stayed open.
func TestStalledUploads(t *testing.T) {
	const (
		conns     = 200
		announced = 1048576
		sent      = 1048000
		idle      = 3 * time.Second
		// The stated bounds: the attack adds at most 48 MiB to the
		// process (16 MiB of bodies in the module's budget, 8 MiB of
		// small ones, connections and slack), which keeps it under the
		// 128 MiB a worker may use on the smallest board (Pi Zero 2 W);
		// every stalled connection gets its answer or is closed within
		// the idle timeout plus the same again for one that waited for
		// room (503).
		maxGrowthMiB = 48
		maxRSSMiB    = 128
		closeWithin  = 2*idle + 5*time.Second
	)
	targets := servingTargets(t, bin(t, "orders.wasm"), "sqlite:"+filepath.Join(t.TempDir(), "o.db"),
		[]string{"--body-idle-timeout", idle.String()},
		worker.Config{BodyIdleTimeoutMS: idle.Milliseconds()}, true)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			if status, body := call(t, "GET", tg.base+"/init", ""); status != 200 {
				t.Fatalf("init: %d %s", status, body)
			}
			pid := tg.proc.Cmd.Process.Pid
			before, _ := rssMiB(t, pid)
			var peak float64
			sampling := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					now, _ := rssMiB(t, pid)
					peak = max(peak, now)
					select {
					case <-sampling:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			addr := strings.TrimPrefix(tg.base, "http://")
			start := time.Now()
			results := make(chan string, conns)
			var wg sync.WaitGroup
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- stall(addr, announced, sent, closeWithin)
				}()
				if i%50 == 49 {
					time.Sleep(50 * time.Millisecond)
				}
			}
			// A normal client is served meanwhile.
			stop := make(chan struct{})
			normal := make(chan error, 1)
			go func() { normal <- normalClient(tg.base, stop) }()

			wg.Wait()
			took := time.Since(start)
			close(stop)
			close(results)
			counts := map[string]int{}
			for r := range results {
				counts[r]++
			}
			close(sampling)
			<-sampled
			t.Logf("%s: RSS %.0f MiB before, %.0f MiB at most during the attack; all %d connections ended within %s: %v",
				tg.name, before, peak, conns, took.Round(100*time.Millisecond), counts)
			if counts["open"] > 0 {
				t.Errorf("%d connections still open after %s", counts["open"], closeWithin)
			}
			if peak-before > maxGrowthMiB || peak > maxRSSMiB {
				t.Errorf("RSS went from %.0f to %.0f MiB, over the bound (+%d MiB, %d MiB)", before, peak, maxGrowthMiB, maxRSSMiB)
			}
			if err := <-normal; err != nil {
				t.Errorf("normal client during the attack: %v", err)
			}
		})
	}
}

// stall sends headers announcing a body of announced bytes and sent bytes
// of it, then waits up to wait for the server to answer or close. It
// returns "408", "503", ... , "closed" or "open".
func stall(addr string, announced, sent int, wait time.Duration) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	deadline := time.Now().Add(wait)
	c.SetDeadline(deadline)
	go func() {
		fmt.Fprintf(c, "POST /create_orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", announced)
		c.Write(make([]byte, sent)) // blocks while the server reads nothing
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	switch {
	case err == nil:
		resp.Body.Close()
		return strconv.Itoa(resp.StatusCode)
	case time.Now().After(deadline):
		return "open"
	}
	return "closed"
}

// normalClient lists and creates orders every 100 ms until stop; each
// request must succeed within 2 s.
func normalClient(base string, stop <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for i := 1; ; i++ {
		select {
		case <-stop:
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		body := fmt.Sprintf(`{"order_id":%d,"product_id":1,"quantity":1,"amount":1.5,"shipping":0.5,"tax":0.25,"shipping_address":"x"}`, i)
		for _, r := range []struct{ method, path, body string }{{"POST", "/create_order", body}, {"GET", "/orders", ""}} {
			req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("%s %s: %w", r.method, r.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s %s: %d", r.method, r.path, resp.StatusCode)
			}
		}
	}
}
