package fleet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// counts are one version's cumulative counters as an agent reports them,
// or a difference of two reports.
type counts struct {
	Requests uint64   `json:"r"`
	Errors   uint64   `json:"e"` // 5xx
	Buckets  []uint64 `json:"h"` // wire.LatencyBuckets, non-cumulative
}

func countsOf(mm *wire.ModuleMetrics) counts {
	return counts{Requests: mm.Requests, Errors: mm.Responses5xx, Buckets: slices.Clone(mm.Latency.Counts)}
}

// minus is c - o, and false when some counter went down (the two are not
// from one run of the counting process).
func (c counts) minus(o counts) (counts, bool) {
	if c.Requests < o.Requests || c.Errors < o.Errors || len(c.Buckets) != len(o.Buckets) {
		return counts{}, false
	}
	d := counts{Requests: c.Requests - o.Requests, Errors: c.Errors - o.Errors, Buckets: make([]uint64, len(c.Buckets))}
	for i := range c.Buckets {
		if c.Buckets[i] < o.Buckets[i] {
			return counts{}, false
		}
		d.Buckets[i] = c.Buckets[i] - o.Buckets[i]
	}
	return d, true
}

func (c *counts) add(o counts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	if c.Buckets == nil {
		c.Buckets = make([]uint64, len(wire.LatencyBuckets)+1)
	}
	for i := range min(len(c.Buckets), len(o.Buckets)) {
		c.Buckets[i] += o.Buckets[i]
	}
}

// versionAcc accumulates one version's counters on one device.
type versionAcc struct {
	Start time.Time `json:"start"` // of the worker whose counters Last holds
	Last  counts    `json:"last"`
	Soak  counts    `json:"soak"` // since the current wave's soak began
	All   counts    `json:"all"`  // since the rollout began
}

// deviceAcc is what the gate knows of one device's reports.
type deviceAcc struct {
	AgentStart time.Time              `json:"agent_start"`
	Seq        uint64                 `json:"seq"`
	First      time.Time              `json:"first"` // agent clock: the first report seen
	Versions   map[string]*versionAcc `json:"versions"`
	// Away is when (controller clock) the device was seen going offline,
	// zero while it is online. Back is when it was last seen back from an
	// outage or a restart (its agent's, or its module's counters reset),
	// and Why says which: the soak restarts from then (evaluate).
	Away time.Time `json:"away,omitzero"`
	Back time.Time `json:"back,omitzero"`
	Why  string    `json:"why,omitempty"`
}

func (g *gateAcc) device(id string) *deviceAcc {
	if g.Devices == nil {
		g.Devices = map[string]*deviceAcc{}
	}
	d := g.Devices[id]
	if d == nil {
		d = &deviceAcc{Versions: map[string]*versionAcc{}}
		g.Devices[id] = d
	}
	return d
}

// presence notes a status of device id received at now (controller
// clock): offline starts an outage, online after one ends it.
func (g *gateAcc) presence(id string, online bool, now time.Time) bool {
	d := g.device(id)
	switch {
	case !online && d.Away.IsZero():
		d.Away = now
	case online && !d.Away.IsZero():
		d.Back, d.Why = now, fmt.Sprintf("offline from %s for %s", hhmmss(d.Away), now.Sub(d.Away).Round(time.Second))
		d.Away = time.Time{}
	default:
		return false
	}
	return true
}

func hhmmss(t time.Time) string { return t.UTC().Format(time.TimeOnly) }

// gateAcc accumulates the metrics of a rollout's targeted devices for its
// module, from the reports as they arrive.
//
// Counters are cumulative since the Start of the worker that counts them;
// the window's figures are sums of differences between consecutive
// reports of one device and version. A report with the same Start and a
// counter below the last one, or an older Start, is late (QoS 0 reports
// may come out of order) and ignored; a newer Start is a reset (a worker
// restarted): its counters all happened since, so they are the
// difference. A version first seen with a Start after the device's first
// report seen (the new version, started by the rollout) counts whole; any
// other first sight is only the baseline of the next difference. So a
// window begins at each device's last report before it, at most one
// metrics interval early.
type gateAcc struct {
	Devices map[string]*deviceAcc `json:"devices"`
}

// observe adds one report of a targeted device, received at now
// (controller clock); it reports whether the accumulator changed. A
// restart of the agent, or of the module's worker (a counter reset), is
// noted as the device's Back.
func (g *gateAcc) observe(module string, m *wire.Metrics, now time.Time) bool {
	d := g.device(m.Device)
	switch {
	case d.AgentStart.IsZero():
		d.AgentStart, d.Seq, d.First = m.Agent.Start, m.Seq, m.Time
	case m.Agent.Start.Before(d.AgentStart):
		return false // a late report of an earlier agent process
	case m.Agent.Start.Equal(d.AgentStart) && m.Seq <= d.Seq:
		return false // a duplicate, or late
	case m.Agent.Start.After(d.AgentStart):
		d.AgentStart, d.Seq = m.Agent.Start, m.Seq
		d.Back, d.Why = now, "agent restarted at "+hhmmss(m.Agent.Start)
	default:
		d.Seq = m.Seq
	}
	for i := range m.Modules {
		mm := &m.Modules[i]
		if mm.Name != module || mm.Latency.Validate() != nil {
			continue
		}
		cur := countsOf(mm)
		va := d.Versions[mm.Version]
		var delta counts
		switch {
		case va == nil:
			va = &versionAcc{}
			d.Versions[mm.Version] = va
			if mm.Start.After(d.First) {
				delta = cur
			}
		case mm.Start.Before(va.Start):
			continue // an older worker's late report
		case !mm.Start.Equal(va.Start):
			delta = cur             // restarted: a reset
			if !d.Back.Equal(now) { // an agent restart says more
				d.Back, d.Why = now, fmt.Sprintf("%s %s counters restarted at %s", module, mm.Version, hhmmss(mm.Start))
			}
		default:
			var ok bool
			if delta, ok = cur.minus(va.Last); !ok {
				continue // went down under the same Start: late
			}
		}
		va.Start, va.Last = mm.Start, cur
		va.Soak.add(delta)
		va.All.add(delta)
	}
	return true
}

// resetSoak starts a new soak window.
func (g *gateAcc) resetSoak() {
	for _, d := range g.Devices {
		for _, va := range d.Versions {
			va.Soak = counts{}
		}
	}
}

// sample sums the versions pick selects over devices, in the window win.
func (g *gateAcc) sample(devices []string, pick func(string) bool, win func(*versionAcc) counts) wire.GateSample {
	var sum counts
	var s wire.GateSample
	for _, id := range devices {
		d := g.Devices[id]
		if d == nil {
			continue
		}
		counted := false
		for v, va := range d.Versions {
			if !pick(v) {
				continue
			}
			c := win(va)
			sum.add(c)
			if c.Requests > 0 && !slices.Contains(s.Versions, v) {
				s.Versions = append(s.Versions, v)
			}
			counted = counted || c.Requests > 0
		}
		if counted {
			s.Devices++
		}
	}
	slices.Sort(s.Versions)
	s.Requests, s.Errors = sum.Requests, sum.Errors
	if sum.Requests > 0 {
		s.ErrorRate = float64(sum.Errors) / float64(sum.Requests)
	}
	if sum.Buckets != nil {
		h := wire.Histogram{Counts: sum.Buckets}
		s.P99 = h.Quantile(0.99)
	}
	return s
}

// gateInput is what one evaluation looks at.
type gateInput struct {
	cfg       wire.Gate
	version   string    // the new version
	updated   []string  // devices of the waves deployed so far
	notYet    []string  // targeted devices of later waves
	targets   []string  // every targeted device
	soakStart time.Time // controller clock
	now       time.Time
}

// evaluate is the gate. The new version's figures are those of the
// updated devices over the soak window. The old version's (the baseline)
// are those of the devices not updated yet over the same window (same
// time, same load: a control group); when they saw fewer than MinRequests
// requests (the last wave, idle devices), those of the old version on
// every targeted device since the rollout began (which includes the
// updated devices before their switch).
//
//   - fail at once, once the new version saw MinRequests requests, if its
//     5xx share exceeds the baseline's by more than MaxErrorRate (with no
//     usable baseline: exceeds MaxErrorRate), or its p99 is above
//     MaxP99Ratio times the baseline's and in a higher histogram bucket;
//   - wait until the soak ends;
//   - then pass, unless the new version saw fewer than MinRequests
//     requests: then pass or fail as LowTraffic says.
//
// An outage is not health: while an updated device is offline the gate
// does not pass, and fails once one has been away longer than the soak;
// when a device comes back, or its agent or the module's worker
// restarted (its counters reset), the soak starts again from then, and
// the gate's line says why (disruption).
func (g *gateAcc) evaluate(in gateInput) wire.GateFigures {
	isNew := func(v string) bool { return v == in.version }
	isOld := func(v string) bool { return v != in.version }
	soak := func(va *versionAcc) counts { return va.Soak }
	f := wire.GateFigures{Time: in.now.UTC(), WindowStart: in.soakStart.UTC(), Verdict: wire.GateWaiting}
	f.New = g.sample(in.updated, isNew, soak)
	f.Old = g.sample(in.notYet, isOld, soak)
	f.Baseline = fmt.Sprintf("the old version on the %s not updated yet, same window", plural.Count(len(in.notYet), "device"))
	if f.Old.Requests < in.cfg.MinRequests {
		f.Old = g.sample(in.targets, isOld, func(va *versionAcc) counts { return va.All })
		f.Baseline = "the old version on the targeted devices since the rollout began"
	}
	haveOld := f.Old.Requests >= in.cfg.MinRequests
	if !haveOld {
		f.Baseline = "none (the old version saw too few requests): thresholds are absolute"
	}
	if f.New.Requests >= in.cfg.MinRequests {
		if why := errorFail(in.cfg, in.version, f, haveOld); why != "" {
			f.Verdict, f.Reason = wire.GateFail, why
			return f
		}
		if why := latencyFail(in.cfg, in.version, f, haveOld); why != "" {
			f.Verdict, f.Reason = wire.GateFail, why
			return f
		}
	}
	start, note, away := g.disruption(in)
	if away != "" {
		f.Reason = away + ": the soak starts again when back: " + figures(in.version, f)
		if in.now.Sub(start) > in.cfg.Soak() {
			f.Verdict = wire.GateFail
			f.Reason = fmt.Sprintf("%s: away longer than the %s soak (an outage is not health): %s", away, in.cfg.Soak(), figures(in.version, f))
		}
		return f
	}
	end := start.Add(in.cfg.Soak())
	if in.now.Before(end) {
		f.Reason = fmt.Sprintf("soaking until %s%s: %s", end.UTC().Format(time.RFC3339), note, figures(in.version, f))
		return f
	}
	if f.New.Requests < in.cfg.MinRequests {
		f.Reason = fmt.Sprintf("%s answered %s during the %s soak%s, fewer than the %d needed to judge it (low traffic: %s)",
			in.version, plural.Count(f.New.Requests, "request"), in.cfg.Soak(), note, in.cfg.MinRequests, in.cfg.LowTraffic)
		f.Verdict = wire.GateFail
		if in.cfg.LowTraffic == wire.LowTrafficPass {
			f.Verdict = wire.GatePass
		}
		return f
	}
	f.Verdict, f.Reason = wire.GatePass, "within the thresholds"+note+": "+figures(in.version, f)
	return f
}

// disruption looks for outages and restarts of the updated devices
// during the soak. start is when the soak (re)started: the latest return
// after the soak began, or, while a device is away, the start of the
// longest outage (the soak cannot end before it does); note says why it
// moved; away, when a device is offline now, names it.
func (g *gateAcc) disruption(in gateInput) (start time.Time, note, away string) {
	start = in.soakStart
	var gone []string
	awayFrom := time.Time{}
	for _, id := range in.updated {
		d := g.Devices[id]
		switch {
		case d == nil:
		case !d.Away.IsZero():
			since := maxTime(d.Away, in.soakStart)
			if awayFrom.IsZero() || since.Before(awayFrom) {
				awayFrom = since
			}
			gone = append(gone, fmt.Sprintf("%s offline since %s", id, hhmmss(d.Away)))
		case d.Back.After(start):
			start, note = d.Back, fmt.Sprintf(" (soak restarted at %s: %s %s)", hhmmss(d.Back), id, d.Why)
		}
	}
	if len(gone) == 0 {
		return start, note, ""
	}
	return awayFrom, note, strings.Join(gone, ", ")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func errorFail(cfg wire.Gate, version string, f wire.GateFigures, haveOld bool) string {
	limit := cfg.MaxErrorRate
	if haveOld {
		limit += f.Old.ErrorRate
	}
	if f.New.ErrorRate <= limit {
		return ""
	}
	return fmt.Sprintf("5xx share of the new version %.1f%% (%d of %s) exceeds %.1f%% (%s + %.1f points): %s",
		100*f.New.ErrorRate, f.New.Errors, plural.Count(f.New.Requests, "request"), 100*limit, baselineRate(f, haveOld), 100*cfg.MaxErrorRate, figures(version, f))
}

func baselineRate(f wire.GateFigures, haveOld bool) string {
	if !haveOld {
		return "no baseline"
	}
	return fmt.Sprintf("old %.1f%%", 100*f.Old.ErrorRate)
}

func latencyFail(cfg wire.Gate, version string, f wire.GateFigures, haveOld bool) string {
	if !haveOld || f.Old.P99 <= 0 || f.New.P99 <= cfg.MaxP99Ratio*f.Old.P99 || bucketOf(f.New.P99) == bucketOf(f.Old.P99) {
		return ""
	}
	return fmt.Sprintf("p99 latency of the new version %s is over %.2g× the old version's %s: %s",
		seconds(f.New.P99), cfg.MaxP99Ratio, seconds(f.Old.P99), figures(version, f))
}

// bucketOf is the index of the latency bucket holding v seconds.
func bucketOf(v float64) int {
	for i, b := range wire.LatencyBuckets {
		if v <= b {
			return i
		}
	}
	return len(wire.LatencyBuckets)
}

func seconds(v float64) string {
	return time.Duration(v * float64(time.Second)).Round(10 * time.Microsecond).String()
}

// figures is the one-line summary of both sides.
func figures(version string, f wire.GateFigures) string {
	side := func(name string, s wire.GateSample) string {
		return fmt.Sprintf("%s %s on %s, %.1f%% 5xx, p99 %s", name, plural.Count(s.Requests, "request"), plural.Count(s.Devices, "device"), 100*s.ErrorRate, seconds(s.P99))
	}
	newName := "new " + version
	oldName := "old"
	if len(f.Old.Versions) > 0 {
		oldName = "old " + strings.Join(f.Old.Versions, ",")
	}
	return side(newName, f.New) + "; " + side(oldName, f.Old)
}
