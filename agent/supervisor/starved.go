package supervisor

import (
	"time"

	"github.com/edgeplane/edge/agent/internal/procfs"
)

// lateBeat tells a starved worker from a hung one once its heartbeat is
// later than Config.Silence. A worker with a runnable thread that used
// little CPU since the heartbeat became late is waiting for a CPU (a
// loaded board): killing it would only add a restart's compile to the
// load. A worker that had the CPU and still did not beat is frozen (a
// guest the Go runtime cannot preempt holds up a stop-the-world), and a
// worker whose threads all sleep or are stopped is hung: both are killed.
type lateBeat struct {
	since time.Time     // when the heartbeat was first judged late
	cpu   time.Duration // the worker's CPU time then
}

// measureWindow is the least time over which the CPU a late worker used is
// judged (CPU times come in 10 ms units).
const measureWindow = 200 * time.Millisecond

// starved reports whether worker pid, whose heartbeat is late, is starved
// of CPU rather than frozen or hung.
func (l *lateBeat) starved(pid int, now time.Time) bool {
	if !procfs.Runnable(pid) {
		return false
	}
	sec, err := procfs.ReadCPU(pid)
	if err != nil {
		return false
	}
	cpu := time.Duration(sec * float64(time.Second))
	if l.since.IsZero() {
		l.since, l.cpu = now, cpu
		return true
	}
	window := now.Sub(l.since)
	if window < measureWindow {
		return true
	}
	return cpu-l.cpu < window/2 // less than half a CPU: it waits for one
}
