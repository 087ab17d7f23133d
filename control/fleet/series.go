package fleet

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/semver"
	"github.com/edgeplane/edge/wire"
)

// Bounds on what one device adds to the controller's memory and to
// /metrics, whatever it sends: at most wire.MaxModules module names (those
// of its desired state first), at most versionsPerModule versions of each
// (both sides of a blue/green switch), versions of at most maxVersionLen
// bytes that parse as semantic versions.
const (
	versionsPerModule = 2
	maxVersionLen     = 64
	// maxInterval bounds the time one report's increase may cover: a
	// longer gap (a clock jump, a device away for hours) is not spread
	// into a rate.
	maxInterval = time.Hour
)

// Totals are counters the controller accumulates from reports: the sum of
// the increases it saw, so they only grow, across worker and agent
// restarts, as long as the controller runs (a restarted controller starts
// from the device's own counters).
type Totals struct {
	Requests       uint64
	Responses      [5]uint64 // 1xx..5xx
	Traps          uint64
	Timeouts       uint64
	WorkerRestarts uint64
	Rejections     uint64
	SQLCalls       uint64
	SQLSeconds     float64
	CPUSeconds     float64
	LogsDropped    uint64
	// Module messaging (counted per agent process, like WorkerRestarts).
	MessagesDelivered uint64
	DeadLetters       uint64
	Latency           wire.Histogram
}

// Series is one (module, version) of a device: its latest raw report and
// the controller's totals.
type Series struct {
	Last   wire.ModuleMetrics
	Totals Totals
}

// AgentTotals are the agent's accumulated counters.
type AgentTotals struct {
	CPUSeconds     float64
	Reconnects     uint64
	MetricsDropped uint64
	LogsDropped    uint64
}

// deviceMetrics is what the controller keeps of one device's reports.
type deviceMetrics struct {
	last     *wire.Metrics // latest accepted report, modules cut to what is kept
	received time.Time
	agent    AgentTotals
	series   map[seriesKey]*Series
	dirty    bool // last not stored yet
}

type seriesKey struct{ module, version string }

// delta is the increase of a cumulative counter: cur - prev while the
// counter kept counting (same epoch, not lower), cur after a reset.
func delta(cur, prev uint64, same bool) uint64 {
	if same && cur >= prev {
		return cur - prev
	}
	return cur
}

func deltaF(cur, prev float64, same bool) float64 {
	if same && cur >= prev {
		return cur - prev
	}
	return max(cur, 0)
}

// applyResult is what one accepted report changed, for the history.
type applyResult struct {
	agent   store.Counts
	modules map[string]*store.Counts // by module name, versions merged
	capped  int                      // entries left out by the bounds
	resets  int                      // series whose counters restarted
}

// keep selects the module entries of a report within the bounds: names
// the device's desired state lists first, then the others in name order,
// up to wire.MaxModules names; per name the serving version first, then
// the most recently started, up to versionsPerModule; one entry per
// (name, version); versions must be valid. It returns the kept entries in
// (name, version) order and how many were left out.
func keep(mods []wire.ModuleMetrics, desired map[string]bool, serving map[string]string) ([]wire.ModuleMetrics, int) {
	byName := map[string][]wire.ModuleMetrics{}
	dropped := 0
	for _, m := range mods {
		if len(m.Version) > maxVersionLen || !semver.Valid(m.Version) {
			dropped++
			continue
		}
		if slices.ContainsFunc(byName[m.Name], func(o wire.ModuleMetrics) bool { return o.Version == m.Version }) {
			dropped++
			continue
		}
		byName[m.Name] = append(byName[m.Name], m)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if da, db := desired[a], desired[b]; da != db {
			if da {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	var out []wire.ModuleMetrics
	for i, n := range names {
		vs := byName[n]
		if i >= wire.MaxModules {
			dropped += len(vs)
			continue
		}
		slices.SortFunc(vs, func(a, b wire.ModuleMetrics) int {
			if sa, sb := a.Version == serving[n], b.Version == serving[n]; sa != sb {
				if sa {
					return -1
				}
				return 1
			}
			return b.Start.Compare(a.Start)
		})
		if len(vs) > versionsPerModule {
			dropped += len(vs) - versionsPerModule
			vs = vs[:versionsPerModule]
		}
		slices.SortFunc(vs, func(a, b wire.ModuleMetrics) int { return cmp.Compare(a.Version, b.Version) })
		out = append(out, vs...)
	}
	return out, dropped
}

// interval is the time a report's increases cover, 0 when it cannot be
// told (the report is then only the baseline of the next ones):
//   - since the previous report of the same agent process, by the agent's
//     own clock, else by the controller's arrival times;
//   - since the agent started, for a new agent process after a previous
//     one (bounded by the time since that one's last report), or for the
//     first report the controller sees of an agent that started less than
//     freshAgent before it (an older one's counters span more than a
//     trend point should).
func interval(m *wire.Metrics, prev *wire.Metrics, prevReceived, received time.Time) time.Duration {
	ok := func(d time.Duration) bool { return d > 0 && d <= maxInterval }
	sinceStart := m.Time.Sub(m.Agent.Start)
	switch {
	case prev == nil:
		if ok(sinceStart) && sinceStart <= freshAgent {
			return sinceStart
		}
		return 0
	case prev.Agent.Start.Equal(m.Agent.Start):
		if d := m.Time.Sub(prev.Time); ok(d) {
			return d
		}
		if d := received.Sub(prevReceived); ok(d) {
			return d
		}
		return 0
	}
	if d := received.Sub(prevReceived); ok(sinceStart) && ok(d) {
		return min(sinceStart, d)
	}
	return 0
}

// freshAgent is how recently an agent must have started for its first
// report's counters to count in the history.
const freshAgent = 5 * time.Minute

// apply folds an accepted report (already checked to be newer than
// d.last) into d: accumulated totals, the kept series, and the history
// increases it brings.
func (d *deviceMetrics) apply(m *wire.Metrics, received time.Time, desired map[string]bool, serving map[string]string) applyResult {
	prev := d.last
	sameAgent := prev != nil && prev.Agent.Start.Equal(m.Agent.Start)
	span := interval(m, prev, d.received, received)
	res := applyResult{modules: map[string]*store.Counts{}}

	var pa wire.AgentMetrics
	if prev != nil {
		pa = prev.Agent
	}
	a := &m.Agent
	cpu := deltaF(a.CPUSeconds, pa.CPUSeconds, sameAgent)
	d.agent.CPUSeconds += cpu
	d.agent.Reconnects += delta(a.Reconnects, pa.Reconnects, sameAgent)
	d.agent.MetricsDropped += delta(a.Dropped, pa.Dropped, sameAgent)
	d.agent.LogsDropped += delta(a.LogsDropped, pa.LogsDropped, sameAgent)
	if span > 0 {
		res.agent = store.Counts{Seconds: span.Seconds(), CPU: cpu, RSSSum: float64(a.RSSBytes), RSSN: 1}
	}

	kept, capped := keep(m.Modules, desired, serving)
	res.capped = capped
	series := make(map[seriesKey]*Series, len(kept))
	for _, mm := range kept {
		k := seriesKey{mm.Name, mm.Version}
		s := d.series[k]
		if s == nil {
			s = &Series{Totals: Totals{Latency: wire.NewHistogram()}}
		}
		inc, same := increase(&s.Last, &mm, s.Last.Start.Equal(mm.Start) && d.series[k] != nil, sameAgent && d.series[k] != nil)
		if !same && d.series[k] != nil {
			res.resets++
		}
		s.Totals.add(&inc)
		s.Last = mm
		series[k] = s
		// The part of the interval this worker ran: all of it, or since
		// it started. A worker seen for the first time that started
		// before the previous report (its series was not kept, or this is
		// the first report) is only a baseline: its counters span more
		// than this point.
		sp := span
		if !same {
			since := m.Time.Sub(mm.Start)
			switch {
			case since > 0 && since < sp:
				sp = since
			case d.series[k] == nil && prev != nil:
				sp = 0
			}
		}
		c := res.modules[mm.Name]
		if c == nil {
			c = &store.Counts{}
			res.modules[mm.Name] = c
		}
		if sp > 0 {
			inc.addTo(c)
			c.Seconds = max(c.Seconds, sp.Seconds()) // versions side by side share the time
			c.RSSSum += float64(mm.RSSBytes)
			c.RSSN++
		}
	}
	for name, c := range res.modules {
		if c.Seconds == 0 {
			delete(res.modules, name)
		}
	}
	d.series = series
	cp := *m
	cp.Modules = kept
	d.last, d.received, d.dirty = &cp, received, true
	return res
}

// increase returns the increase of every counter of cur over prev: since
// prev while the worker (sameWorker) or, for the counters kept per agent
// process, the agent (sameAgent) kept counting; the whole value after a
// restart. same reports whether the worker's counters continued.
func increase(prev, cur *wire.ModuleMetrics, sameWorker, sameAgent bool) (inc Totals, same bool) {
	same = sameWorker && cur.Requests >= prev.Requests
	inc.Requests = delta(cur.Requests, prev.Requests, same)
	for i, c := range [5][2]uint64{
		{cur.Responses1xx, prev.Responses1xx}, {cur.Responses2xx, prev.Responses2xx}, {cur.Responses3xx, prev.Responses3xx},
		{cur.Responses4xx, prev.Responses4xx}, {cur.Responses5xx, prev.Responses5xx},
	} {
		inc.Responses[i] = delta(c[0], c[1], same)
	}
	inc.Traps = delta(cur.Traps, prev.Traps, same)
	inc.Timeouts = delta(cur.Timeouts, prev.Timeouts, same)
	inc.SQLCalls = delta(cur.SQLCalls, prev.SQLCalls, same)
	inc.SQLSeconds = deltaF(cur.SQLSeconds, prev.SQLSeconds, same)
	inc.CPUSeconds = deltaF(cur.CPUSeconds, prev.CPUSeconds, same)
	inc.LogsDropped = delta(cur.LogsDropped, prev.LogsDropped, same)
	inc.WorkerRestarts = delta(cur.WorkerRestarts, prev.WorkerRestarts, sameAgent)
	inc.Rejections = delta(cur.Rejections, prev.Rejections, sameAgent)
	inc.MessagesDelivered = delta(cur.MessagesDelivered, prev.MessagesDelivered, sameAgent)
	inc.DeadLetters = delta(cur.DeadLetters, prev.DeadLetters, sameAgent)
	inc.Latency = wire.NewHistogram()
	histSame := same && len(prev.Latency.Counts) == len(cur.Latency.Counts)
	for i, c := range cur.Latency.Counts {
		var p uint64
		if histSame {
			p = prev.Latency.Counts[i]
		}
		inc.Latency.Counts[i] = delta(c, p, histSame)
	}
	var ps float64
	if histSame {
		ps = prev.Latency.Sum
	}
	inc.Latency.Sum = deltaF(cur.Latency.Sum, ps, histSame)
	return inc, same
}

func (t *Totals) add(o *Totals) {
	t.Requests += o.Requests
	for i := range t.Responses {
		t.Responses[i] += o.Responses[i]
	}
	t.Traps += o.Traps
	t.Timeouts += o.Timeouts
	t.WorkerRestarts += o.WorkerRestarts
	t.Rejections += o.Rejections
	t.SQLCalls += o.SQLCalls
	t.SQLSeconds += o.SQLSeconds
	t.CPUSeconds += o.CPUSeconds
	t.LogsDropped += o.LogsDropped
	t.MessagesDelivered += o.MessagesDelivered
	t.DeadLetters += o.DeadLetters
	t.Latency.Add(o.Latency)
}

// addTo adds the history figures of an increase to c.
func (t *Totals) addTo(c *store.Counts) {
	c.Requests += int64(t.Requests)
	c.R2xx += int64(t.Responses[1])
	c.R4xx += int64(t.Responses[3])
	c.R5xx += int64(t.Responses[4])
	c.Traps += int64(t.Traps)
	c.Timeouts += int64(t.Timeouts)
	for i, n := range t.Latency.Counts {
		c.Latency[i] += int64(n)
	}
	c.LatSum += t.Latency.Sum
	c.CPU += t.CPUSeconds
}
