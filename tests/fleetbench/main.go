// Command fleetbench measures the controller with a simulated fleet
// (`make fleetbench`): many devices on one machine sending heartbeats
// (retained status) and metrics every interval, the controller's CPU and
// memory in that steady state, and the time from `edgectl push` to every
// targeted device acknowledging the deployment, each device fetching the
// module's chunks over MQTT as a real agent does. It runs once against
// the embedded broker and once against Mosquitto (a mosquitto process of
// its own on a free port, never the machine's 1883).
//
// The real edge-control and edgectl binaries are used; the devices are
// tests/devsim's (each its own MQTT connection and credentials) in this
// process, on the same cores as the controller: the controller's figures
// below are its own process's, read from its /metrics/controller.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgeplane/edge/internal/freeport"
	"github.com/edgeplane/edge/tests/devsim"
	"github.com/edgeplane/edge/tests/harness"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.bin, "bin", "bin", "folder with edge-control and edgectl")
	flag.StringVar(&cfg.module, "module", "bin/orders.wasm", "the module pushed to the targeted devices")
	flag.IntVar(&cfg.devices, "devices", 10000, "simulated devices")
	flag.IntVar(&cfg.targets, "targets", 1000, "devices the push targets (by label)")
	flag.DurationVar(&cfg.interval, "interval", 10*time.Second, "each device's metrics interval")
	flag.IntVar(&cfg.measure, "intervals", 3, "intervals measured in the steady state")
	brokers := flag.String("brokers", "embedded,mosquitto", "brokers to run against, in order")
	out := flag.String("out", "", "write the report into this Markdown file's \"make fleetbench\" section")
	flag.Parse()
	cfg.brokers = strings.Split(*brokers, ",")
	report, err := run(cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if *out != "" {
		if err := harness.WriteSection(*out, "fleetbench", report); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			os.Exit(1)
		}
	}
}

type config struct {
	bin, module      string
	devices, targets int
	interval         time.Duration
	measure          int
	brokers          []string
	pushWait         time.Duration // edgectl push --wait (10m)
	connectParallel  int
	registerParallel int
}

// result is one broker's row.
type result struct {
	broker         string
	register       time.Duration
	connect        time.Duration
	offered        float64 // reports per second, published by the simulator
	applied        float64
	ctlCPU, ctlRSS float64 // cores, bytes: steady state
	brokerCPU      float64 // mosquitto's cores (external broker)
	brokerRSS      float64
	push           time.Duration // edgectl push → all targets acknowledged
	pushCPU        float64       // controller cores during the push
	pushRSS        float64
	fetchedMB      float64
	succeeded      int
}

func run(cfg config, log io.Writer) (string, error) {
	if cfg.pushWait == 0 {
		cfg.pushWait = 10 * time.Minute
	}
	cfg.connectParallel = max(cfg.connectParallel, 32)
	cfg.registerParallel = max(cfg.registerParallel, 8)
	if cfg.targets > cfg.devices {
		return "", fmt.Errorf("-targets %d > -devices %d", cfg.targets, cfg.devices)
	}
	st, err := os.Stat(cfg.module)
	if err != nil {
		return "", err
	}
	load := harness.LoadAverage()
	var rows []result
	for _, b := range cfg.brokers {
		r, err := runOne(cfg, strings.TrimSpace(b), log)
		if err != nil {
			return "", fmt.Errorf("%s: %w", b, err)
		}
		rows = append(rows, r)
	}
	return report(cfg, st.Size(), rows, load), nil
}

var readyRe = regexp.MustCompile(`edge-control: http on (http://[0-9.:]+), mqtt on (?:tcp://)?([0-9.:]+)`)

// proc is a started program with its output.
type proc struct {
	cmd *exec.Cmd
	out harness.SyncBuffer
}

func startProc(name string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(name, args...)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	return p, p.cmd.Start()
}

func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func runOne(cfg config, broker string, log io.Writer) (result, error) {
	r := result{broker: broker}
	dir, err := os.MkdirTemp("", "fleetbench")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	ctlArgs := []string{"--data", filepath.Join(dir, "control"), "--http", "127.0.0.1:0"}
	var mosq *proc
	switch broker {
	case "embedded":
		ctlArgs = append(ctlArgs, "--mqtt", "127.0.0.1:0")
	case "mosquitto":
		port, err := freeport.Pick()
		if err != nil {
			return r, err
		}
		conf := filepath.Join(dir, "mosquitto.conf")
		// Anonymous on the loopback: this measures throughput, not the
		// shipped ACL (tests/deploy checks that). Queues large enough
		// for the controller's fan-out.
		text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_type error\n", port)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return r, err
		}
		if mosq, err = startProc("mosquitto", "-c", conf); err != nil {
			return r, fmt.Errorf("mosquitto: %w", err)
		}
		defer mosq.stop()
		ctlArgs = append(ctlArgs, "--broker", fmt.Sprintf("tcp://127.0.0.1:%d", port), "--broker-wait", "20s")
	default:
		return r, fmt.Errorf("unknown broker %q (embedded or mosquitto)", broker)
	}
	ctl, err := startProc(filepath.Join(cfg.bin, "edge-control"), ctlArgs...)
	if err != nil {
		return r, err
	}
	defer ctl.stop()
	var httpBase, mqttAddr string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if m := readyRe.FindStringSubmatch(ctl.out.String()); m != nil {
			httpBase, mqttAddr = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("edge-control not ready:\n%s", ctl.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The controller wrote its admin token at its first start.
	tok, err := os.ReadFile(filepath.Join(dir, "control", harness.AdminTokenFile))
	if err != nil {
		return r, fmt.Errorf("admin token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	ctx := context.Background()
	edgectl := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(cfg.bin, "edgectl"), args...)
		cmd.Env = append(os.Environ(), "EDGE_TOKEN="+token)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("edgectl %s: %w\n%s%s", args[0], err, out.String(), errOut.String())
		}
		return out.String(), nil
	}
	keys := filepath.Join(dir, "keys")
	if _, err := edgectl("keygen", "--out", keys); err != nil {
		return r, err
	}

	ids := make([]string, cfg.devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("fleet-%05d", i+1)
	}
	t0 := time.Now()
	creds, err := devsim.Register(ctx, httpBase, token, ids, cfg.registerParallel)
	if err != nil {
		return r, err
	}
	r.register = time.Since(t0)
	fmt.Fprintf(log, "fleetbench %s: %d devices registered in %s\n", broker, cfg.devices, r.register.Round(time.Millisecond))
	targets := devsim.New(devsim.Config{Broker: mqttAddr, Interval: cfg.interval, FetchBlobs: true, Labels: map[string]string{"group": "push"}})
	rest := devsim.New(devsim.Config{Broker: mqttAddr, Interval: cfg.interval, Labels: map[string]string{"group": "idle"}})
	defer targets.Close()
	defer rest.Close()
	all := append(targets.Add(creds[:cfg.targets]...), rest.Add(creds[cfg.targets:]...)...)
	for _, d := range all {
		d.Serve("orders", "1.0.0", 8080)
	}
	t0 = time.Now()
	if err := targets.Connect(ctx, all[:cfg.targets], cfg.connectParallel); err != nil {
		return r, err
	}
	if err := rest.Connect(ctx, all[cfg.targets:], cfg.connectParallel); err != nil {
		return r, err
	}
	for {
		s, err := scrape(httpBase, token)
		if err != nil {
			return r, err
		}
		if s["edge_devices_online"] >= float64(cfg.devices) {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			return r, fmt.Errorf("only %v of %d devices online after 5 minutes", s["edge_devices_online"], cfg.devices)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.connect = time.Since(t0)
	fmt.Fprintf(log, "fleetbench %s: %d devices online in %s\n", broker, cfg.devices, r.connect.Round(time.Millisecond))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go targets.Run(runCtx)
	go rest.Run(runCtx)
	time.Sleep(cfg.interval + cfg.interval/2) // every device in the rotation

	// Steady state.
	pubA := targets.Stats().Published + rest.Stats().Published
	a, err := scrape(httpBase, token)
	if err != nil {
		return r, err
	}
	mA := procCPU(mosq)
	time.Sleep(time.Duration(cfg.measure) * cfg.interval)
	pubZ := targets.Stats().Published + rest.Stats().Published
	z, err := scrape(httpBase, token)
	if err != nil {
		return r, err
	}
	dt := time.Duration(cfg.measure) * cfg.interval
	r.offered = float64(pubZ-pubA) / dt.Seconds()
	r.applied = (z["applied"] - a["applied"]) / dt.Seconds()
	r.ctlCPU = (z["process_cpu_seconds_total"] - a["process_cpu_seconds_total"]) / dt.Seconds()
	r.ctlRSS = z["process_resident_memory_bytes"]
	if mosq != nil {
		r.brokerCPU = (procCPU(mosq) - mA) / dt.Seconds()
		r.brokerRSS = procRSS(mosq)
	}
	fmt.Fprintf(log, "fleetbench %s: steady state %.0f reports/s, controller %.2f cores, %.0f MiB\n", broker, r.offered, r.ctlCPU, r.ctlRSS/(1<<20))

	// The push.
	t0 = time.Now()
	out, err := edgectl("push", cfg.module, "--control", httpBase, "--key", filepath.Join(keys, "edge.key"),
		"--name", "orders", "--version", "1.1.0", "--label", "group=push", "--port", "8080",
		"--wait", cfg.pushWait.String(), "--json")
	r.push = time.Since(t0)
	if err != nil {
		return r, err
	}
	p, err := scrape(httpBase, token)
	if err != nil {
		return r, err
	}
	r.pushCPU = (p["process_cpu_seconds_total"] - z["process_cpu_seconds_total"]) / time.Since(z.at()).Seconds()
	r.pushRSS = p["process_resident_memory_bytes"]
	r.succeeded = succeeded(out)
	r.fetchedMB = float64(targets.Stats().Fetched) / 1e6
	if r.succeeded != cfg.targets {
		return r, fmt.Errorf("push: %d of %d devices succeeded\n%.2000s", r.succeeded, cfg.targets, out)
	}
	for _, d := range all[:cfg.targets] {
		if m := d.Status().Modules; len(m) != 1 || m[0].Version != "1.1.0" {
			return r, fmt.Errorf("%s serves %+v after the push", d.ID, m)
		}
	}
	fmt.Fprintf(log, "fleetbench %s: push to %d devices acknowledged in %s (%.0f MB fetched)\n", broker, cfg.targets, r.push.Round(time.Millisecond), r.fetchedMB)
	return r, nil
}

// succeeded counts the devices edgectl push --json reports running.
func succeeded(out string) int {
	var res struct {
		Devices []struct {
			State string `json:"state"`
		} `json:"devices"`
	}
	if json.Unmarshal([]byte(out), &res) != nil {
		return -1
	}
	n := 0
	for _, d := range res.Devices {
		if d.State == "running" {
			n++
		}
	}
	return n
}

// samples are the controller's own figures by metric name (applied is
// edge_ingest_reports_total{result="applied"}).
type samples map[string]float64

func (s samples) at() time.Time { return time.Unix(0, int64(s["_at"])) }

func scrape(base, token string) (samples, error) {
	at := time.Now()
	req, err := http.NewRequest("GET", base+"/metrics/controller", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("/metrics/controller: " + resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	s := samples{"_at": float64(at.UnixNano())}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			switch {
			case len(m.Label) == 0:
				s[name] = v
			case name == "edge_ingest_reports_total" && m.Label[0].GetName() == "result" && m.Label[0].GetValue() == "applied":
				s["applied"] = v
			}
		}
	}
	return s, nil
}

// procCPU is p's CPU time in seconds (0 for no process).
func procCPU(p *proc) float64 {
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	return harness.ProcessCPU(p.cmd.Process.Pid)
}

// procRSS is p's resident memory in bytes.
func procRSS(p *proc) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

func report(cfg config, moduleSize int64, rows []result, load string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "## Simulated fleet (`make fleetbench`)\n\n")
	fmt.Fprintf(&w, "`go run ./tests/fleetbench -devices %d -targets %d -interval %s -intervals %d` on %d CPUs, %s/%s, %s: the real\n",
		cfg.devices, cfg.targets, cfg.interval, cfg.measure, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&w, "edge-control (SQLite) and edgectl, %d tests/devsim devices in one other process on the same cores, each its own\n", cfg.devices)
	fmt.Fprintf(&w, "MQTT connection and credentials, a retained status and a metrics report every %s. The push sends %s\n", cfg.interval, filepath.Base(cfg.module))
	fmt.Fprintf(&w, "(%d bytes) to the %d devices labelled group=push, each fetching its gzip chunks over MQTT (window 16, as the agent);\n", moduleSize, cfg.targets)
	fmt.Fprintf(&w, "the time is edgectl push's wall time until every targeted device acknowledged running. Load average at the start %s,\n", load)
	fmt.Fprintf(&w, "at the end %s (other work on the machine competes for the same cores).\n\n", harness.LoadAverage())
	fmt.Fprintf(&w, "| broker | register | connect | reports/s | applied/s | controller CPU | controller RSS | broker CPU / RSS | push → %d acknowledged | controller CPU in push | RSS after push | fetched |\n", cfg.targets)
	fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		brk := "(in the controller)"
		if r.broker != "embedded" {
			brk = fmt.Sprintf("%.2f / %.0f MiB", r.brokerCPU, r.brokerRSS/(1<<20))
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %.0f | %.0f | %.2f cores | %.0f MiB | %s | **%s** | %.2f cores | %.0f MiB | %.0f MB |\n",
			r.broker, r.register.Round(100*time.Millisecond), r.connect.Round(100*time.Millisecond), r.offered, r.applied,
			r.ctlCPU, r.ctlRSS/(1<<20), brk, r.push.Round(100*time.Millisecond), r.pushCPU, r.pushRSS/(1<<20), r.fetchedMB)
	}
	return w.String()
}
