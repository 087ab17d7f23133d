package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// DefaultRolloutTick is how often the rollout loop advances every live
// rollout when Config.RolloutTick is zero.
const DefaultRolloutTick = time.Second

// gateSaveEvery bounds how often a soaking rollout's gate figures and
// accumulators are written while nothing else changes.
const gateSaveEvery = 5 * time.Second

// live is a rollout the loop drives, with its gate accumulator in memory
// (saved with the rollout: a restarted controller goes on with it).
type live struct {
	module  string
	targets map[string]bool
	acc     *gateAcc
	dirty   bool
	saved   time.Time
}

// CreateRollout checks a staged rollout and stores it; the rollout loop
// then drives it. The targets resolve now, in a fixed order (the devices
// online at creation first, each group by id) that the waves split; every
// targeted device that runs a version of the module now must be covered
// by one of the operator's rollback statements (Rollbacks), which the
// controller publishes only if the gate fails or the operator aborts.
func (f *Fleet) CreateRollout(ctx context.Context, req wire.RolloutRequest) (wire.Rollout, error) {
	gate, err := gateDefaults(req.Gate)
	if err != nil {
		return wire.Rollout{}, err
	}
	m, _, err := f.checkEnvelope(ctx, &req.Envelope)
	if err != nil {
		return wire.Rollout{}, err
	}
	if err := f.noLiveRollout(ctx, m.Name); err != nil { // the store checks again, atomically
		return wire.Rollout{}, err
	}
	v, err := f.view(ctx)
	if err != nil {
		return wire.Rollout{}, err
	}
	targets, err := v.resolve(m.Targets, req.AllowUnregistered)
	if err != nil {
		return wire.Rollout{}, fmt.Errorf("rollout %s %s: %w", m.Name, m.Version, err)
	}
	if !req.StopUnknown {
		if err := v.checkUnknown(targets, m.Name, "rollout of "+m.Name+" "+m.Version); err != nil {
			return wire.Rollout{}, err
		}
	}
	slices.SortStableFunc(targets, func(a, b string) int { return -cmpBool(v.devices[a].Online, v.devices[b].Online) })
	waves, err := wire.WaveEnds(req.Waves, len(targets))
	if err != nil {
		return wire.Rollout{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	r := &store.Rollout{Envelope: req.Envelope, Previous: map[string]string{}}
	if err := f.checkRollbacks(ctx, v, m, targets, req.Rollbacks, r); err != nil {
		return wire.Rollout{}, err
	}
	now := f.now()
	r.Rollout = wire.Rollout{ID: newRolloutID(), Module: m.Name, Version: m.Version, SHA256: m.SHA256,
		State: wire.RolloutDeploying, Created: now.UTC(), Updated: now.UTC(), Gate: gate}
	start := 0
	for _, end := range waves {
		r.Waves = append(r.Waves, wire.RolloutWave{Devices: targets[start:end], State: wire.WavePending})
		start = end
	}
	if err := f.store.CreateRollout(ctx, r); err != nil {
		return wire.Rollout{}, err
	}
	f.log.Info("rollout created", "rollout", r.ID, "module", m.Name, "version", m.Version, "waves", len(r.Waves), "devices", len(targets))
	f.kickRollouts()
	return r.Rollout, nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// gateDefaults fills and checks the gate settings.
func gateDefaults(g wire.Gate) (wire.Gate, error) {
	if g.SoakMillis == 0 {
		g.SoakMillis = wire.DefaultSoak.Milliseconds()
	}
	if g.MaxErrorRate == 0 {
		g.MaxErrorRate = wire.DefaultMaxErrorRate
	}
	if g.MaxP99Ratio == 0 {
		g.MaxP99Ratio = wire.DefaultMaxP99Ratio
	}
	if g.MinRequests == 0 {
		g.MinRequests = wire.DefaultMinRequests
	}
	if g.LowTraffic == "" {
		g.LowTraffic = wire.LowTrafficFail
	}
	switch {
	case g.SoakMillis < 0 || g.SoakMillis > (30*24*time.Hour).Milliseconds():
		return g, fmt.Errorf("%w: soak %dms: want up to 30 days", ErrBadRequest, g.SoakMillis)
	case g.MaxErrorRate < 0 || g.MaxErrorRate > 1 || math.IsNaN(g.MaxErrorRate):
		return g, fmt.Errorf("%w: max error rate %v: want 0..1", ErrBadRequest, g.MaxErrorRate)
	case g.MaxP99Ratio < 1 || math.IsInf(g.MaxP99Ratio, 0) || math.IsNaN(g.MaxP99Ratio):
		return g, fmt.Errorf("%w: max p99 ratio %v: want at least 1", ErrBadRequest, g.MaxP99Ratio)
	case g.LowTraffic != wire.LowTrafficFail && g.LowTraffic != wire.LowTrafficPass:
		return g, fmt.Errorf("%w: low traffic %q: want fail or pass", ErrBadRequest, g.LowTraffic)
	}
	return g, nil
}

// checkRollbacks checks the operator's rollback statements and records,
// per targeted device, the deployment it serves now (r.Previous: ""
// where it serves no version of the module, which a rollback then
// removes) and that a statement covers it: same module, the version and
// bytes the device serves, a higher epoch than the new version's,
// targeting the device. What the device's desired entry names does not
// count: after a failed push it names a version that never served.
func (f *Fleet) checkRollbacks(ctx context.Context, v *view, m *wire.Manifest, targets []string, envs []wire.Envelope, r *store.Rollout) error {
	if len(envs) > wire.MaxRollbacks {
		return fmt.Errorf("%w: %d rollback statements, at most %d: the targets run too many versions; roll out to smaller groups",
			ErrBadRequest, len(envs), wire.MaxRollbacks)
	}
	var rbs []*wire.Manifest
	for i := range envs {
		rb, _, err := f.checkEnvelope(ctx, &envs[i])
		if err != nil {
			return fmt.Errorf("rollback statement %d: %w", i+1, err)
		}
		if rb.Name != m.Name || rb.Epoch <= m.Epoch {
			return fmt.Errorf("%w: rollback statement %d is %s %s epoch %d: want module %s at an epoch above %d",
				ErrBadRequest, i+1, rb.Name, rb.Version, rb.Epoch, m.Name, m.Epoch)
		}
		rbs = append(rbs, rb)
	}
	r.Rollbacks = envs
	var uncovered []string
	cache := newDeployments()
	for _, id := range targets {
		sv, err := f.servingDeployment(ctx, v, cache, id, m.Name)
		if nm := (*noManifestError)(nil); errors.As(err, &nm) {
			uncovered = append(uncovered, nm.Error())
			continue
		}
		if err != nil {
			return err
		}
		if sv == nil {
			r.Previous[id] = ""
			continue
		}
		r.Previous[id] = sv.Deployment
		cur, err := wire.ParseManifest(sv.Envelope.Payload)
		if err != nil || rollbackFor(rbs, cur, id, v.labels(id)) < 0 {
			uncovered = append(uncovered, fmt.Sprintf("%s (serves %s, deployment %s)", id, versionOf(cur), sv.Deployment))
		}
	}
	if len(uncovered) > 0 {
		return fmt.Errorf("%w: no rollback statement covers %s: edgectl signs one per version the targets serve",
			ErrBadRequest, strings.Join(uncovered, ", "))
	}
	return nil
}

func versionOf(m *wire.Manifest) string {
	if m == nil {
		return "an unreadable manifest"
	}
	return m.Name + " " + m.Version
}

// rollbackFor is the index of the statement in rbs that sends device id,
// whose desired entry is cur, back to it; -1 if none.
func rollbackFor(rbs []*wire.Manifest, cur *wire.Manifest, id string, labels map[string]string) int {
	return slices.IndexFunc(rbs, func(rb *wire.Manifest) bool {
		return rb.Version == cur.Version && rb.SHA256 == cur.SHA256 && rb.Epoch > cur.Epoch && rb.Targets.Matches(id, labels)
	})
}

func newRolloutID() string {
	var b [8]byte
	rand.Read(b[:])
	return "r-" + hex.EncodeToString(b[:])
}

// noLiveRollout refuses a plain deployment of a module a rollout is
// delivering: the two would replace each other's desired entries.
func (f *Fleet) noLiveRollout(ctx context.Context, module string) error {
	rs, err := f.store.LiveRollouts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Module == module {
			return fmt.Errorf("%w: rollout %s of %s is in progress (%s): wait for it, or abort it (edgectl rollout abort %s)",
				store.ErrConflict, r.ID, module, r.State, r.ID)
		}
	}
	return nil
}

// Rollout returns one rollout.
func (f *Fleet) Rollout(ctx context.Context, id string) (wire.Rollout, error) {
	r, err := f.store.GetRollout(ctx, id)
	if err != nil {
		return wire.Rollout{}, err
	}
	return r.Rollout, nil
}

// Rollouts returns up to limit rollouts, newest first.
func (f *Fleet) Rollouts(ctx context.Context, limit int) ([]wire.Rollout, error) {
	rs, err := f.store.Rollouts(ctx, "", limit)
	if err != nil {
		return nil, err
	}
	out := []wire.Rollout{}
	for _, r := range rs {
		out = append(out, r.Rollout)
	}
	return out, nil
}

// Rollout actions of the operator.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionAbort  = "abort"
)

// RolloutAction pauses, resumes or aborts rollout id. Pause keeps the
// current wave's deployment going but starts no new wave and stops the
// gate from passing or failing; resume goes on, and a wave that was
// soaking soaks again in full (the pause may have hidden anything); abort
// sends every updated device back, as a failed gate does. An action the
// rollout's state does not allow is store.ErrConflict.
func (f *Fleet) RolloutAction(ctx context.Context, id, action string) (wire.Rollout, error) {
	f.rolloutMu.Lock()
	defer f.rolloutMu.Unlock()
	// The leader (another replica, maybe) may save a step between the
	// read and the save: read again and redo the action over it.
	for attempt := 1; ; attempt++ {
		r, err := f.rolloutAction(ctx, id, action)
		if !errors.Is(err, store.ErrStale) || attempt == 5 {
			return r, err
		}
	}
}

func (f *Fleet) rolloutAction(ctx context.Context, id, action string) (wire.Rollout, error) {
	r, err := f.store.GetRollout(ctx, id)
	if err != nil {
		return wire.Rollout{}, err
	}
	now := f.now()
	switch {
	case action == ActionPause && (r.State == wire.RolloutDeploying || r.State == wire.RolloutSoaking):
		r.Resume, r.State = r.State, wire.RolloutPaused
	case action == ActionResume && r.State == wire.RolloutPaused:
		r.State, r.Resume = r.Resume, ""
		if r.State == wire.RolloutSoaking {
			r.Waves[r.Wave].SoakStart = now.UTC()
			f.liveOf(r).acc.resetSoak()
		}
	case action == ActionAbort && r.State == wire.RolloutRollingBack:
		abortRollingBack(r)
	case action == ActionAbort && !wire.RolloutDone(r.State):
		f.startRollback(ctx, r, "aborted by the operator", true)
	case action != ActionPause && action != ActionResume && action != ActionAbort:
		return wire.Rollout{}, fmt.Errorf("%w: unknown action %q", ErrBadRequest, action)
	default:
		return r.Rollout, fmt.Errorf("%w: rollout %s is %s: cannot %s it", store.ErrConflict, id, r.State, action)
	}
	f.log.Info("rollout "+action, "rollout", id, "state", r.State)
	if err := f.saveRollout(ctx, r, now); err != nil {
		return wire.Rollout{}, err
	}
	f.kickRollouts()
	return r.Rollout, nil
}

func (f *Fleet) kickRollouts() {
	select {
	case f.rolloutKick <- struct{}{}:
	default:
	}
}

// runRollouts advances every live rollout every tick (and at once when
// one is created or acted on) until ctx ends.
func (f *Fleet) runRollouts(ctx context.Context) {
	t := time.NewTicker(f.rolloutTick)
	defer t.Stop()
	for {
		f.advanceAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.rolloutKick:
		}
	}
}

// advanceAll advances each live rollout once.
func (f *Fleet) advanceAll(ctx context.Context) {
	if !f.Leading() {
		return // the leader drives rollouts
	}
	rs, err := f.store.LiveRollouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Error("load live rollouts", "err", err)
		}
		return
	}
	ids := map[string]bool{}
	for _, r := range rs {
		ids[r.ID] = true
		f.rolloutMu.Lock()
		// Reload under the lock: an action may have changed it.
		if cur, err := f.store.GetRollout(ctx, r.ID); err == nil && !wire.RolloutDone(cur.State) && f.Leading() {
			if err := f.advance(ctx, cur); errors.Is(err, store.ErrStale) {
				f.log.Info("rollout changed by another controller during a step; the next step reads it again", "rollout", r.ID)
			} else if err != nil && ctx.Err() == nil {
				f.log.Error("advance rollout", "rollout", r.ID, "err", err)
			}
		}
		f.rolloutMu.Unlock()
	}
	f.liveMu.Lock()
	for id := range f.live {
		if !ids[id] {
			delete(f.live, id)
		}
	}
	f.liveMu.Unlock()
}

// liveOf returns the in-memory state of r, loading its saved accumulator
// the first time (after a restart).
func (f *Fleet) liveOf(r *store.Rollout) *live {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	l := f.live[r.ID]
	if l == nil {
		l = &live{module: r.Module, targets: map[string]bool{}, acc: &gateAcc{}, saved: f.now()}
		for _, w := range r.Waves {
			for _, d := range w.Devices {
				l.targets[d] = true
			}
		}
		if len(r.GateAcc) > 0 {
			if err := json.Unmarshal(r.GateAcc, l.acc); err != nil {
				f.log.Warn("saved gate figures unreadable; starting afresh", "rollout", r.ID, "err", err)
				l.acc = &gateAcc{}
			}
		}
		f.live[r.ID] = l
	}
	return l
}

// observeRollouts feeds a metrics report to the gates of the live
// rollouts that target its device.
func (f *Fleet) observeRollouts(m *wire.Metrics) {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	for _, l := range f.live {
		if l.targets[m.Device] && l.acc.observe(l.module, m, f.now()) {
			l.dirty = true
		}
	}
}

// observePresence feeds a status of device id (online or not, received
// at) to the gates of the live rollouts that target it: an outage during
// a soak is seen even when its reports show nothing wrong.
func (f *Fleet) observePresence(id string, online bool, at time.Time) {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	for _, l := range f.live {
		if l.targets[id] && l.acc.presence(id, online, at) {
			l.dirty = true
		}
	}
}

// saveRollout stores r with its gate accumulator.
func (f *Fleet) saveRollout(ctx context.Context, r *store.Rollout, now time.Time) error {
	l := f.liveOf(r)
	f.liveMu.Lock()
	b, err := json.Marshal(l.acc)
	l.dirty, l.saved = false, now
	f.liveMu.Unlock()
	if err != nil {
		return err
	}
	r.GateAcc, r.Updated = b, now.UTC()
	return f.store.SaveRollout(ctx, r)
}

// advance moves r one step; see the package doc for the state machine.
func (f *Fleet) advance(ctx context.Context, r *store.Rollout) error {
	now := f.now()
	l := f.liveOf(r)
	changed := false
	var err error
	switch r.State {
	case wire.RolloutDeploying:
		changed, err = f.advanceDeploying(ctx, r, now)
	case wire.RolloutSoaking:
		changed, err = f.advanceSoaking(ctx, r, now)
	case wire.RolloutRollingBack:
		changed, err = f.advanceRollingBack(ctx, r)
	}
	if err != nil {
		return err
	}
	f.liveMu.Lock()
	due := l.dirty && now.Sub(l.saved) >= gateSaveEvery
	f.liveMu.Unlock()
	if changed || due {
		return f.saveRollout(ctx, r, now)
	}
	return nil
}

// waveDeploymentID is the id of wave i's deployment: fixed, so a
// controller that stopped between creating it and saving the rollout
// finds it again rather than deploying twice.
func waveDeploymentID(r *store.Rollout, i int) string {
	return fmt.Sprintf("d-%s-w%d", strings.TrimPrefix(r.ID, "r-"), i+1)
}

// advanceDeploying starts the current wave's deployment, or watches it:
// a device that ends in anything but running fails the rollout; once
// every device runs the version, the wave soaks.
func (f *Fleet) advanceDeploying(ctx context.Context, r *store.Rollout, now time.Time) (bool, error) {
	w := &r.Waves[r.Wave]
	if w.Deployment == "" {
		id := waveDeploymentID(r, r.Wave)
		if _, err := f.store.Deployment(ctx, id); errors.Is(err, store.ErrNotFound) {
			m, ref, err := f.checkEnvelope(ctx, &r.Envelope)
			if err != nil {
				f.startRollback(ctx, r, fmt.Sprintf("wave %d cannot start: %v", r.Wave+1, err), false)
				return true, nil
			}
			if err := f.deploy(ctx, store.NewDeployment{ID: id, Manifest: m, Envelope: r.Envelope, Blob: ref,
				Devices: w.Devices, Rollout: r.ID}); err != nil {
				if ctx.Err() != nil {
					return false, err
				}
				// Refused for what it is (a desired state over its limit,
				// ...): retrying every tick would change nothing.
				w.State, w.Ended = wire.WaveFailed, now.UTC()
				f.startRollback(ctx, r, fmt.Sprintf("wave %d cannot start: %v", r.Wave+1, err), false)
				return true, nil
			}
		} else if err != nil {
			return false, err
		}
		w.Deployment, w.State, w.Started = id, wire.WaveDeploying, now.UTC()
		f.log.Info("rollout wave started", "rollout", r.ID, "wave", r.Wave+1, "devices", w.Devices)
		return true, nil
	}
	if bad, err := f.failedDevices(ctx, r); err != nil || bad != "" {
		if err == nil {
			w.State, w.Ended = wire.WaveFailed, now.UTC()
			f.startRollback(ctx, r, fmt.Sprintf("wave %d: %s", r.Wave+1, bad), false)
		}
		return err == nil, err
	}
	d, err := f.store.Deployment(ctx, w.Deployment)
	if err != nil || !d.Done {
		return false, err
	}
	w.State, w.SoakStart = wire.WaveSoaking, now.UTC()
	r.State = wire.RolloutSoaking
	f.liveOf(r).acc.resetSoak()
	f.log.Info("rollout wave soaking", "rollout", r.ID, "wave", r.Wave+1, "soak", r.Gate.Soak())
	return true, nil
}

// failedDevices names the devices of the waves started so far whose part
// ended failed (wire.Failed: rejected, failed, rolled back by the agent,
// timed out, superseded, cancelled; not removed from the fleet); "" if
// none.
func (f *Fleet) failedDevices(ctx context.Context, r *store.Rollout) (string, error) {
	var bad []string
	for i := 0; i <= r.Wave && i < len(r.Waves); i++ {
		if r.Waves[i].Deployment == "" {
			continue
		}
		d, err := f.store.Deployment(ctx, r.Waves[i].Deployment)
		if err != nil {
			return "", err
		}
		for _, dev := range d.Devices {
			if wire.Failed(dev.State) {
				bad = append(bad, fmt.Sprintf("%s %s: %s", dev.Device, dev.State, dev.Reason))
			}
		}
	}
	return strings.Join(bad, "; "), nil
}

// advanceSoaking evaluates the gate on the current wave: a failure sends
// the updated devices back; a pass starts the next wave, or ends the
// rollout.
func (f *Fleet) advanceSoaking(ctx context.Context, r *store.Rollout, now time.Time) (bool, error) {
	w := &r.Waves[r.Wave]
	if bad, err := f.failedDevices(ctx, r); err != nil || bad != "" {
		if err == nil {
			w.State, w.Ended = wire.WaveFailed, now.UTC()
			f.startRollback(ctx, r, fmt.Sprintf("wave %d: %s", r.Wave+1, bad), false)
		}
		return err == nil, err
	}
	in := gateInput{cfg: r.Gate, version: r.Version, soakStart: w.SoakStart, now: now}
	for i, wv := range r.Waves {
		switch {
		case i <= r.Wave:
			in.updated = append(in.updated, wv.Devices...)
		default:
			in.notYet = append(in.notYet, wv.Devices...)
		}
		in.targets = append(in.targets, wv.Devices...)
	}
	l := f.liveOf(r)
	f.liveMu.Lock()
	fig := l.acc.evaluate(in)
	f.liveMu.Unlock()
	r.Figures = &fig
	switch fig.Verdict {
	case wire.GateFail:
		w.State, w.Ended, w.Figures = wire.WaveFailed, now.UTC(), &fig
		f.startRollback(ctx, r, fmt.Sprintf("wave %d: gate failed: %s", r.Wave+1, fig.Reason), false)
		return true, nil
	case wire.GatePass:
		w.State, w.Ended, w.Figures = wire.WavePassed, now.UTC(), &fig
		f.log.Info("rollout wave passed", "rollout", r.ID, "wave", r.Wave+1, "figures", fig.Reason)
		r.Wave++
		if r.Wave == len(r.Waves) {
			r.State, r.Reason = wire.RolloutSucceeded, fmt.Sprintf("every wave passed; %s %s %s", plural.Count(len(in.targets), "device"),
				plural.Of(len(in.targets), "runs", "run"), r.Version)
			f.log.Info("rollout succeeded", "rollout", r.ID)
			return true, nil
		}
		r.State, r.Figures = wire.RolloutDeploying, nil
		return true, nil
	}
	f.liveMu.Lock()
	l.dirty = true // the figures moved on
	f.liveMu.Unlock()
	return false, nil
}

// startRollback sends every device of the waves started so far back: to
// the version its desired entry named at creation, with the operator's
// rollback statement for it, or, where the rollout installed the module,
// by removing the module from its desired state. Devices whose desired
// entry is not the rollout's any more (another push replaced it) are left
// alone. r ends aborted (the operator's abort) or rolled_back once every
// rollback deployment finished.
func (f *Fleet) startRollback(ctx context.Context, r *store.Rollout, reason string, aborted bool) {
	r.State, r.Reason, r.Resume, r.Aborted = wire.RolloutRollingBack, reason, "", aborted
	f.log.Warn("rollout rolling back", "rollout", r.ID, "reason", reason)
	endLiveWaves(r, aborted, f.now())
	var rbs []*wire.Manifest
	for i := range r.Rollbacks {
		m, _ := wire.ParseManifest(r.Rollbacks[i].Payload)
		rbs = append(rbs, m) // checked at creation
	}
	groups := map[int][]string{} // index of the rollback statement, removeIt or uncovered → devices
	for i := range r.Waves[:min(r.Wave+1, len(r.Waves))] {
		w := &r.Waves[i]
		if w.Deployment == "" {
			continue
		}
		for _, id := range w.Devices {
			e, err := f.store.DesiredEntry(ctx, id, r.Module)
			if err != nil || e == nil || e.Deployment != w.Deployment {
				f.log.Info("rollout rollback: device's desired entry replaced since; left alone", "rollout", r.ID, "device", id)
				continue
			}
			k := removeIt
			if prev := r.Previous[id]; prev != "" {
				k = f.previousRollback(ctx, rbs, prev, id)
			}
			groups[k] = append(groups[k], id)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		devs := groups[k]
		switch k {
		case removeIt:
			f.removeModule(ctx, r, devs)
			continue
		case uncovered:
			r.Reason += fmt.Sprintf("; no rollback statement covers %s any more", strings.Join(devs, ", "))
			r.Rollback = append(r.Rollback, wire.RolloutRollback{Version: "?", Devices: devs})
			continue
		}
		rb := wire.RolloutRollback{Version: rbs[k].Version, Devices: devs,
			Deployment: fmt.Sprintf("d-%s-rb%d", strings.TrimPrefix(r.ID, "r-"), k+1)}
		if _, err := f.store.Deployment(ctx, rb.Deployment); errors.Is(err, store.ErrNotFound) {
			m, ref, err := f.checkEnvelope(ctx, &r.Rollbacks[k])
			if err == nil {
				err = f.deploy(ctx, store.NewDeployment{ID: rb.Deployment, Manifest: m, Envelope: r.Rollbacks[k], Blob: ref,
					Devices: devs, Rollout: r.ID})
			}
			if err != nil {
				f.log.Error("rollout rollback deployment", "rollout", r.ID, "version", rb.Version, "err", err)
				r.Reason += fmt.Sprintf("; sending %s back to %s failed: %v", strings.Join(devs, ", "), rb.Version, err)
				rb.Deployment = ""
			}
		}
		r.Rollback = append(r.Rollback, rb)
	}
}

// endLiveWaves ends the waves still deploying or soaking when r starts
// going back: aborted (the operator's abort) or failed, so that no wave
// of an ended rollout still says it soaks. Waves never started stay
// pending.
func endLiveWaves(r *store.Rollout, aborted bool, now time.Time) {
	for i := range r.Waves {
		w := &r.Waves[i]
		if w.State != wire.WaveDeploying && w.State != wire.WaveSoaking {
			continue
		}
		w.State, w.Ended = wire.WaveFailed, now.UTC()
		if aborted {
			w.State = wire.WaveAborted
		}
	}
}

// Groups of devices startRollback sends back without a statement.
const (
	removeIt  = -1 // the rollout installed the module: remove it
	uncovered = -2 // no statement covers the device (checked at creation: not expected)
)

// previousRollback is the index of the statement that sends id back to
// deployment prev, or uncovered.
func (f *Fleet) previousRollback(ctx context.Context, rbs []*wire.Manifest, prev, id string) int {
	env, err := f.store.DeploymentEnvelope(ctx, prev)
	if err != nil {
		return uncovered
	}
	cur, err := wire.ParseManifest(env.Payload)
	if err != nil {
		return uncovered
	}
	d, _ := f.store.Device(ctx, id)
	var own map[string]string
	if d.Status != nil {
		own = d.Status.Labels
	}
	central, _ := f.store.CentralLabels(ctx, id)
	k := rollbackFor(rbs, cur, id, wire.MergeLabels(central, own))
	if k < 0 {
		return uncovered
	}
	return k
}

// removeModule takes the rollout's module out of the desired states of
// devs, which had no version of it before the rollout.
func (f *Fleet) removeModule(ctx context.Context, r *store.Rollout, devs []string) {
	rb := wire.RolloutRollback{Devices: devs}
	for _, id := range devs {
		dep := ""
		for _, w := range r.Waves {
			if slices.Contains(w.Devices, id) {
				dep = w.Deployment
			}
		}
		f.deployMu.Lock()
		ds, changed, err := f.store.RemoveModule(ctx, id, r.Module, dep, f.now())
		if err == nil && changed {
			f.publishLater([]wire.DesiredState{ds}, false)
		}
		f.deployMu.Unlock()
		if err != nil {
			r.Reason += fmt.Sprintf("; removing %s from %s failed: %v", r.Module, id, err)
		}
	}
	r.Rollback = append(r.Rollback, rb)
}

// advanceRollingBack ends r once every rollback deployment finished.
func (f *Fleet) advanceRollingBack(ctx context.Context, r *store.Rollout) (bool, error) {
	var failed []string
	for _, rb := range r.Rollback {
		if rb.Deployment == "" {
			if rb.Version != "" { // a deployment that could not be created
				failed = append(failed, rb.Devices...)
			}
			continue
		}
		d, err := f.store.Deployment(ctx, rb.Deployment)
		if err != nil {
			return false, err
		}
		if !d.Done {
			return false, nil
		}
		for _, dev := range d.Devices {
			if wire.Failed(dev.State) {
				failed = append(failed, fmt.Sprintf("%s %s: %s", dev.Device, dev.State, dev.Reason))
			}
		}
	}
	switch {
	case len(failed) > 0:
		r.State = wire.RolloutRollbackFailed
		r.Reason += "; not back on: " + strings.Join(failed, "; ")
	case r.Aborted:
		r.State = wire.RolloutAborted
	default:
		r.State = wire.RolloutRolledBack
	}
	f.log.Warn("rollout ended", "rollout", r.ID, "state", r.State, "reason", r.Reason)
	return true, nil
}
