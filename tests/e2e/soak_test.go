//go:build soak

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Soak bounds (docs/HARDENING.md states them with the figures measured).
const (
	soakRSSBound      = 64 << 20 // the agent (supervisor) process, at any sample
	soakFDGrowth      = 8        // open fds at the end over the warmed-up baseline
	soakGoroutineGrow = 20       // goroutines at the end over the baseline
)

// TestSoak runs the order service under sustained writes while deploys
// and operator rollbacks follow each other without pause and the
// controller, with its embedded broker, is restarted every 20 s, for
// EDGE_SOAK (default 3m). It samples the agent's RSS, open fds and
// goroutines from its admin socket every 5 s. Afterwards every
// acknowledged order is present, the RSS stayed under soakRSSBound, and
// fds and goroutines, once the load stopped and the last deploy settled,
// are back near the warmed-up baseline. Run with make soak.
func TestSoak(t *testing.T) {
	dur := 3 * time.Minute
	if s := os.Getenv("EDGE_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("EDGE_SOAK=%q: %v", s, err)
		}
		dur = d
	}
	httpPort, mqttPort := freePort(t), freePort(t)
	f := startFleet(t, "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--mqtt", fmt.Sprintf("127.0.0.1:%d", mqttPort), "--deploy-timeout", "2m")
	args := append(f.device(t, "soak"), "--grace", "1s")
	dataDir := argValue(args, "--data")
	ag, _ := start(t, agentRunning, nil, bin(t, "edge-agent"), args...)

	wasm, err := os.ReadFile(bin(t, "orders.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	files := t.TempDir()
	file := func(n int) string { // new bytes (a cold compile) every sixth version
		tag := fmt.Sprint(n / 6)
		p := filepath.Join(files, "orders-"+tag+".wasm")
		if _, err := os.Stat(p); err != nil {
			if err := os.WriteFile(p, withCustomSection(wasm, "edge-soak", []byte(tag)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	if out, _, code := f.push(t, file(1), "1.0.1", "soak", port); code != 0 {
		t.Fatalf("push 1.0.1 = %d\n%s", code, out)
	}
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("GET /init = %d %s", status, body)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	orders := &orderLoad{base: base}
	for w := range 2 {
		wg.Go(func() { orders.run(ctx, int64(w)) })
	}
	ops := &deployOps{f: f, node: "soak", port: port, file: file}
	wg.Go(func() { ops.run(ctx, t) })

	sock := filepath.Join(dataDir, "admin.sock")
	var samples []soakSample
	restarts := 0
	start := time.Now()
	nextRestart := start.Add(20 * time.Second)
	for time.Since(start) < dur {
		time.Sleep(5 * time.Second)
		if s, err := sampleAgent(sock); err == nil {
			s.at = time.Since(start)
			samples = append(samples, s)
		} else {
			t.Logf("sample: %v", err)
		}
		if time.Now().After(nextRestart) {
			f.ctl.Stop(t)
			f.startControl(t)
			restarts++
			nextRestart = time.Now().Add(20 * time.Second)
		}
		select {
		case <-ag.Done:
			t.Fatalf("the agent exited: %v\n%s", ag.Err, tail(ag.Out.String(), 4000))
		default:
		}
	}
	stop()
	wg.Wait()

	// Settle: the last deploy's old worker drained, reports sent.
	time.Sleep(15 * time.Second)
	final, err := sampleAgent(sock)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) < 4 {
		t.Fatalf("%d samples: run longer (EDGE_SOAK)", len(samples))
	}
	warm := samples[len(samples)/5:]
	baseline := warm[0]
	maxRSS := slices.MaxFunc(samples, func(a, b soakSample) int { return int(a.rss - b.rss) })
	if maxRSS.rss > soakRSSBound {
		t.Errorf("agent RSS reached %.1f MiB at %s, bound %d MiB", mib(maxRSS.rss), maxRSS.at.Round(time.Second), soakRSSBound>>20)
	}
	if final.fds > baseline.fds+soakFDGrowth {
		t.Errorf("open fds %d at the end, %d at %s: grew by more than %d", final.fds, baseline.fds, baseline.at.Round(time.Second), soakFDGrowth)
	}
	if final.goroutines > baseline.goroutines+soakGoroutineGrow {
		t.Errorf("goroutines %d at the end, %d at %s: grew by more than %d", final.goroutines, baseline.goroutines, baseline.at.Round(time.Second), soakGoroutineGrow)
	}

	var rows []string
	for _, s := range samples {
		rows = append(rows, fmt.Sprintf("%5s rss %5.1f MiB fds %3d goroutines %4d", s.at.Round(time.Second), mib(s.rss), s.fds, s.goroutines))
	}
	t.Logf("samples:\n%s", strings.Join(rows, "\n"))
	if _, err := waitAnswering(base, time.Now(), 30*time.Second); err != nil {
		t.Fatalf("nothing serves after the soak: %v", err)
	}
	// GET /orders lists every order (tens of thousands by now): on a busy
	// machine it may pass the 10 s deadline; ask again.
	var status int
	var body string
	for try := 0; try < 5; try++ {
		if status, body = call(t, "GET", base+"/orders", ""); status == 200 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	var list []order
	if status != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /orders = %d %.300s", status, body)
	}
	have := map[int64]bool{}
	for _, o := range list {
		have[o.OrderID] = true
	}
	lost := 0
	for _, id := range orders.ackedIDs() {
		if !have[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged orders lost", lost, orders.acked())
	}
	t.Logf("soak %s: %d controller/broker restarts; operations: %s; %d orders acknowledged, %d lost, %d failed or unanswered; "+
		"agent RSS max %.1f MiB (bound %d), baseline %.1f, end %.1f; fds baseline %d end %d; goroutines baseline %d end %d",
		dur, restarts, ops.summary(), orders.acked(), lost, orders.failed.Load(), mib(maxRSS.rss), soakRSSBound>>20,
		mib(baseline.rss), mib(final.rss), baseline.fds, final.fds, baseline.goroutines, final.goroutines)
}

type soakSample struct {
	at              time.Duration
	rss             int64
	fds, goroutines int
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// sampleAgent reads the agent's RSS, open fds and goroutines from its
// admin socket's /metrics.
func sampleAgent(sock string) (soakSample, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://agent/metrics")
	if err != nil {
		return soakSample{}, err
	}
	defer resp.Body.Close()
	var s soakSample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "process_resident_memory_bytes":
			s.rss = int64(v)
		case "process_open_fds":
			s.fds = int(v)
		case "go_goroutines":
			s.goroutines = int(v)
		}
	}
	if s.rss == 0 || s.fds == 0 || s.goroutines == 0 {
		return s, fmt.Errorf("metrics without RSS, fds or goroutines: %+v", s)
	}
	return s, sc.Err()
}
