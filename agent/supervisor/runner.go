package supervisor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgeplane/edge/agent/hostlink"
	"github.com/edgeplane/edge/agent/logring"
	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/wire"
)

// spec is one module version as the supervisor runs it.
type spec struct {
	m        *wire.Manifest
	wasmPath string
	wcfg     worker.Config
}

// runner keeps one module version running: it starts a worker process,
// watches its heartbeats, kills it when it goes silent or a guest call
// runs away, and restarts it with back-off after a crash.
type runner struct {
	s    *Supervisor
	spec spec
	ln   *os.File // the module's listener (owned by the Supervisor)

	ready   chan struct{} // closed at the first ready heartbeat
	failed  chan error    // the first start failed before ready (cap 1)
	done    chan struct{} // closed when the loop has ended
	stopReq chan struct{} // closed by stop

	mu        sync.Mutex
	proc      *proc
	hb        worker.Heartbeat
	crashes   []time.Time // within the crash window
	total     int         // crashes ever
	unhealthy bool
	everReady bool
	stopping  bool
	lastErr   string
	lastCrash string     // why the last crash happened
	live      bool       // switched in: every process of it accepts on ln
	servedAt  time.Time  // when it was switched in
	ended     writeTally // of the processes that ended
}

// writeTally is what a version's processes committed to the database.
type writeTally struct {
	writes, rows uint64
	// inexact: a process that served ended without its final heartbeat
	// (killed), so the writes of its last moments may be missing.
	inexact bool
}

type proc struct {
	cmd       *exec.Cmd
	probeAddr string
	exited    chan struct{}
	beats     chan worker.Heartbeat // closed at EOF
	oomKills  int                   // by the memory cap; set before exited closes
	gate      *os.File              // write end of the gate pipe; nil when not gated
	link      *hostlink.Conn        // the host link (fd 7); nil without Config.Link
	// Guarded by runner.mu:
	last      worker.Heartbeat    // this process's latest heartbeat
	metrics   *wire.ModuleMetrics // its latest metrics (a heartbeat carries them after a change, at least once a second)
	opened    bool                // gate opened
	accounted bool                // last counted into runner.ended
}

func (s *Supervisor) newRunner(sp spec, ln *os.File) *runner {
	r := &runner{
		s: s, spec: sp, ln: ln,
		ready: make(chan struct{}), failed: make(chan error, 1),
		done: make(chan struct{}), stopReq: make(chan struct{}),
	}
	s.track(r)
	go r.loop()
	return r
}

func (r *runner) version() string { return r.spec.m.Version }

func (r *runner) heartbeat() worker.Heartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hb
}

// serve switches the version in: its worker (and any restart of it)
// accepts on the module's listener from now on.
func (r *runner) serve() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = true
	r.servedAt = time.Now().UTC()
	if r.proc != nil {
		r.proc.open()
	}
}

// open opens p's gate. Call with runner.mu held.
func (p *proc) open() {
	if p.gate == nil || p.opened {
		return
	}
	p.opened = true
	p.gate.Write([]byte{1}) // an exited worker's closed pipe: nothing to open
}

// writes returns what the version's processes committed so far.
func (r *runner) writes() writeTally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.ended
	if p := r.proc; p != nil && !p.accounted {
		t.writes += p.last.Writes
		t.rows += p.last.RowsWritten
	}
	return t
}

// account adds the counters of p, which has exited, to the version's.
func (r *runner) account(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.accounted {
		return
	}
	p.accounted = true
	r.ended.writes += p.last.Writes
	r.ended.rows += p.last.RowsWritten
	// A worker takes requests only after a ready heartbeat; one that was
	// ready and ended without its final heartbeat may have committed more.
	if p.last.Ready && !p.last.Final {
		r.ended.inexact = true
	}
}

func (r *runner) crashCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// lastCrashReason says why the worker crashed last.
func (r *runner) lastCrashReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastCrash
}

// link returns the host link of the running worker, or nil.
func (r *runner) link() *hostlink.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	return r.proc.link
}

func (r *runner) probeAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return ""
	}
	return r.proc.probeAddr
}

func (r *runner) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

func (r *runner) loop() {
	defer close(r.done)
	defer r.s.untrack(r)
	log := r.s.log.With("module", r.spec.m.Name, "version", r.spec.m.Version)
	backoff := r.s.cfg.MinBackoff
	for {
		start := time.Now()
		p, err := r.start()
		var reason string
		if err != nil {
			reason = "start: " + err.Error()
		} else {
			r.mu.Lock()
			r.proc = p
			if r.live {
				p.open()
			}
			r.mu.Unlock()
			reason = r.watch(p)
			r.account(p)
		}
		if r.isStopping() {
			return
		}
		r.mu.Lock()
		everReady := r.everReady
		if r.lastErr != "" {
			reason += ": " + r.lastErr
		}
		r.mu.Unlock()
		if !everReady {
			// A version that never became ready is not restarted: the
			// deploy fails and the previous version keeps serving.
			r.failed <- errors.New(reason)
			return
		}
		r.crash(reason)
		log.Warn("worker crashed; restarting", "reason", reason, "backoff", backoff)
		if time.Since(start) > 10*r.s.cfg.MaxBackoff {
			backoff = r.s.cfg.MinBackoff
		}
		select {
		case <-r.stopReq:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.s.cfg.MaxBackoff)
	}
}

// crash records a crash and marks the version unhealthy at CrashLimit
// crashes within CrashWindow.
func (r *runner) crash(reason string) {
	now := time.Now()
	r.s.restarted(r.spec.m.Name, r.spec.m.Version)
	r.mu.Lock()
	r.total++
	r.lastCrash = reason
	kept := r.crashes[:0]
	for _, t := range r.crashes {
		if now.Sub(t) < r.s.cfg.CrashWindow {
			kept = append(kept, t)
		}
	}
	r.crashes = append(kept, now)
	n := len(r.crashes)
	newly := !r.unhealthy && n >= r.s.cfg.CrashLimit
	if newly {
		r.unhealthy = true
	}
	stopping := r.stopping
	r.mu.Unlock()
	if newly && !stopping {
		why := fmt.Sprintf("crash loop: %d crashes in %s (last: %s)", n, shortDuration(r.s.cfg.CrashWindow), reason)
		r.s.log.Error("module unhealthy: worker keeps crashing", "module", r.spec.m.Name,
			"version", r.spec.m.Version, "crashes", n, "window", r.s.cfg.CrashWindow, "reason", reason)
		if r.s.cfg.OnUnhealthy != nil {
			r.s.cfg.OnUnhealthy(r.spec.m.Name, r.spec.m.Version, why)
		}
	}
}

// shortDuration prints 1m rather than 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// start launches a worker process.
func (r *runner) start() (*proc, error) {
	cfgJSON, err := json.Marshal(r.spec.wcfg)
	if err != nil {
		return nil, err
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("probe listener: %w", err)
	}
	defer pln.Close()
	pf, err := pln.(*net.TCPListener).File()
	if err != nil {
		return nil, fmt.Errorf("probe listener: %w", err)
	}
	defer pf.Close()
	hbR, hbW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer hbW.Close()
	outR, outW, err := os.Pipe() // the worker's stdout and stderr
	if err != nil {
		hbR.Close()
		return nil, err
	}
	defer outW.Close()
	var gateR, gateW *os.File
	if r.spec.wcfg.Gated {
		if gateR, gateW, err = os.Pipe(); err != nil {
			hbR.Close()
			return nil, err
		}
		defer gateR.Close()
	}
	var linkConn net.Conn
	var linkW *os.File // the worker's end, fd 7
	if r.spec.wcfg.Link {
		if linkConn, linkW, err = hostlink.Pair(); err != nil {
			hbR.Close()
			return nil, err
		}
		defer linkW.Close()
	}

	newCmd := func() *exec.Cmd {
		cmd := exec.Command(r.s.cfg.Exe, r.s.cfg.Args...)
		cmd.Stdin = bytes.NewReader(cfgJSON)
		cmd.Stdout = outW
		cmd.Stderr = outW
		cmd.ExtraFiles = []*os.File{r.ln, hbW, pf} // fds 3, 4, 5
		if gateR != nil || linkW != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, gateR) // fd 6 (nil: closed in the child)
		}
		if linkW != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, linkW) // fd 7
		}
		return cmd
	}
	var cg *workerCgroup
	if r.s.mem != nil {
		if cg, err = r.s.mem.create(); err != nil {
			r.s.log.Warn("worker memory cap not applied", "module", r.spec.m.Name, "version", r.spec.m.Version, "err", err)
		}
	}
	var cmd *exec.Cmd
	if cg != nil {
		cmd, err = startIn(newCmd, cg)
		if ce := (*capError)(nil); errors.As(err, &ce) {
			r.s.log.Warn(ce.Error(), "module", r.spec.m.Name, "version", r.spec.m.Version)
			err = nil
		}
	} else {
		cmd = newCmd()
		err = startWorker(cmd)
	}
	if err != nil {
		hbR.Close()
		outR.Close()
		if gateW != nil {
			gateW.Close()
		}
		if linkConn != nil {
			linkConn.Close()
		}
		if cg != nil {
			cg.remove()
		}
		return nil, err
	}
	p := &proc{cmd: cmd, probeAddr: pln.Addr().String(), exited: make(chan struct{}), beats: make(chan worker.Heartbeat, 16), gate: gateW}
	if linkConn != nil {
		p.link = hostlink.New(linkConn)
		go p.link.Serve(func(f hostlink.Frame) { r.handleLink(p.link, f) })
	}
	go r.copyOutput(outR)
	go func() {
		defer hbR.Close()
		defer close(p.beats)
		sc := bufio.NewScanner(hbR)
		for sc.Scan() {
			var hb worker.Heartbeat
			if json.Unmarshal(sc.Bytes(), &hb) != nil {
				continue
			}
			for sent := false; !sent; {
				select {
				case p.beats <- hb:
					sent = true
				default: // the watcher is behind: drop the oldest, keep the final one
					select {
					case <-p.beats:
					default:
					}
				}
			}
		}
	}()
	go func() {
		cmd.Wait()
		if p.link != nil {
			p.link.Close() // calls waiting on the worker fail at once
		}
		if gateW != nil {
			r.mu.Lock() // open writes under it
			gateW.Close()
			r.mu.Unlock()
		}
		if cg != nil {
			p.oomKills = cg.oomKills()
			cg.remove()
		}
		close(p.exited)
	}()
	return p, nil
}

// maxOutputLine is the longest line of a worker's output read whole (a
// guest log record of 16 KiB, escaped); longer lines still reach Stderr,
// and their first part the log ring.
const maxOutputLine = 128 << 10

// copyOutput copies a worker's output to Stderr and, line by line, into
// the module's log ring, until every writer of the pipe is gone.
func (r *runner) copyOutput(out *os.File) {
	defer out.Close()
	var lw *logring.Writer
	if r.s.cfg.Logs != nil {
		lw = logring.NewWriter(r.s.cfg.Logs.Module(r.spec.m.Name), r.spec.m.Version, "worker", "pid")
	}
	br := bufio.NewReaderSize(out, maxOutputLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			r.s.cfg.Stderr.Write(line)
			if lw != nil {
				lw.Line(line)
			}
		}
		for errors.Is(err, bufio.ErrBufferFull) { // the rest of a long line
			line, err = br.ReadSlice('\n')
			r.s.cfg.Stderr.Write(line)
		}
		if err != nil {
			return
		}
	}
}

// watch follows p until it exits, killing it when its heartbeat goes
// silent or a guest call runs past the deadline + 1s. It returns why the
// process ended.
func (r *runner) watch(p *proc) string {
	cfg := &r.s.cfg
	runaway := r.spec.wcfg.Deadline() + time.Second
	var last time.Time // of the last heartbeat
	// silent is the silence the supervisor observed since the last
	// heartbeat (or the start): each tick adds the time since the
	// previous tick, but at most maxStep. A supervisor that did not run
	// for a while (stopped, a stall of the machine, swapping) did not
	// watch its workers, whose beats wait in the pipe meanwhile; counting
	// that time as their silence killed healthy workers. A worker that is
	// really silent is still killed, after Silence of observed time, even
	// by a supervisor whose every tick comes late.
	var silent time.Duration
	// serving: this process has reported ready. Until then it is loading
	// and compiling and takes no traffic, so a starved heartbeat on a busy
	// board gets FirstBeat, not Silence; ReadyTimeout bounds the start.
	serving := false
	starved := false // logged once per process
	var late lateBeat
	killed := ""
	kill := func(why string) {
		if killed == "" {
			killed = why
			p.cmd.Process.Kill()
		}
	}
	lastTick := time.Now()
	beat := func(hb worker.Heartbeat) {
		// Silence is counted from this beat, not from the tick before it.
		last, silent = time.Now(), 0
		late = lateBeat{}
		lastTick = last
		serving = serving || hb.Ready
		r.mu.Lock()
		r.hb, p.last = hb, hb
		if hb.Metrics != nil {
			p.metrics = hb.Metrics
		}
		if hb.Err != "" {
			r.lastErr = hb.Err
		}
		first := hb.Ready && !r.everReady
		if hb.Ready {
			r.everReady = true
		}
		r.mu.Unlock()
		if first {
			close(r.ready)
		}
		if time.Duration(hb.OldestCallMS)*time.Millisecond > runaway {
			kill(fmt.Sprintf("guest call running for %dms, past its deadline + 1s: killed", hb.OldestCallMS))
		}
	}
	const every = 25 * time.Millisecond
	const maxStep = 2 * every
	tick := time.NewTicker(every)
	defer tick.Stop()
	beats := p.beats
	for {
		select {
		case hb, ok := <-beats:
			if !ok {
				beats = nil
				continue
			}
			beat(hb)
		case <-p.exited:
			r.drainFinal(p, beats)
			if killed != "" {
				return killed
			}
			if p.oomKills > 0 {
				return fmt.Sprintf("worker killed at its memory cap (%d bytes): %s", r.s.cfg.WorkerMemory, p.cmd.ProcessState)
			}
			return "worker exited: " + p.cmd.ProcessState.String()
		case <-tick.C:
			// The clock, not the tick's value: a ticker keeps one tick,
			// sent before this process was stopped or starved.
			now := time.Now()
			silent += min(now.Sub(lastTick), maxStep)
			lastTick = now
			if killed != "" {
				continue
			}
			// Beats already queued count before any judgement.
		queued:
			for beats != nil {
				select {
				case hb, ok := <-beats:
					if !ok {
						beats = nil
						break queued
					}
					beat(hb)
				default:
					break queued
				}
			}
			if killed != "" {
				continue
			}
			limit := cfg.Silence
			if !serving {
				limit = max(cfg.Silence, cfg.FirstBeat)
			}
			switch {
			case last.IsZero() && silent > cfg.FirstBeat:
				kill(fmt.Sprintf("no heartbeat within %s of start: killed", cfg.FirstBeat))
			case !last.IsZero() && silent > limit:
				// A worker starved of CPU gets BusySilence (lateBeat).
				if silent <= max(limit, cfg.BusySilence) && late.starved(p.cmd.Process.Pid, now) {
					if !starved {
						starved = true
						r.s.log.Info("worker heartbeat late while it waits for a CPU; not killed", "module", r.spec.m.Name, "version", r.spec.m.Version, "pid", p.cmd.Process.Pid, "silent", silent.Round(time.Millisecond), "tolerated", cfg.BusySilence)
					}
					break
				}
				kill(fmt.Sprintf("heartbeat silent for %s: killed", time.Since(last).Round(time.Millisecond)))
			}
		}
	}
}

// drainFinal takes the beats still queued when the process has exited,
// the final one with its complete counters among them. (Bounded: a
// launcher's child could keep the pipe open.)
func (r *runner) drainFinal(p *proc, beats <-chan worker.Heartbeat) {
	drain := time.After(time.Second)
	for beats != nil {
		select {
		case hb, ok := <-beats:
			if !ok {
				return
			}
			r.mu.Lock()
			r.hb, p.last = hb, hb
			if hb.Metrics != nil {
				p.metrics = hb.Metrics
			}
			r.mu.Unlock()
		case <-drain:
			return
		}
	}
}

// stop ends the version: SIGTERM (drain) when drain is set, else SIGKILL;
// SIGKILL anyway after timeout. It waits for the loop to end.
func (r *runner) stop(drain bool, timeout time.Duration) {
	r.mu.Lock()
	already := r.stopping
	r.stopping = true
	p := r.proc
	r.mu.Unlock()
	if !already {
		close(r.stopReq)
	}
	if p != nil {
		if drain {
			p.cmd.Process.Signal(syscall.SIGTERM)
		} else {
			p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(timeout):
			p.cmd.Process.Kill()
		}
	}
	// A process being started right now is seen by the loop after it
	// registers; kill what the loop may have started since.
	for {
		select {
		case <-r.done:
			return
		case <-time.After(50 * time.Millisecond):
			r.mu.Lock()
			q := r.proc
			r.mu.Unlock()
			if q != nil && q != p {
				q.cmd.Process.Kill()
			}
		}
	}
}
