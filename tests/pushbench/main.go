// Command pushbench measures push → serving on one device (edge-control
// with its embedded broker, one edge-agent, edgectl, all on loopback) and
// splits it into phases, compared with compiling the module alone
// (`make pushbench`).
//
// Each measured push is an upgrade of orders.wasm whose bytes differ (a
// custom section names the version), so every push transfers a new blob and
// compiles into a cold cache. Phase boundaries come from the agent's
// deployment events (subscribed to on the embedded broker, which runs with
// --allow-anonymous for this) and from two lines of the agent's log:
//
//	sign + upload  edgectl start → "deployment created" (sign, PUT blob: the controller gzips it, POST)
//	deliver   "deployment created" → fetching (desired state published, agent verifies the envelope)
//	transfer  fetching → verifying       (chunks over MQTT)
//	verify    verifying → starting       (gunzip, SHA-256, store, stage)
//	start     starting → probing − compile (worker process, database, first heartbeat)
//	compile   the worker's "module loaded" took= (wazero compile + instances)
//	probe     probing → "switched"       (GET of the probe path; SQLite safety copy when a version runs)
//	switch    "switched" → running       (old worker drains, commit)
//
// The agent runs with --grace 0: the post-switch watch is not part of
// getting to serving, and edgectl would otherwise wait it out too.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

func main() {
	binDir := flag.String("bin", "bin", "folder with edge-agent, edge-control, edgectl and orders.wasm")
	runs := flag.Int("runs", 3, "measured pushes (upgrades); the median is reported")
	flag.Parse()
	b := &bench{bin: *binDir, runs: *runs}
	err := b.run()
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	bin   string
	runs  int
	dir   string
	procs []*exec.Cmd

	control, broker string
	agentLog        *harness.SyncBuffer

	mu     sync.Mutex
	events map[string]wire.Event // version/state → event
}

func (b *bench) cleanup() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// start runs a program until a line of its output matches ready and
// returns the match's first group.
func (b *bench) start(ready *regexp.Regexp, out io.Writer, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	pr, pw := io.Pipe()
	var w io.Writer = pw
	if out != nil {
		w = io.MultiWriter(pw, out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return "", err
	}
	b.procs = append(b.procs, cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[len(m)-1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case v := <-found:
		return v, nil
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("%s not ready after 60s", name)
	}
}

func (b *bench) edgectl(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(b.bin, "edgectl"), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("edgectl %s: %v\n%s%s", args[0], err, &stdout, &stderr)
	}
	return stdout.String(), nil
}

// withCustomSection appends a custom section: same code, different bytes.
func withCustomSection(wasm []byte, name string, payload []byte) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// bareCompile times wasmhost loading wasm into an empty cache.
func bareCompile(wasm []byte) (time.Duration, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pushbench-cache")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)
	engine, err := wasmhost.NewEngine(wasmhost.EngineConfig{CacheDir: dir, Logger: quiet})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	mod, err := engine.Load(ctx, wasm, wasmhost.Config{Name: "x", Logger: quiet})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	mod.Close(ctx)
	return took, nil
}

var (
	controlAddrs = regexp.MustCompile(`edge-control: http on (http://[0-9.:]+), mqtt on tcp://([0-9.:]+)`)
	agentRunning = regexp.MustCompile(`edge-agent: (running) as \S+`)
	logTime      = regexp.MustCompile(`^time=(\S+) `)
	tookAttr     = regexp.MustCompile(` took=(\S+)`)
	createdLine  = regexp.MustCompile(`^deployment \S+ created`)
)

const device = "bench"

func (b *bench) run() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "pushbench"); err != nil {
		return err
	}
	wasm, err := os.ReadFile(filepath.Join(b.bin, "orders.wasm"))
	if err != nil {
		return err
	}

	ctlOut := &harness.SyncBuffer{}
	line, err := b.start(regexp.MustCompile(`(edge-control: http on .*)`), ctlOut, "edge-control",
		"--data", filepath.Join(b.dir, "control"), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--allow-anonymous")
	if err != nil {
		return err
	}
	m := controlAddrs.FindStringSubmatch(line)
	if m == nil {
		return fmt.Errorf("cannot parse edge-control output:\n%s", ctlOut)
	}
	b.control, b.broker = m[1], m[2]
	keys := filepath.Join(b.dir, "keys")
	if _, err := b.edgectl("keygen", "--out", keys, "--force"); err != nil {
		return err
	}
	// The controller wrote its admin token at its first start.
	tokenFile := filepath.Join(b.dir, "control", harness.AdminTokenFile)
	out, err := b.edgectl("device", "add", device, "--control", b.control, "--token-file", tokenFile, "--json")
	if err != nil {
		return err
	}
	var cred wire.DeviceCredentials
	if err := json.Unmarshal([]byte(out), &cred); err != nil {
		return fmt.Errorf("device add: %v: %q", err, out)
	}

	// Events, as the controller sees them.
	b.events = map[string]wire.Event{}
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + b.broker).SetClientID("pushbench").SetCleanSession(true)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("mqtt connect: %w", tok.Error())
	}
	defer cl.Disconnect(100)
	tok := cl.Subscribe(wire.DeviceWildcard(wire.KindEvents), 1, func(_ mqtt.Client, msg mqtt.Message) {
		var ev wire.Event
		if json.Unmarshal(msg.Payload(), &ev) != nil {
			return
		}
		b.mu.Lock()
		if _, dup := b.events[ev.Version+"/"+ev.State]; !dup {
			b.events[ev.Version+"/"+ev.State] = ev
		}
		b.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("mqtt subscribe: %v", tok.Error())
	}

	b.agentLog = &harness.SyncBuffer{}
	if _, err := b.start(agentRunning, b.agentLog, "edge-agent", "run", "--id", device,
		"--broker", "tcp://"+b.broker, "--password", cred.Password, "--data", filepath.Join(b.dir, "agent"),
		"--trust", filepath.Join(keys, "edge.pub"), "--grace", "0"); err != nil {
		return err
	}

	port, err := freeport.Pick()
	if err != nil {
		return err
	}
	// push runs edgectl push of version; it returns when edgectl started,
	// when it printed that the deployment was created, and its wall time.
	push := func(version string) (t0, created time.Time, wall time.Duration, err error) {
		file := filepath.Join(b.dir, "orders-"+version+".wasm")
		if err := os.WriteFile(file, withCustomSection(wasm, "pushbench", []byte(version)), 0o644); err != nil {
			return t0, created, 0, err
		}
		cmd := exec.Command(filepath.Join(b.bin, "edgectl"), "push", file, "--control", b.control, "--token-file", tokenFile,
			"--key", filepath.Join(keys, "edge.key"), "--name", "orders", "--version", version,
			"--node", device, "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "2m")
		var out bytes.Buffer
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if created.IsZero() && createdLine.MatchString(sc.Text()) {
					created = time.Now()
				}
				out.WriteString(sc.Text() + "\n")
			}
			io.Copy(io.Discard, pr)
		}()
		t0 = time.Now()
		err = cmd.Run()
		wall = time.Since(t0)
		pw.Close()
		<-scanned
		if err != nil {
			return t0, created, wall, fmt.Errorf("edgectl push %s: %v\n%s", version, err, &out)
		}
		if created.IsZero() {
			return t0, created, wall, fmt.Errorf("edgectl push %s: no %q line:\n%s", version, createdLine, &out)
		}
		return t0, created, wall, nil
	}
	if _, _, _, err := push("1.0.0"); err != nil { // the first install: no switch
		return err
	}

	phases := []string{"sign + upload", "deliver", "transfer", "verify", "start", "compile", "probe", "switch", "total (push → running)", "edgectl push wall"}
	samples := map[string][]time.Duration{}
	var failed []string
	var bare []time.Duration
	for i := 1; len(samples["compile"]) < b.runs; i++ {
		version := fmt.Sprintf("1.%d.0", i)
		// The bare compile runs right before each push, so that load
		// from elsewhere on the machine weighs on both alike.
		bc, err := bareCompile(withCustomSection(wasm, "pushbench-bare", []byte(version)))
		if err != nil {
			return fmt.Errorf("bare compile: %w", err)
		}
		t0, created, wall, err := push(version)
		if err != nil {
			// A failed deploy is reported and not measured; too many
			// end the run.
			fmt.Fprintf(os.Stderr, "pushbench: push %s failed (not measured): %v\n", version, err)
			failed = append(failed, version)
			if len(failed) > b.runs {
				return fmt.Errorf("%d pushes failed", len(failed))
			}
			continue
		}
		ph, err := b.phases(version, t0, created)
		if err != nil {
			return err
		}
		ph["edgectl push wall"] = wall
		bare = append(bare, bc)
		for _, p := range phases {
			samples[p] = append(samples[p], ph[p])
		}
		fmt.Fprintf(os.Stderr, "pushbench: %s: total %s, compile %s, wall %s\n", version,
			ph["total (push → running)"].Round(time.Millisecond), ph["compile"].Round(time.Millisecond), wall.Round(time.Millisecond))
	}

	bareMed := median(bare)
	fmt.Printf("Push → serving of orders.wasm (%d bytes) on one device over loopback (%s/%s, %d CPUs); median of %d upgrades, each with new bytes (cold compile), each after one bare compile.\n\n",
		len(wasm), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), b.runs)
	fmt.Println("| phase | median | share of total | runs |")
	fmt.Println("|---|---:|---:|---|")
	total := median(samples["total (push → running)"])
	for _, p := range phases {
		med := median(samples[p])
		var runs []string
		for _, d := range samples[p] {
			runs = append(runs, ms(d))
		}
		share := fmt.Sprintf("%.0f %%", 100*float64(med)/float64(total))
		if p == "edgectl push wall" || p == "total (push → running)" {
			share = ""
		}
		fmt.Printf("| %s | %s | %s | %s |\n", p, ms(med), share, strings.Join(runs, ", "))
	}
	var bareRuns []string
	for _, d := range bare {
		bareRuns = append(bareRuns, ms(d))
	}
	fmt.Printf("| bare compile (wasmhost.Load, empty cache) | %s | | %s |\n", ms(bareMed), strings.Join(bareRuns, ", "))
	if len(failed) > 0 {
		fmt.Printf("\n%d push(es) failed and were not measured: %s (see stderr).\n", len(failed), strings.Join(failed, ", "))
	}
	fmt.Printf("\ntotal / bare compile = **%.2f×** (goal ≤ 1.2×); edgectl wall / bare compile = %.2f×\n",
		float64(total)/float64(bareMed), float64(median(samples["edgectl push wall"]))/float64(bareMed))
	return nil
}

// phases splits the push of version started at t0.
func (b *bench) phases(version string, t0, created time.Time) (map[string]time.Duration, error) {
	states := []string{wire.StateFetching, wire.StateVerifying, wire.StateStarting, wire.StateProbing, wire.StateRunning}
	at := map[string]time.Time{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		missing := ""
		for _, s := range states {
			ev, ok := b.events[version+"/"+s]
			if !ok {
				missing = s
				continue
			}
			at[s] = ev.Time
		}
		b.mu.Unlock()
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no %s event", version, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var compile time.Duration
	var switched time.Time
	for line := range strings.Lines(b.agentLog.String()) {
		switch {
		case strings.Contains(line, `msg="module loaded"`) && strings.Contains(line, "worker=orders@"+version+" ") &&
			strings.Contains(line, " took="):
			compile, _ = time.ParseDuration(tookAttr.FindStringSubmatch(line)[1])
		case strings.Contains(line, "msg=switched") && strings.Contains(line, " version="+version+" "):
			if m := logTime.FindStringSubmatch(line); m != nil {
				switched, _ = time.Parse(time.RFC3339Nano, m[1])
			}
		}
	}
	if compile == 0 || switched.IsZero() {
		return nil, fmt.Errorf("%s: agent log has no module loaded took= or switched line:\n%s", version, b.agentLog)
	}
	return map[string]time.Duration{
		"sign + upload":          created.Sub(t0),
		"deliver":                at[wire.StateFetching].Sub(created),
		"transfer":               at[wire.StateVerifying].Sub(at[wire.StateFetching]),
		"verify":                 at[wire.StateStarting].Sub(at[wire.StateVerifying]),
		"start":                  at[wire.StateProbing].Sub(at[wire.StateStarting]) - compile,
		"compile":                compile,
		"probe":                  switched.Sub(at[wire.StateProbing]),
		"switch":                 at[wire.StateRunning].Sub(switched),
		"total (push → running)": at[wire.StateRunning].Sub(t0),
	}, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}
