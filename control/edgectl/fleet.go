package edgectl

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// apiCommand parses a read-only command that only takes the controller
// flags and the named positional arguments, and returns a client for it.
func (cl *cli) apiCommand(cmd string, args []string, names ...string) (*client, apiFlags, []string, error) {
	var api apiFlags
	fs := flagSet(cmd)
	api.register(fs)
	pos, err := cl.parse(fs, args)
	if err != nil {
		return nil, api, nil, err
	}
	if err := wantArgs(cmd, pos, names...); err != nil {
		return nil, api, nil, err
	}
	c, err := api.client(cl, cmd)
	return c, api, pos, err
}

func runDeployments(ctx context.Context, cl *cli, args []string) error {
	const cmd = "deployments"
	c, api, _, err := cl.apiCommand(cmd, args)
	if err != nil {
		return err
	}
	ds, err := c.deployments(ctx)
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	if api.json {
		return writeList(cl.stdout, ds)
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODULE\tVERSION\tCREATED\tDONE\tDEVICES")
	for i := range ds {
		d := &ds[i]
		done := "no"
		if d.Done {
			done = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Module, d.Version, ago(d.Created), done, summarize(d))
	}
	return tw.Flush()
}

func runDeployment(ctx context.Context, cl *cli, args []string) error {
	const cmd = "deployment"
	c, api, pos, err := cl.apiCommand(cmd, args, "ID")
	if err != nil {
		return err
	}
	d, err := c.deployment(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("show deployment %s: %w", pos[0], err)
	}
	if api.json {
		return writeJSON(cl.stdout, d)
	}
	printDeployment(cl.stdout, d)
	return nil
}
