package edgectl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/wire"
)

// runUndeploy removes a module from the desired state of the devices
// selected as push and rollback select them (POST /api/v1/undeploy), then
// waits until each device reports it no longer holds the module: the
// agent stops its worker and forgets its versions; the module's data
// folder on the device is kept. Nothing is signed: removing a module can
// make no board run code the operator did not sign.
func runUndeploy(ctx context.Context, cl *cli, args []string) error {
	const cmd = "undeploy"
	var (
		api  apiFlags
		tf   targetFlags
		wait time.Duration
	)
	fs := flagSet(cmd)
	api.register(fs)
	tf.register(fs, "undeploy from")
	fs.DurationVar(&wait, "wait", 15*time.Minute, "wait up to `DURATION` for every device to confirm the module stopped (0: do not wait)")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos, "NAME"); err != nil {
		return err
	}
	name := pos[0]
	switch {
	case wait < 0:
		return usagef(cmd, "undeploy: --wait must not be negative")
	case wire.ValidateModuleName(name) != nil:
		return usagef(cmd, "undeploy: %v", wire.ValidateModuleName(name))
	}
	if err := tf.check(cmd); err != nil {
		return err
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	var p wire.Plan
	if err := c.postJSON(ctx, "/undeploy", wire.PlanRequest{Module: name, Targets: tf.targets(), AllowUnregistered: tf.allow}, &p); err != nil {
		return fmt.Errorf("undeploy %s: %w", name, err)
	}
	for _, d := range p.Devices {
		fmt.Fprintf(cl.stderr, "%s: %s removed from the desired state\n", d.ID, removedText(name, d.Current))
	}
	stopped := map[string]bool{}
	var werr error
	if wait > 0 {
		werr = waitUndeployed(ctx, c, &p, wait, stopped, cl.stderr)
	}
	if api.json {
		if err := writeJSON(cl.stdout, p); err != nil {
			return err
		}
	} else {
		printUndeploy(cl.stdout, &p, stopped, wait > 0)
	}
	return werr
}

// removedText names the entry a device lost: "orders 1.0.0 (deployment d-...)".
func removedText(name string, v *wire.PlanVersion) string {
	if v == nil {
		return name
	}
	return fmt.Sprintf("%s %s (deployment %s)", name, v.Version, v.Deployment)
}

// waitUndeployed polls each device of p until its status no longer lists
// p.Module (the agent reports that once it stopped and forgot it),
// recording those in stopped, or until wait elapses (errTimeout, naming
// the devices that have not confirmed).
func waitUndeployed(ctx context.Context, c *client, p *wire.Plan, wait time.Duration, stopped map[string]bool, progress io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var lastErr string
	for {
		for _, d := range p.Devices {
			if stopped[d.ID] {
				continue
			}
			dev, err := c.device(wctx, d.ID)
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				dev, err = &wire.Device{ID: d.ID}, nil // never reported (--allow-unregistered): runs nothing
			}
			if err != nil {
				if wctx.Err() == nil && pollFailed(err, &lastErr, progress) {
					return fmt.Errorf("follow device %s: %w", d.ID, err)
				}
				continue
			}
			if !reportsModule(dev, p.Module) {
				stopped[d.ID] = true
				fmt.Fprintf(progress, "%s: %s\n", d.ID, wire.StateStopped)
			}
		}
		if len(stopped) == len(p.Devices) {
			return nil
		}
		select {
		case <-wctx.Done():
			return undeployWaitEnded(ctx, p, wait, stopped)
		case <-time.After(pollInterval):
		}
	}
}

// reportsModule: the device's last status lists module (serving, or an
// attempt).
func reportsModule(d *wire.Device, module string) bool {
	if d.Status == nil {
		return false
	}
	for _, ms := range d.Status.Modules {
		if ms.Name == module {
			return true
		}
	}
	return false
}

func undeployWaitEnded(ctx context.Context, p *wire.Plan, wait time.Duration, stopped map[string]bool) error {
	if ctx.Err() != nil {
		return fmt.Errorf("undeploy %s: %w", p.Module, context.Cause(ctx))
	}
	var pending []string
	for _, d := range p.Devices {
		if !stopped[d.ID] {
			pending = append(pending, d.ID)
		}
	}
	return fmt.Errorf("undeploy %s: %w after --wait %v; still reporting the module: %s (the controller keeps the new desired "+
		"state: each stops the module when it next applies it, e.g. once it reconnects)", p.Module, errTimeout, wait, strings.Join(pending, ", "))
}

// printUndeploy writes what undeploy did, per device.
func printUndeploy(w io.Writer, p *wire.Plan, stopped map[string]bool, waited bool) {
	fmt.Fprintf(w, "undeployed %s from %d device(s); each keeps the module's data folder\n", p.Module, len(p.Devices))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tREMOVED\tSERVED\tSTATE")
	for _, d := range p.Devices {
		state := "removed from the desired state"
		switch {
		case stopped[d.ID]:
			state = wire.StateStopped
		case waited:
			state = "not confirmed"
		}
		removed := "-"
		if d.Current != nil {
			removed = d.Current.Version + " (" + d.Current.Deployment + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, removed, dash(d.Serving), state)
	}
	tw.Flush()
}
