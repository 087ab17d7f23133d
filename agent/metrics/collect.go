package metrics

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgeplane/edge/agent/internal/procfs"
	"github.com/edgeplane/edge/wire"
)

// Sources are where a report's numbers come from. Every function is
// called once per report; a nil one contributes nothing.
type Sources struct {
	Start   time.Time         // the agent process's start
	Agent   wire.AgentMetrics // Version, Board, Arch and Engine; the rest is filled in
	DataDir string            // whose file system's space is reported

	// Modules returns the versions whose workers run, and those that
	// stopped after since (supervisor.ModuleMetrics).
	Modules func(since time.Time) []wire.ModuleMetrics
	// Serving maps module name to the version serving now.
	Serving func() map[string]string
	// Rejections counts refused manifests per module.
	Rejections func() map[string]uint64
	// Broker says whether the session is connected and how many
	// connections it lost.
	Broker func() (connected bool, lost uint64)
	// EventsQueued is the number of events waiting in the outbox.
	EventsQueued func() int
	// LogsDropped counts the agent's own log lines over its budget.
	LogsDropped func() uint64
}

// Collector makes reports from Sources.
type Collector struct {
	src Sources
}

// NewCollector returns a collector of src.
func NewCollector(src Sources) *Collector { return &Collector{src: src} }

// Collect samples everything now. Seq and Agent.Dropped are the
// Publisher's; modules are those that run now and those that stopped
// after since.
func (c *Collector) Collect(since time.Time) wire.Metrics {
	s := &c.src
	now := time.Now()
	m := wire.Metrics{Time: now.UTC(), Agent: s.Agent}
	a := &m.Agent
	a.Start = s.Start.UTC()
	if mem, err := procfs.ReadMemory(0); err == nil {
		a.RSSBytes, a.PSSBytes = mem.RSS, mem.PSS
	}
	if cpu, err := procfs.ReadCPU(0); err == nil {
		a.CPUSeconds = cpu
	}
	if s.DataDir != "" {
		if d, err := procfs.ReadDisk(s.DataDir); err == nil {
			a.DiskFree, a.DiskTotal = d.Free, d.Total
		}
	}
	if s.Broker != nil {
		a.Connected, a.Reconnects = s.Broker()
	}
	if s.EventsQueued != nil {
		a.EventsQueued = s.EventsQueued()
	}
	if s.LogsDropped != nil {
		a.LogsDropped = s.LogsDropped()
	}
	if s.Modules != nil {
		m.Modules = s.Modules(since)
	}
	c.addRejections(&m)
	return m
}

// addRejections puts each module's rejection count on the entry of its
// serving version (so adding entries up never counts them twice), or on
// an entry of its own, with no version, when nothing of it runs.
func (c *Collector) addRejections(m *wire.Metrics) {
	if c.src.Rejections == nil {
		return
	}
	rej := c.src.Rejections()
	if len(rej) == 0 {
		return
	}
	var serving map[string]string
	if c.src.Serving != nil {
		serving = c.src.Serving()
	}
	for name, n := range rej {
		i := slices.IndexFunc(m.Modules, func(e wire.ModuleMetrics) bool {
			return e.Name == name && e.Version == serving[name]
		})
		if i < 0 {
			i = slices.IndexFunc(m.Modules, func(e wire.ModuleMetrics) bool { return e.Name == name })
		}
		if i < 0 {
			m.Modules = append(m.Modules, wire.ModuleMetrics{Name: name, Start: c.src.Start.UTC(), Latency: wire.NewHistogram()})
			i = len(m.Modules) - 1
		}
		m.Modules[i].Rejections = n
	}
	slices.SortFunc(m.Modules, func(a, b wire.ModuleMetrics) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
}
