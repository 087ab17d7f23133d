package edgectl

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// stagedOptions are push's flags for a staged rollout.
type stagedOptions struct {
	waves           string
	soak            time.Duration
	maxErrorRate    float64
	maxP99Ratio     float64
	minRequests     uint64
	lowTraffic      string
	rollbackExpires time.Duration
}

func (s *stagedOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&s.waves, "waves", "", "deliver in waves, e.g. `1,10%,50%,100%`: cumulative counts or percentages of the targeted\n"+
		"devices (online ones first, then by id), with a health gate between waves; the last must be 100%")
	fs.DurationVar(&s.soak, "soak", wire.DefaultSoak, "with --waves: how long each wave runs before the gate may pass it")
	fs.Float64Var(&s.maxErrorRate, "max-error-rate", wire.DefaultMaxErrorRate,
		"with --waves: how far the new version's 5xx share may exceed the old version's (0.01: one point)")
	fs.Float64Var(&s.maxP99Ratio, "max-p99-ratio", wire.DefaultMaxP99Ratio, "with --waves: the new version's p99 latency at most this times the old version's")
	fs.Uint64Var(&s.minRequests, "min-requests", wire.DefaultMinRequests, "with --waves: requests a version needs during the soak before the gate judges it")
	fs.StringVar(&s.lowTraffic, "low-traffic", wire.LowTrafficFail,
		"with --waves: `fail` or pass a wave whose new version saw fewer than --min-requests requests by the end of its soak")
	fs.DurationVar(&s.rollbackExpires, "rollback-expires", 7*24*time.Hour,
		"with --waves: validity of the rollback statements signed in advance (the gate can use them until then)")
}

func (s *stagedOptions) check() error {
	const cmd = "push"
	if s.waves == "" {
		return nil
	}
	switch {
	case s.soak < 0:
		return usagef(cmd, "push: --soak must not be negative")
	case s.maxErrorRate < 0 || s.maxErrorRate > 1:
		return usagef(cmd, "push: --max-error-rate %v: want 0..1 (0.01 is one percentage point)", s.maxErrorRate)
	case s.maxP99Ratio < 1:
		return usagef(cmd, "push: --max-p99-ratio %v: want at least 1", s.maxP99Ratio)
	case s.lowTraffic != wire.LowTrafficFail && s.lowTraffic != wire.LowTrafficPass:
		return usagef(cmd, "push: --low-traffic %q: want fail or pass", s.lowTraffic)
	case s.rollbackExpires <= 0:
		return usagef(cmd, "push: --rollback-expires must be positive")
	}
	// Checked before anything is signed or uploaded, as far as it can be
	// without the targets; wavesReach checks the rest against the plan.
	if _, err := wire.ParseWaves(strings.Split(s.waves, ",")); err != nil {
		return usagef(cmd, "push: --waves %s: %v", s.waves, err)
	}
	return nil
}

// wavesReach refuses, before the upload, waves that do not reach the n
// devices the plan targets (wire.WaveEnds, as the controller resolves
// them).
func wavesReach(spec string, n int) error {
	if _, err := wire.WaveEnds(strings.Split(spec, ","), n); err != nil {
		return usagef("push", "push: --waves %s: %v", spec, err)
	}
	return nil
}

func (s *stagedOptions) gate() wire.Gate {
	return wire.Gate{SoakMillis: max(1, s.soak.Milliseconds()), MaxErrorRate: s.maxErrorRate, MaxP99Ratio: s.maxP99Ratio,
		MinRequests: max(1, s.minRequests), LowTraffic: s.lowTraffic}
}

// pushStaged creates a staged rollout of the signed module: it signs, with
// it, one rollback statement per version the targeted devices run now
// (the plan's sources; each names that version one epoch higher and
// targets the devices that run it), which the controller publishes only
// if the gate fails or the operator aborts. Then it follows the rollout.
func pushStaged(ctx context.Context, cl *cli, c *client, o pushOptions, m *wire.Manifest, env *wire.Envelope,
	module *moduleSource, plan *wire.Plan, key ed25519.PrivateKey) error {
	if err := wavesReach(o.staged.waves, len(plan.Devices)); err != nil {
		return err
	}
	now := time.Now()
	var rollbacks []wire.Envelope
	for _, src := range plan.Sources {
		rb, err := resign(src, key, m.Epoch+1, wire.Targets{Nodes: src.Devices}, now, o.staged.rollbackExpires)
		if err != nil {
			return fmt.Errorf("push %s %s: rollback statement for %s %s: %w", m.Name, m.Version, m.Name, src.Version, err)
		}
		rollbacks = append(rollbacks, *rb)
	}
	for _, g := range byVersion(plan.Sources) {
		fmt.Fprintf(cl.stderr, "signed the rollback to %s %s for %s, used only if the gate fails (valid until %s)\n",
			m.Name, g.version, plural.Count(g.devices, "device"), now.Add(o.staged.rollbackExpires).UTC().Format(time.RFC3339))
	}
	if err := module.deliver(ctx, cl, c, m); err != nil {
		return err
	}
	r, err := c.createRollout(ctx, wire.RolloutRequest{Envelope: *env, Rollbacks: rollbacks,
		Waves: strings.Split(o.staged.waves, ","), Gate: o.staged.gate(), AllowUnregistered: o.targets.allow, StopUnknown: o.stopUnknown})
	if err != nil {
		return fmt.Errorf("roll out %s %s: %w", m.Name, m.Version, err)
	}
	fmt.Fprintf(cl.stderr, "rollout %s created: %s\n", r.ID, describeWaves(r))
	return followRollout(ctx, cl, c, r, o.wait, o.api.json)
}

// versionCount is how many devices run one version.
type versionCount struct {
	version string
	devices int
}

// byVersion counts the devices of srcs per version, in the order the
// versions first appear: the plan has a source per deployment, and several
// deployments (one per device, say) may have delivered the same version.
func byVersion(srcs []wire.PlanSource) []versionCount {
	var out []versionCount
	at := map[string]int{}
	for _, src := range srcs {
		i, seen := at[src.Version]
		if !seen {
			i = len(out)
			at[src.Version] = i
			out = append(out, versionCount{version: src.Version})
		}
		out[i].devices += len(src.Devices)
	}
	return out
}

// resign makes the rollback statement of src: the same module, bytes and
// settings, a new epoch, new times and targets, signed by key. src must
// verify with key's own public half (its expiry aside): edgectl never
// vouches for code it did not sign, whatever the controller answers.
func resign(src wire.PlanSource, key ed25519.PrivateKey, epoch uint64, targets wire.Targets, now time.Time, valid time.Duration) (*wire.Envelope, error) {
	old, err := wire.ParseManifest(src.Envelope.Payload)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", src.Deployment, err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if _, err := wire.NewKeyring(pub).Verify(&src.Envelope, old.Created); err != nil {
		return nil, fmt.Errorf("deployment %s (%s %s) is not signed by your key %s (%w): edgectl re-signs only what it signed",
			src.Deployment, old.Name, old.Version, wire.KeyID(pub), err)
	}
	if old.SHA256 != src.SHA256 || old.Version != src.Version {
		return nil, fmt.Errorf("deployment %s: the controller describes %s %.12s, its manifest says %s %.12s",
			src.Deployment, src.Version, src.SHA256, old.Version, old.SHA256)
	}
	m := *old
	created := now.UTC().Truncate(time.Second)
	m.Created, m.Expires, m.Epoch, m.Targets = created, created.Add(valid), epoch, targets
	m.Schema = m.LowestSchema()
	return signAndCheck(&m, key)
}

func describeWaves(r *wire.Rollout) string {
	var parts []string
	total := 0
	for _, w := range r.Waves {
		total += len(w.Devices)
		parts = append(parts, fmt.Sprint(total))
	}
	return fmt.Sprintf("%s reaching %s %s, soak %s each", plural.Count(len(r.Waves), "wave"), strings.Join(parts, ", "),
		plural.Of(total, "device", "devices"), r.Gate.Soak())
}

// followRollout polls r until it ends or wait elapses, printing each
// change (wave, device states, gate figures) on stderr, then the rollout
// on stdout. succeeded is exit 0; rolled back, aborted or a failed
// rollback 1; still going at --wait 3.
func followRollout(ctx context.Context, cl *cli, c *client, r *wire.Rollout, wait time.Duration, asJSON bool) error {
	if wait > 0 {
		var err error
		r, err = watchRollout(ctx, c, r, wait, cl.stderr)
		if err != nil && r == nil {
			return err
		}
		if err != nil {
			printRolloutResult(cl, r, asJSON)
			return err
		}
	}
	if err := printRolloutResult(cl, r, asJSON); err != nil {
		return err
	}
	return rolloutOutcome(r, wait > 0)
}

func printRolloutResult(cl *cli, r *wire.Rollout, asJSON bool) error {
	if asJSON {
		return writeJSON(cl.stdout, r)
	}
	printRollout(cl.stdout, r)
	return nil
}

func rolloutOutcome(r *wire.Rollout, waited bool) error {
	switch {
	case r.State == wire.RolloutSucceeded || !waited:
		return nil
	case wire.RolloutDone(r.State):
		return fmt.Errorf("rollout %s %s: %s", r.ID, r.State, r.Reason)
	}
	return fmt.Errorf("rollout %s: %w while %s", r.ID, errTimeout, r.State)
}

// watchRollout polls until r is done or wait elapses.
func watchRollout(ctx context.Context, c *client, r *wire.Rollout, wait time.Duration, progress io.Writer) (*wire.Rollout, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	seen := map[string]bool{}
	say := func(line string) {
		if !seen[line] {
			seen[line] = true
			fmt.Fprintln(progress, line)
		}
	}
	lastFigures := time.Time{}
	var lastErr string
	for {
		reportRollout(r, say, &lastFigures)
		reportDevices(wctx, c, r, say)
		if wire.RolloutDone(r.State) {
			return r, nil
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return r, fmt.Errorf("rollout %s: %w", r.ID, context.Cause(ctx))
			}
			return r, fmt.Errorf("rollout %s: %w after --wait %v while %s (it goes on; edgectl rollout status %s)", r.ID, errTimeout, wait, r.State, r.ID)
		case <-time.After(pollInterval):
		}
		next, err := c.rollout(wctx, r.ID)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != http.StatusTooManyRequests {
				return r, fmt.Errorf("follow rollout %s: %w", r.ID, err)
			}
			if wctx.Err() == nil && err.Error() != lastErr {
				lastErr = err.Error()
				fmt.Fprintf(progress, "warning: %v (retrying)\n", err)
			}
			continue
		}
		r = next
	}
}

// reportRollout says what changed: the state, each wave's state, and the
// gate figures (at most every 5 s while they move).
func reportRollout(r *wire.Rollout, say func(string), lastFigures *time.Time) {
	for i, w := range r.Waves {
		if w.State == wire.WavePending {
			continue
		}
		say(fmt.Sprintf("wave %d/%d (%s): %s", i+1, len(r.Waves), strings.Join(w.Devices, ", "), w.State))
		if w.Figures != nil && w.State != wire.WaveSoaking {
			say(fmt.Sprintf("wave %d gate: %s: %s", i+1, w.Figures.Verdict, w.Figures.Reason))
		}
	}
	if f := r.Figures; f != nil && r.State == wire.RolloutSoaking && time.Since(*lastFigures) >= 5*time.Second {
		*lastFigures = time.Now()
		say(fmt.Sprintf("wave %d gate at %s: %s", r.Wave+1, f.Time.Local().Format("15:04:05"), f.Reason))
	}
	if r.State == wire.RolloutPaused {
		say(fmt.Sprintf("rollout %s paused (edgectl rollout resume %s, or abort %s)", r.ID, r.ID, r.ID))
	}
	if r.State == wire.RolloutRollingBack || wire.RolloutDone(r.State) {
		say(fmt.Sprintf("rollout %s: %s: %s", r.ID, r.State, r.Reason))
	}
	for _, rb := range r.Rollback {
		to := "the module removed (it was new there)"
		if rb.Version != "" {
			to = rb.Version
			if rb.Deployment != "" {
				to += " (deployment " + rb.Deployment + ")"
			}
		}
		say(fmt.Sprintf("going back: %s → %s", strings.Join(rb.Devices, ", "), to))
	}
}

// reportDevices says each device's step in the deployments in progress:
// the current wave's, and those sending devices back.
func reportDevices(ctx context.Context, c *client, r *wire.Rollout, say func(string)) {
	var ids []string
	if r.Wave < len(r.Waves) && r.Waves[r.Wave].State == wire.WaveDeploying {
		ids = append(ids, r.Waves[r.Wave].Deployment)
	}
	for _, rb := range r.Rollback {
		if rb.Deployment != "" {
			ids = append(ids, rb.Deployment)
		}
	}
	for _, id := range ids {
		d, err := c.deployment(ctx, id)
		if err != nil {
			continue // the rollout's own state says enough
		}
		for _, dev := range d.Devices {
			line := "  " + dev.Device + ": " + dev.State
			if dev.Reason != "" {
				line += ": " + dev.Reason
			}
			say(line + " (" + d.Module + " " + d.Version + ")")
		}
	}
}

// printRollout writes r as a header, its waves and its gate figures.
func printRollout(w io.Writer, r *wire.Rollout) {
	fmt.Fprintf(w, "rollout %s: %s %s (sha256 %.12s), %s", r.ID, r.Module, r.Version, r.SHA256, r.State)
	if r.Reason != "" {
		fmt.Fprintf(w, ": %s", r.Reason)
	}
	fmt.Fprintf(w, "\ngate: soak %s, 5xx at most %.1f points above the old version, p99 at most %.2g×, %s needed, low traffic: %s\n",
		r.Gate.Soak(), 100*r.Gate.MaxErrorRate, r.Gate.MaxP99Ratio, plural.Count(r.Gate.MinRequests, "request"), r.Gate.LowTraffic)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tSTATE\tDEVICES\tDEPLOYMENT\tGATE")
	for i, wv := range r.Waves {
		gate := "-"
		if wv.Figures != nil {
			gate = wv.Figures.Verdict + ": " + wv.Figures.Reason
		} else if i == r.Wave && r.Figures != nil {
			gate = r.Figures.Verdict + ": " + r.Figures.Reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, wv.State, strings.Join(wv.Devices, ","), orDash(wv.Deployment), gate)
	}
	tw.Flush()
	for _, rb := range r.Rollback {
		to := "module removed"
		if rb.Version != "" {
			to = rb.Version + " (" + orDash(rb.Deployment) + ")"
		}
		fmt.Fprintf(w, "back: %s → %s\n", strings.Join(rb.Devices, ","), to)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runRollout is "rollout status|pause|resume|abort ID".
func runRollout(action string) func(ctx context.Context, cl *cli, args []string) error {
	return func(ctx context.Context, cl *cli, args []string) error {
		cmd := "rollout " + action
		var api apiFlags
		fs := flagSet(cmd)
		api.register(fs)
		var watch time.Duration
		if action == "status" {
			fs.DurationVar(&watch, "watch", 0, "follow the rollout up to `DURATION` (exit as push --waves does)")
		}
		pos, err := cl.parse(fs, args)
		if err != nil {
			return err
		}
		if err := wantArgs(cmd, pos, "ID"); err != nil {
			return err
		}
		c, err := api.client(cl, cmd)
		if err != nil {
			return err
		}
		var r *wire.Rollout
		if action == "status" {
			r, err = c.rollout(ctx, pos[0])
		} else {
			r, err = c.rolloutAction(ctx, pos[0], action)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", cmd, pos[0], err)
		}
		if watch > 0 {
			return followRollout(ctx, cl, c, r, watch, api.json)
		}
		return printRolloutResult(cl, r, api.json)
	}
}

func runRollouts(ctx context.Context, cl *cli, args []string) error {
	const cmd = "rollouts"
	c, api, _, err := cl.apiCommand(cmd, args)
	if err != nil {
		return err
	}
	rs, err := c.rollouts(ctx)
	if err != nil {
		return fmt.Errorf("list rollouts: %w", err)
	}
	if api.json {
		return writeJSON(cl.stdout, slices.Clip(append([]wire.Rollout{}, rs...)))
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODULE\tVERSION\tCREATED\tSTATE\tWAVE")
	for _, r := range rs {
		wave := fmt.Sprintf("%d/%d", min(r.Wave+1, len(r.Waves)), len(r.Waves))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Module, r.Version, ago(r.Created), r.State, wave)
	}
	return tw.Flush()
}
