package edgectl

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgeplane/edge/wire"
)

// runDeploymentCancel cancels a deployment where devices have not
// finished it.
func runDeploymentCancel(ctx context.Context, cl *cli, args []string) error {
	const cmd = "deployment cancel"
	c, api, pos, err := cl.apiCommand(cmd, args, "ID")
	if err != nil {
		return err
	}
	res, err := c.cancelDeployment(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("cancel deployment %s: %w", pos[0], err)
	}
	if api.json {
		return writeJSON(cl.stdout, res)
	}
	for _, d := range res.Devices {
		switch {
		case d.Cancelled:
			fmt.Fprintf(cl.stdout, "%s: cancelled; desired state restored: %s\n", d.Device, d.Restored)
		default:
			fmt.Fprintf(cl.stdout, "%s: not cancelled: %s\n", d.Device, d.Note)
		}
	}
	printDeployment(cl.stdout, &res.Deployment)
	return nil
}

// runLabel shows or changes a device's central labels: "k=v" sets, "k-"
// removes. The agent's own labels win on a shared key (wire.MergeLabels).
func runLabel(ctx context.Context, cl *cli, args []string) error {
	const cmd = "label"
	var api apiFlags
	fs := flagSet(cmd)
	api.register(fs)
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef(cmd, "label: missing ID")
	}
	id := pos[0]
	var req wire.LabelRequest
	for _, a := range pos[1:] {
		if k, ok := strings.CutSuffix(a, "-"); ok && !strings.Contains(a, "=") {
			req.Remove = append(req.Remove, k)
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return usagef(cmd, "label: %q: want KEY=VALUE to set or KEY- to remove", a)
		}
		if err := wire.ValidateLabel(k, v); err != nil {
			return usagef(cmd, "label: %v", err)
		}
		if req.Set == nil {
			req.Set = map[string]string{}
		}
		req.Set[k] = v
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	var l *wire.Labels
	if len(pos) == 1 {
		l, err = c.labels(ctx, id)
	} else {
		l, err = c.setLabels(ctx, id, req)
	}
	if err != nil {
		return fmt.Errorf("labels of %s: %w", id, err)
	}
	if api.json {
		return writeJSON(cl.stdout, l)
	}
	for _, k := range l.Shadowed {
		fmt.Fprintf(cl.stderr, "warning: %s declares %s=%s itself, which wins over the central %s=%s\n",
			id, k, l.Agent[k], k, l.Central[k])
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tVALUE\tSOURCE")
	for _, k := range slices.Sorted(maps.Keys(l.Effective)) {
		src := "central"
		if _, ok := l.Agent[k]; ok {
			src = "agent"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k, l.Effective[k], src)
	}
	return tw.Flush()
}

// runQuarantineList shows the manifests devices quarantined, from their
// status reports.
func runQuarantineList(ctx context.Context, cl *cli, args []string) error {
	const cmd = "quarantine list"
	var api apiFlags
	fs := flagSet(cmd)
	api.register(fs)
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef(cmd, "quarantine list: unexpected argument %q", pos[1])
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	var devs []wire.Device
	if len(pos) == 1 {
		d, err := c.device(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("device %s: %w", pos[0], err)
		}
		devs = []wire.Device{*d}
	} else if devs, err = c.devices(ctx); err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	type row struct {
		Device string `json:"device"`
		wire.QuarantineEntry
	}
	rows := []row{}
	for _, d := range devs {
		if d.Status != nil {
			for _, q := range d.Status.Quarantine {
				rows = append(rows, row{d.ID, q})
			}
		}
	}
	if api.json {
		return writeJSON(cl.stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(cl.stderr, "no device reports a quarantined module")
		return nil
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tMODULE\tVERSION\tSHA256\tSINCE\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%s\t%s\n", r.Device, r.Module, r.Version, r.SHA256, ago(r.Since), r.Reason)
	}
	return tw.Flush()
}

// runQuarantineClear lets a device try a module's quarantined manifests
// again.
func runQuarantineClear(ctx context.Context, cl *cli, args []string) error {
	const cmd = "quarantine clear"
	c, api, pos, err := cl.apiCommand(cmd, args, "DEVICE", "MODULE")
	if err != nil {
		return err
	}
	res, err := c.clearQuarantine(ctx, pos[0], pos[1])
	if err != nil {
		return fmt.Errorf("clear quarantine of %s on %s: %w", pos[1], pos[0], err)
	}
	if api.json {
		return writeJSON(cl.stdout, res)
	}
	for _, q := range res.Cleared {
		fmt.Fprintf(cl.stdout, "%s: %s %s (sha256 %.12s) may be tried again (was: %s)\n", res.Device, q.Module, q.Version, q.SHA256, q.Reason)
	}
	fmt.Fprintf(cl.stderr, "sent in desired state generation %d; the agent applies it when it receives it\n", res.Generation)
	return nil
}
