package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/agent/verify"
	"github.com/edgeplane/edge/wire"
)

// ErrRolledBack is wrapped by a Deployer's error when it restored the
// previous version (as opposed to failing before switching).
var ErrRolledBack = errors.New("rolled back")

// ErrConfig is wrapped by a Deployer's error when the module could not
// start because of this device's configuration, not because of the
// module: a database binding the agent does not define, a port another
// module or program holds. Such a failure is reported as failed with its
// reason and retried, and nothing is quarantined: the same manifest may
// well run once the device is fixed (and a digest-wide quarantine used to
// refuse even a corrected configuration of a binary that was serving).
var ErrConfig = errors.New("a fault of this device's configuration, not of the module (not quarantined; retried)")

// Deployer runs verified modules: the process supervisor.
type Deployer interface {
	// Deploy compiles the module at wasmPath (verified: its sha256 is
	// m.SHA256), starts it beside any running version of m.Name, probes it
	// and switches traffic to it. It returns nil once m is serving. On an
	// error the previous version (if any) must still be, or again be,
	// serving; wrap ErrRolledBack when a switch was undone. progress
	// reports intermediate states (wire.StateCompiling, StateStarting,
	// StateProbing). If ctx ends, abandon the new version.
	Deploy(ctx context.Context, m *wire.Manifest, wasmPath string, progress func(state, reason string)) error
	// Stop stops every version of module name.
	Stop(ctx context.Context, name string) error
	// Running maps module name to the version serving now.
	Running() map[string]string
	// Serving describes the version of each module serving now.
	Serving() map[string]Serving
}

// Serving is a module version a Deployer serves: what a Status reports
// as the module's version.
type Serving struct {
	Version string
	SHA256  string
	Port    int
	Since   time.Time // switched in
}

// Fetcher transfers module bytes: *session.Session.
type Fetcher interface {
	Fetch(ctx context.Context, ref *wire.BlobRef, parts session.ChunkStore) ([]byte, error)
}

// Reporter carries reports: *session.Session.
type Reporter interface {
	Report(wire.Event) error
	PublishStatus(wire.Status) error
}

// Config wires a Reconciler.
type Config struct {
	Device   string
	Labels   map[string]string
	Keys     wire.Keyring
	Store    *store.Store
	Fetcher  Fetcher
	Deployer Deployer
	Reporter Reporter
	Log      *slog.Logger
	// Status is the base of every Status published (agent version, arch,
	// board, engine); Device, Generation and Modules are filled in.
	Status wire.Status
	// Retry is the delay before a reconcile that hit a transient error
	// (no broker, stalled transfer) runs again; 30s if zero.
	Retry time.Duration
}

// Reconciler applies desired states. Use Boot once, then Run.
type Reconciler struct {
	cfg    Config
	log    *slog.Logger
	verify *verify.Verifier

	// publishMu makes a status's snapshot and its hand-over to the
	// Reporter one step: the supervisor's switch (publishOnSwitch) and
	// the end of a reconcile publish concurrently, and a snapshot taken
	// while probing, handed over after the one taken once running, was
	// the status the controller kept (a dashboard showed "not serving,
	// probing" for a version that served).
	publishMu sync.Mutex

	mu       sync.Mutex
	desired  *wire.DesiredState
	gen      int64
	reported map[string]bool              // events already reported, by key
	gaveUp   map[string]string            // deployment+sha whose bytes were bad → reason
	states   map[string]wire.ModuleStatus // latest deployment attempt, by module
	rejected map[string]uint64            // rejections by module, since New
	sick     map[string]sickNotice        // crash-looping versions, by module (Unhealthy)
	sickCh   chan struct{}                // signals sick (cap 1)
}

// New builds a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 30 * time.Second
	}
	return &Reconciler{
		cfg: cfg, log: cfg.Log,
		verify:   &verify.Verifier{Keys: cfg.Keys, Device: cfg.Device, Labels: cfg.Labels, Store: cfg.Store},
		reported: map[string]bool{}, gaveUp: map[string]string{}, states: map[string]wire.ModuleStatus{}, rejected: map[string]uint64{},
		sick: map[string]sickNotice{}, sickCh: make(chan struct{}, 1),
	}
}

// Generation is the generation of the desired state being applied: the
// session's Config.MinGeneration.
func (r *Reconciler) Generation() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// Boot checks the stored blobs and loads the last desired state, with no
// network. Run reconciles it first.
func (r *Reconciler) Boot() error {
	probs, err := r.cfg.Store.Verify()
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	for _, p := range probs {
		r.report(wire.Event{Module: p.Module, Version: p.Version, State: wire.StateFailed,
			Reason: "stored blob failed its digest check at boot: " + p.Err.Error()})
	}
	gen, raw, err := r.cfg.Store.LoadDesired()
	if errors.Is(err, store.ErrNotFound) {
		r.log.Info("no desired state on disk yet")
		return nil
	}
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	var ds wire.DesiredState
	if err := wire.Decode(raw, &ds); err != nil {
		return fmt.Errorf("boot: stored desired state: %w", err)
	}
	r.mu.Lock()
	r.desired, r.gen = &ds, gen
	r.mu.Unlock()
	r.log.Info("loaded desired state from disk", "generation", gen, "modules", len(ds.Modules))
	return nil
}

// accept records d as the desired state if it is not older than the one
// held; it reports whether it is newer (a reconcile in progress for an
// older one should be cancelled).
func (r *Reconciler) accept(d session.Desired) (newer bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.desired != nil && d.State.Generation < r.gen {
		r.log.Info("ignoring older desired state", "generation", d.State.Generation, "have", r.gen)
		return false
	}
	if err := r.cfg.Store.SaveDesired(d.State.Generation, d.Raw); err != nil {
		r.log.Error("save desired state", "err", err) // still apply it
	}
	newer = r.desired == nil || d.State.Generation > r.gen
	if newer {
		clear(r.gaveUp)
	}
	ds := d.State
	r.desired, r.gen = &ds, d.State.Generation
	return newer
}

// Run reconciles the desired state loaded by Boot, then every update,
// until ctx ends. A newer generation arriving mid-reconcile cancels it; a
// duplicate waits. A reconcile with a transient failure is retried.
// Between reconciles it handles crash loops reported by Unhealthy.
func (r *Reconciler) Run(ctx context.Context, updates <-chan session.Desired) error {
	// Say who this device is (its labels, version, board) at once: a fresh
	// agent has no desired state to reconcile, and label targets could not
	// reach it until its status named its labels.
	r.publishStatus(r.Generation())
	var pending *session.Desired
	var retry <-chan time.Time
	dirty := true
	for {
		if pending != nil {
			dirty = r.accept(*pending) || dirty
			pending = nil
		}
		r.mu.Lock()
		ds := r.desired
		r.mu.Unlock()
		if ds != nil && dirty {
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan bool, 1)
			go func() { done <- r.Reconcile(rctx, ds) }()
			var again bool
		wait:
			for {
				select {
				case again = <-done:
					break wait
				case d := <-updates:
					if d.State.Generation > ds.Generation {
						cancel()
					}
					pending = &d
				}
			}
			cancel()
			dirty, retry = false, nil
			if again {
				retry = time.After(r.cfg.Retry)
			}
			if pending != nil {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d := <-updates:
			pending, dirty = &d, true
		case <-retry:
			dirty = true
		case <-r.sickCh:
			r.healSick(ctx)
			continue // a pending retry is kept
		}
		retry = nil
	}
}

// Reconcile applies ds once and reports whether a transient failure
// calls for a retry.
func (r *Reconciler) Reconcile(ctx context.Context, ds *wire.DesiredState) (retry bool) {
	// Label targets match the agent's own labels over the central ones the
	// desired state carries (wire.MergeLabels: the agent's win).
	r.verify.Labels = wire.MergeLabels(ds.Labels, r.cfg.Labels)
	r.clearQuarantine(ds)
	want := map[string]bool{}
	anonymous := false // a rejected module whose name is unknown
	for i := range ds.Modules {
		name, again := r.module(ctx, &ds.Modules[i])
		want[name] = true
		anonymous = anonymous || name == ""
		retry = retry || again
	}
	if !anonymous { // an unreadable entry might be any module: a rejection must change nothing
		retry = r.forgetUndesired(ctx, want) || retry
	}
	if err := r.cfg.Store.Prune(); err != nil {
		r.log.Error("prune", "err", err)
	}
	r.publishStatus(ds.Generation)
	return retry
}

// forgetUndesired stops and forgets every module that left the desired
// state (edgectl undeploy, a cancel or rollout that removed it): running,
// or only known from an attempt (rejected, failed) or the store (its
// committed version could not start). Its versions are forgotten, so
// Prune removes their bytes; the replay floor and quarantine stay, and so
// does its data folder (the supervisor's DATA/modules/NAME). It reports
// whether a stop failed (retried).
func (r *Reconciler) forgetUndesired(ctx context.Context, want map[string]bool) (retry bool) {
	running := r.cfg.Deployer.Running()
	r.mu.Lock()
	gone := map[string]bool{}
	for name := range r.states {
		gone[name] = true
	}
	r.mu.Unlock()
	for name := range running {
		gone[name] = true
	}
	for _, name := range r.cfg.Store.ModuleNames() {
		if ms := r.cfg.Store.Module(name); ms.Current != "" || ms.LastGood != "" || ms.Pending != "" {
			gone[name] = true
		}
	}
	for name := range gone {
		if want[name] || name == "" {
			continue
		}
		if err := r.cfg.Deployer.Stop(ctx, name); err != nil {
			r.log.Error("stop module", "module", name, "err", err)
			retry = true
			continue
		}
		if err := r.cfg.Store.Forget(name); err != nil {
			r.log.Error("forget module", "module", name, "err", err)
			retry = true
			continue
		}
		r.log.Info("module no longer desired: stopped and forgotten (its data folder is kept)", "module", name, "was_running", running[name])
		r.report(wire.Event{Module: name, State: wire.StateStopped, Reason: "no longer desired"})
		r.mu.Lock()
		delete(r.states, name)
		r.mu.Unlock()
	}
	return retry
}

func (r *Reconciler) publishStatus(gen int64) {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	st := r.Status()
	st.Generation = gen
	if err := r.cfg.Reporter.PublishStatus(st); err != nil {
		r.log.Debug("publish status (sent on next connect)", "err", err)
	}
}

// clearQuarantine applies the operator's quarantine clears the desired
// state carries (wire.DesiredState.QuarantineClear), once each.
func (r *Reconciler) clearQuarantine(ds *wire.DesiredState) {
	for name, count := range ds.QuarantineClear {
		n, err := r.cfg.Store.ClearQuarantine(name, count)
		if err != nil {
			r.log.Error("clear quarantine", "module", name, "err", err)
			continue
		}
		if n > 0 {
			r.log.Info("quarantine cleared by the operator", "module", name, "entries", n)
			r.report(wire.Event{Module: name, State: wire.StateStopped,
				Reason: fmt.Sprintf("quarantine cleared by the operator (%d entries): failed manifests may be tried again", n)})
		}
	}
}
