// Command ingestbench finds how many devices, each reporting every
// interval, one edge-control (embedded broker, SQLite) ingests on this
// machine before it falls behind (`make ingestbench`).
//
// It starts the real edge-control, registers the devices through its API
// and connects them with tests/devsim (each its own MQTT connection and
// credentials, a retained status, a metrics report every interval with
// one module's counters and latency histogram), then raises the device
// count step by step. Each step runs for a few intervals after every
// device's status has arrived; the controller's /metrics/controller,
// read each interval, gives what it applied, dropped and how long reports
// waited, and one scrape of the full /metrics per step what every
// device's series cost.
//
// Behind means any of: reports dropped (the controller's ingest queue
// full, or the embedded broker dropping messages to the controller's
// slow subscription), fewer reports applied than the simulator published
// (2% slack for those in flight at the step's end), the ingest queue
// growing through the step, or a p99 ingest lag above one second.
package main

import (
	"bytes"
	"context"
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

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgeplane/edge/tests/devsim"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

func main() {
	bin := flag.String("bin", "bin", "folder with edge-control")
	out := flag.String("out", "", "write the report into this Markdown file's \"make ingestbench\" section (default: stdout only)")
	interval := flag.Duration("interval", 10*time.Second, "each device's metrics interval")
	steps := flag.String("steps", "250,500,1000,2000,4000,8000", "device counts to try, in order")
	measure := flag.Int("intervals", 4, "intervals measured per step")
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "ingestbench: -steps: want positive counts")
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	b := &bench{bin: *bin, interval: *interval, measure: *measure}
	report, err := b.run(counts)
	b.stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if *out != "" {
		if err := harness.WriteSection(*out, "ingestbench", report); err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "ingestbench: wrote", *out)
	}
}

type bench struct {
	bin      string
	interval time.Duration
	measure  int
	dir      string
	ctl      *exec.Cmd
	ctlOut   harness.SyncBuffer
	load     string // load average at the start
	http     string // http://host:port
	mqtt     string // host:port
	token    string // the controller's admin token
}

// errScrape is a /metrics answer other than 200 (a scrape over the
// controller's timeout).
var errScrape = errors.New("/metrics scrape failed")

var readyRe = regexp.MustCompile(`edge-control: http on (http://[0-9.:]+), mqtt on tcp://([0-9.:]+)`)

func (b *bench) start() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "ingestbench"); err != nil {
		return err
	}
	b.ctl = exec.Command(filepath.Join(b.bin, "edge-control"), "--data", b.dir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	b.ctl.Stdout, b.ctl.Stderr = &b.ctlOut, &b.ctlOut
	if err := b.ctl.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := readyRe.FindStringSubmatch(b.ctlOut.String()); m != nil {
			b.http, b.mqtt = m[1], m[2]
			tok, err := os.ReadFile(filepath.Join(b.dir, harness.AdminTokenFile))
			if err != nil {
				return fmt.Errorf("admin token: %w", err)
			}
			b.token = strings.TrimSpace(string(tok))
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("edge-control not ready:\n%s", b.ctlOut.String())
}

func (b *bench) stop() {
	if b.ctl != nil && b.ctl.Process != nil {
		b.ctl.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { b.ctl.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			b.ctl.Process.Kill()
			<-done
		}
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// sample is what one scrape of the controller says.
type sample struct {
	at                            time.Time
	applied, dropped, brokerDrops float64
	cpu, rss, queue               float64
	lag                           wire.Histogram
	up                            float64
	took                          time.Duration // to scrape /metrics
	bytes                         int           // of the exposition
}

// scrape reads the controller's own figures (/metrics/controller, cheap
// whatever the fleet's size).
func (b *bench) scrape() (sample, error) { return b.scrapePath("/metrics/controller") }

// scrapeFleet reads the whole /metrics, every device's series: what it
// costs the controller is reported per step.
func (b *bench) scrapeFleet() (sample, error) { return b.scrapePath("/metrics") }

func (b *bench) scrapePath(path string) (sample, error) {
	s := sample{at: time.Now(), lag: wire.NewHistogram()}
	req, err := http.NewRequest("GET", b.http+path, nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%w: %s after %s: %.100s", errScrape, resp.Status, time.Since(s.at).Round(time.Millisecond), body)
	}
	s.took = time.Since(s.at) // the controller's part: building and sending
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return s, err
	}
	s.bytes = len(body)
	one := func(name, label, value string) float64 {
		for _, m := range fams[name].GetMetric() {
			ok := label == ""
			for _, l := range m.Label {
				ok = ok || (l.GetName() == label && l.GetValue() == value)
			}
			if ok {
				return metricValue(m)
			}
		}
		return 0
	}
	s.applied = one("edge_ingest_reports_total", "result", "applied")
	s.dropped = one("edge_ingest_reports_total", "result", "dropped")
	s.brokerDrops = one("edge_broker_messages_dropped_total", "", "")
	s.cpu = one("process_cpu_seconds_total", "", "")
	s.rss = one("process_resident_memory_bytes", "", "")
	s.queue = one("edge_ingest_queue_length", "", "")
	s.up = one("edge_devices_online", "", "")
	if ms := fams["edge_ingest_lag_seconds"].GetMetric(); len(ms) == 1 {
		var prev uint64
		for i, bk := range ms[0].GetHistogram().GetBucket() {
			if i < len(s.lag.Counts) {
				s.lag.Counts[i] = bk.GetCumulativeCount() - prev
				prev = bk.GetCumulativeCount()
			}
		}
		s.lag.Counts[len(wire.LatencyBuckets)] = ms[0].GetHistogram().GetSampleCount() - prev
	}
	return s, nil
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return m.GetUntyped().GetValue()
}

// step is the outcome of one device count.
type step struct {
	devices          int
	connect          time.Duration
	offered, applied float64 // reports per second
	dropped          float64
	lagP99           float64
	queueMax         float64
	queueGrew        bool
	ctlCPU, simCPU   float64 // cores
	rss              float64
	fleetScrape      string // what one full /metrics scrape took
	behind           bool
	why              string
}

func (b *bench) run(counts []int) (string, error) {
	b.load = harness.LoadAverage()
	if err := b.start(); err != nil {
		return "", err
	}
	ctx := context.Background()
	maxN := counts[len(counts)-1]
	ids := make([]string, maxN)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%05d", i+1)
	}
	t0 := time.Now()
	creds, err := devsim.Register(ctx, b.http, b.token, ids, 8)
	if err != nil {
		return "", err
	}
	register := time.Since(t0)
	fmt.Fprintf(os.Stderr, "ingestbench: %d devices registered in %s\n", maxN, register.Round(time.Millisecond))
	sim := devsim.New(devsim.Config{Broker: b.mqtt, Interval: b.interval, RequestRate: 5})
	defer sim.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	running := false
	var results []step
	connected := 0
	for _, n := range counts {
		devs := sim.Add(creds[connected:n]...)
		for _, d := range devs {
			d.Serve("orders", "1.0.0", 8080)
		}
		t := time.Now()
		if err := sim.Connect(ctx, devs, 32); err != nil {
			return "", err
		}
		for {
			s, err := b.scrape()
			if err != nil {
				return "", err
			}
			if s.up >= float64(n) {
				break
			}
			if time.Since(t) > 5*time.Minute {
				return "", fmt.Errorf("%d devices: only %v online after 5 minutes", n, s.up)
			}
			time.Sleep(200 * time.Millisecond)
		}
		connected = n
		st := step{devices: n, connect: time.Since(t)}
		if !running {
			go sim.Run(runCtx)
			running = true
		}
		time.Sleep(b.interval + b.interval/2) // every device in the rotation
		if err := b.measureStep(sim, &st); err != nil {
			return "", err
		}
		results = append(results, st)
		fmt.Fprintf(os.Stderr, "ingestbench: %d devices: %.0f reports/s offered, %.0f applied, %v dropped, lag p99 %.3fs, controller %.2f cores, behind=%v %s\n",
			n, st.offered, st.applied, st.dropped, st.lagP99, st.ctlCPU, st.behind, st.why)
		if st.behind {
			break
		}
	}
	return b.report(results, register, maxN), nil
}

func (b *bench) measureStep(sim *devsim.Sim, st *step) error {
	// The simulator's counts are read right before each scrape starts:
	// the two windows are the same (parsing a large exposition takes the
	// bench seconds, which must not shorten one of them).
	pubA, simA := sim.Stats().Published, harness.ProcessCPU(0)
	a, err := b.scrape()
	if err != nil {
		return err
	}
	// One scrape per interval, as a Prometheus would scrape (each costs
	// the controller the whole fleet's series: its time is reported).
	queue := []float64{a.queue}
	for range b.measure - 1 {
		time.Sleep(b.interval)
		s, err := b.scrape()
		if err != nil {
			return err
		}
		queue = append(queue, s.queue)
		st.queueMax = max(st.queueMax, s.queue)
	}
	time.Sleep(b.interval)
	pubB, simB := sim.Stats().Published, harness.ProcessCPU(0)
	z, err := b.scrape()
	if err != nil {
		return err
	}
	// Reports in flight at the start and at the end about cancel out.
	dt := z.at.Sub(a.at).Seconds()
	st.offered = float64(pubB-pubA) / dt
	st.applied = (z.applied - a.applied) / dt
	st.dropped = (z.dropped - a.dropped) + (z.brokerDrops - a.brokerDrops)
	st.ctlCPU = (z.cpu - a.cpu) / z.at.Sub(a.at).Seconds()
	st.simCPU = (simB - simA) / dt
	st.rss = z.rss
	lag := wire.NewHistogram()
	for i := range lag.Counts {
		lag.Counts[i] = z.lag.Counts[i] - a.lag.Counts[i]
	}
	st.lagP99 = lag.Quantile(0.99)
	third := max(len(queue)/3, 1)
	queue = append(queue, z.queue)
	st.queueMax = max(st.queueMax, z.queue)
	st.queueGrew = avg(queue[len(queue)-third:]) > avg(queue[:third])+100
	var why []string
	if st.dropped > 0 {
		why = append(why, fmt.Sprintf("%.0f dropped", st.dropped))
	}
	if st.applied < 0.98*st.offered {
		why = append(why, fmt.Sprintf("applied %.0f/s of %.0f/s", st.applied, st.offered))
	}
	if st.queueGrew {
		why = append(why, "queue growing")
	}
	if st.lagP99 > 1 {
		why = append(why, fmt.Sprintf("lag p99 %.1fs", st.lagP99))
	}
	st.behind, st.why = len(why) > 0, strings.Join(why, ", ")
	// One scrape of every device's series, as a Prometheus would make
	// (not part of the verdict: the ingest is).
	if f, err := b.scrapeFleet(); err != nil {
		st.fleetScrape = err.Error()
	} else {
		st.fleetScrape = fmt.Sprintf("%s (%.1f MB)", f.took.Round(time.Millisecond), float64(f.bytes)/1e6)
	}
	return nil
}

func avg(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

func (b *bench) report(res []step, register time.Duration, registered int) string {
	var w strings.Builder
	fmt.Fprintf(&w, "## Controller ingest (`make ingestbench`)\n\n")
	fmt.Fprintf(&w, "`go run ./tests/ingestbench -bin bin -interval %s -intervals %d` on %d CPUs, %s, %s: the real edge-control\n",
		b.interval, b.measure, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&w, "(embedded broker, SQLite) and tests/devsim's devices in one other process on the same machine, each device\n")
	fmt.Fprintf(&w, "its own MQTT connection and credentials, one module, a report every %s. Registering %d devices through the\n", b.interval, registered)
	fmt.Fprintf(&w, "API took %s. Each step measures %d intervals once every device's status has arrived, reading\n", register.Round(time.Second), b.measure)
	fmt.Fprintf(&w, "`/metrics/controller` each interval and the full `/metrics` once at the end. Load average at\n")
	fmt.Fprintf(&w, "the start %s, at the end %s (other work on the machine competes for the same 2 cores).\n\n", b.load, harness.LoadAverage())
	fmt.Fprintf(&w, "| devices | connect | reports/s offered | applied/s | dropped | ingest lag p99 | max queue | controller CPU | simulator CPU | controller RSS | full /metrics scrape | behind |\n")
	fmt.Fprintf(&w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	best := 0
	for _, s := range res {
		verdict := "no"
		if s.behind {
			verdict = "**yes**: " + s.why
		} else {
			best = s.devices
		}
		fmt.Fprintf(&w, "| %d | %s | %.0f | %.0f | %.0f | %s | %.0f | %.2f | %.2f | %.0f MiB | %s | %s |\n",
			s.devices, s.connect.Round(100*time.Millisecond), s.offered, s.applied, s.dropped, lagText(s.lagP99), s.queueMax,
			s.ctlCPU, s.simCPU, s.rss/(1<<20), s.fleetScrape, verdict)
	}
	last := res[len(res)-1]
	fmt.Fprintln(&w)
	switch {
	case best == 0:
		fmt.Fprintf(&w, "Behind already at %d devices.\n", last.devices)
	case last.behind:
		fmt.Fprintf(&w, "**Kept up with %d devices × %s (%.0f reports/s); behind at %d.**\n", best, b.interval, float64(best)/b.interval.Seconds(), last.devices)
	default:
		fmt.Fprintf(&w, "**Kept up with every step, up to %d devices × %s (%.0f reports/s)**: the limit is above the largest step tried.\n",
			best, b.interval, float64(best)/b.interval.Seconds())
	}
	return w.String()
}

func lagText(s float64) string {
	if s == 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	return d.Round(10 * time.Microsecond).String()
}
