package edgectl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// pollInterval is how often push polls the deployment; tests shorten it.
var pollInterval = 300 * time.Millisecond

// push uploads the module, creates the deployment and waits for it.
func push(ctx context.Context, cl *cli, c *client, o pushOptions, m *wire.Manifest, env *wire.Envelope, src *moduleSource) error {
	if err := src.deliver(ctx, cl, c, m); err != nil {
		return err
	}
	d, err := c.deploy(ctx, wire.DeployRequest{Envelope: *env, AllowUnregistered: o.targets.allow, StopUnknown: o.stopUnknown})
	if err != nil {
		return fmt.Errorf("deploy %s %s: %w", m.Name, m.Version, err)
	}
	if d.ID == "" || (d.SHA256 != "" && d.SHA256 != m.SHA256) {
		return fmt.Errorf("deploy %s %s: controller answered with deployment %q of sha256 %q", m.Name, m.Version, d.ID, d.SHA256)
	}
	fmt.Fprintf(cl.stderr, "deployment %s created\n", d.ID)
	if o.wait > 0 {
		var werr error
		d, werr = waitDeployment(ctx, c, d, o.wait, cl.stderr)
		if werr != nil && d == nil {
			return werr
		}
		err = werr
	}
	if o.api.json {
		if jerr := writeJSON(cl.stdout, d); jerr != nil {
			return jerr
		}
	} else {
		printDeployment(cl.stdout, d)
	}
	if err == nil && o.wait > 0 {
		err = outcome(d)
	}
	return err
}

// failedState: terminal states in which the device will not run the
// version (exit 1). The other terminal states are running (exit 0) and
// timed_out (exit 3: nobody knows yet).
func failedState(s string) bool {
	return s == wire.StateRejected || s == wire.StateFailed || s == wire.StateRolledBack || s == wire.StateSuperseded ||
		s == wire.StateCancelled
}

// settled: every device is in a terminal state (wire.Terminal), which the
// controller guarantees by the deployment's deadline.
func settled(d *wire.Deployment) bool {
	if d.Done {
		return true
	}
	if len(d.Devices) == 0 {
		return false
	}
	for _, dev := range d.Devices {
		if !wire.Terminal(dev.State) {
			return false
		}
	}
	return true
}

// waitDeployment polls d until it settles or wait elapses, printing each
// device's state changes on progress. It returns the last deployment seen.
func waitDeployment(ctx context.Context, c *client, d *wire.Deployment, wait time.Duration, progress io.Writer) (*wire.Deployment, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	seen := map[string]string{}
	report := func(d *wire.Deployment) {
		for _, dev := range d.Devices {
			line := dev.Device + ": " + dev.State
			if dev.Reason != "" {
				line += ": " + dev.Reason
			}
			if seen[dev.Device] != line {
				seen[dev.Device] = line
				fmt.Fprintln(progress, line)
			}
		}
	}
	report(d)
	var lastErr string
	for !settled(d) {
		select {
		case <-wctx.Done():
			return d, waitEnded(ctx, d, wait)
		case <-time.After(pollInterval):
		}
		next, err := c.deployment(wctx, d.ID)
		if err != nil {
			if wctx.Err() != nil {
				return d, waitEnded(ctx, d, wait)
			}
			if pollFailed(err, &lastErr, progress) {
				return d, fmt.Errorf("follow deployment %s: %w", d.ID, err)
			}
			continue
		}
		d = next
		report(d)
	}
	return d, nil
}

// pollFailed reports whether err, met while polling, ends the wait: the
// controller refused the request (a 4xx other than 429). Anything else is
// transient: said once on progress (lastErr holds the last said), and
// retried.
func pollFailed(err error, lastErr *string, progress io.Writer) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != http.StatusTooManyRequests {
		return true
	}
	if err.Error() != *lastErr {
		*lastErr = err.Error()
		fmt.Fprintf(progress, "warning: %v (retrying)\n", err)
	}
	return false
}

// waitEnded explains why waiting stopped: the operator interrupted, or
// --wait elapsed (a known failure then takes precedence over the timeout).
func waitEnded(ctx context.Context, d *wire.Deployment, wait time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("deployment %s: %w", d.ID, context.Cause(ctx))
	}
	if err := failures(d); err != nil {
		return err
	}
	var pending []string
	for _, dev := range d.Devices {
		if dev.State != wire.StateRunning && dev.State != wire.StateRemoved {
			pending = append(pending, dev.Device+" ("+dev.State+")")
		}
	}
	ends := ""
	if !d.Deadline.IsZero() {
		ends = fmt.Sprintf(" (the controller ends it by %s)", d.Deadline.Local().Format(time.RFC3339))
	}
	return fmt.Errorf("deployment %s: %w after --wait %v; not running yet: %s%s", d.ID, errTimeout, wait, strings.Join(pending, ", "), ends)
}

// outcome is nil only when every targeted device runs the version. A
// device that will not run it (exit 1) takes precedence over one the
// controller timed out (exit 3).
func outcome(d *wire.Deployment) error {
	if err := failures(d); err != nil {
		return err
	}
	if len(d.Devices) == 0 {
		return fmt.Errorf("deployment %s: no device matched the targets", d.ID)
	}
	var timedOut []string
	for _, dev := range d.Devices {
		if dev.State == wire.StateTimedOut {
			timedOut = append(timedOut, dev.Device+": "+orNone(dev.Reason))
		}
	}
	if len(timedOut) > 0 {
		return fmt.Errorf("deployment %s %w on %d of %s at its deadline:\n  %s", d.ID, errTimeout, len(timedOut), plural.Count(len(d.Devices), "device"),
			strings.Join(timedOut, "\n  "))
	}
	running := 0
	for _, dev := range d.Devices {
		switch dev.State {
		case wire.StateRunning:
			running++
		case wire.StateRemoved: // no longer the fleet's: neither running nor failed
		default:
			return fmt.Errorf("deployment %s: done, but %s is %s", d.ID, dev.Device, dev.State)
		}
	}
	if running == 0 {
		return fmt.Errorf("deployment %s: every targeted device was removed from the fleet (edgectl device remove) before it ran the version", d.ID)
	}
	return nil
}

func failures(d *wire.Deployment) error {
	var failed []string
	for _, dev := range d.Devices {
		if failedState(dev.State) {
			failed = append(failed, fmt.Sprintf("%s %s: %s", dev.Device, dev.State, orNone(dev.Reason)))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("deployment %s failed on %d of %s:\n  %s", d.ID, len(failed), plural.Count(len(d.Devices), "device"), strings.Join(failed, "\n  "))
}

func orNone(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	return s
}

// printDeployment writes d as a header and a table of devices.
func printDeployment(w io.Writer, d *wire.Deployment) {
	fmt.Fprintf(w, "deployment %s: %s %s (sha256 %.12s), %s%s\n", d.ID, d.Module, d.Version, d.SHA256, summarize(d), deadlineNote(d))
	if len(d.Devices) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTATE\tUPDATED\tREASON")
	for _, dev := range d.Devices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dev.Device, dev.State, ago(dev.Updated), dev.Reason)
	}
	tw.Flush()
}

// deadlineNote says whether d is done, or when the controller ends it.
func deadlineNote(d *wire.Deployment) string {
	switch {
	case d.Done:
		return "; done"
	case d.Deadline.IsZero():
		return ""
	case time.Until(d.Deadline) > 0:
		return fmt.Sprintf("; devices not done by %s (in %s) time out", d.Deadline.Local().Format("15:04:05"),
			time.Until(d.Deadline).Round(time.Second))
	}
	return "; past its deadline: timing out"
}

// summarize counts d's devices by state: "2 running, 1 rejected".
func summarize(d *wire.Deployment) string {
	if len(d.Devices) == 0 {
		return "no devices"
	}
	n := map[string]int{}
	for _, dev := range d.Devices {
		n[dev.State]++
	}
	var parts []string
	for s, k := range n {
		parts = append(parts, fmt.Sprintf("%d %s", k, s))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ago formats t relative to now.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return t.UTC().Format(time.RFC3339)
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format(time.RFC3339)
}
