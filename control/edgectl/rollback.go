package edgectl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgeplane/edge/wire"
)

// runRollback sends devices back to an earlier version of a module with a
// new signed statement: the earlier version's manifest (re-signed only if
// it verifies with the operator's own key), one epoch above every
// statement of the module, so the agents accept it although its version
// is older, while a replay of the original manifest (or of anything
// signed before) stays refused.
func runRollback(ctx context.Context, cl *cli, args []string) error {
	const cmd = "rollback"
	var (
		api     apiFlags
		key, to string
		tf      targetFlags
		expires time.Duration
		wait    time.Duration
	)
	fs := flagSet(cmd)
	api.register(fs)
	fs.StringVar(&key, "key", "", "private key `FILE` written by edgectl keygen (required)")
	fs.StringVar(&to, "to", "", "`VERSION` to go back to (default: on each device, the version that the one it serves replaced)")
	tf.register(fs, "roll back")
	fs.DurationVar(&expires, "expires", 720*time.Hour, "validity `DURATION` of the rollback statement")
	fs.DurationVar(&wait, "wait", 15*time.Minute, "wait up to `DURATION` for every device (0: do not wait)")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos, "NAME"); err != nil {
		return err
	}
	name := pos[0]
	switch {
	case key == "":
		return usagef(cmd, "rollback: --key FILE is required: a rollback is a new statement only the key holder can sign")
	case expires <= 0 || wait < 0:
		return usagef(cmd, "rollback: --expires must be positive, --wait not negative")
	case wire.ValidateModuleName(name) != nil:
		return usagef(cmd, "rollback: %v", wire.ValidateModuleName(name))
	}
	if err := tf.check(cmd); err != nil {
		return err
	}
	allow := tf.allow
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	priv, err := readPrivateKey(key)
	if err != nil {
		return err
	}
	targets := tf.targets()
	plan, err := c.plan(ctx, wire.PlanRequest{Module: name, Targets: targets, Rollback: true, To: to, AllowUnregistered: allow})
	if err != nil {
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	if len(plan.Sources) == 0 {
		return fmt.Errorf("rollback %s: the controller found nothing to go back to", name)
	}
	epoch := plan.Epoch + 1
	now := time.Now()
	var ds []*wire.Deployment
	for _, src := range plan.Sources {
		t := targets
		if len(plan.Sources) > 1 { // several versions: each group by its nodes
			t = wire.Targets{Nodes: src.Devices}
		}
		env, err := resign(src, priv, epoch, t, now, expires)
		if err != nil {
			return fmt.Errorf("rollback %s to %s: %w", name, src.Version, err)
		}
		fmt.Fprintf(cl.stderr, "signed the rollback of %s to %s (sha256 %.12s, epoch %d) for %s\n",
			name, src.Version, src.SHA256, epoch, strings.Join(src.Devices, ", "))
		d, err := c.deploy(ctx, wire.DeployRequest{Envelope: *env, AllowUnregistered: allow})
		if err != nil {
			return fmt.Errorf("rollback %s to %s: %w", name, src.Version, err)
		}
		fmt.Fprintf(cl.stderr, "deployment %s created\n", d.ID)
		ds = append(ds, d)
	}
	var errs []error
	for _, d := range ds {
		if wait > 0 {
			var werr error
			d, werr = waitDeployment(ctx, c, d, wait, cl.stderr)
			if werr != nil {
				errs = append(errs, werr)
			} else if err := outcome(d); err != nil {
				errs = append(errs, err)
			}
		}
		if api.json {
			if err := writeJSON(cl.stdout, d); err != nil {
				return err
			}
		} else {
			printDeployment(cl.stdout, d)
		}
	}
	if len(errs) > 0 {
		return joinErrs(errs)
	}
	return nil
}

// joinErrs keeps the most telling exit code: a failure over a timeout.
func joinErrs(errs []error) error {
	for _, err := range errs {
		if !isTimeout(err) {
			return err
		}
	}
	return errs[0]
}
