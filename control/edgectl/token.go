package edgectl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Operator tokens (wire/token.go): create, list, revoke. Every one of
// them needs an admin token.

func runTokenCreate(ctx context.Context, cl *cli, args []string) error {
	const cmd = "token create"
	var api apiFlags
	var role, name, out string
	fs := flagSet(cmd)
	api.register(fs)
	fs.StringVar(&role, "role", "", "`read` (dashboards, monitoring, /metrics) or admin (every change)")
	fs.StringVar(&name, "name", "", "who or what uses the token (e.g. grafana, prometheus, alice)")
	fs.StringVar(&out, "out", "", "write the token to this new `FILE` (mode 0600; an existing file is never overwritten) instead of printing it")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos); err != nil {
		return err
	}
	switch {
	case role == "":
		return usagef(cmd, "token create: --role read or --role admin is required")
	case role != wire.RoleRead && role != wire.RoleAdmin:
		return usagef(cmd, "token create: --role %q: want read or admin", role)
	}
	if err := wire.ValidateTokenName(name); err != nil {
		return usagef(cmd, "token create: --name: %v", err)
	}
	c, err := api.client(cl, cmd)
	if err != nil {
		return err
	}
	body, err := json.Marshal(wire.TokenRequest{Name: name, Role: role})
	if err != nil {
		return fmt.Errorf("encode token request: %w", err)
	}
	var f *os.File
	if out != "" {
		if f, err = createSecret("--out", out); err != nil {
			return err
		}
		defer f.Close()
	}
	var tc wire.TokenCreated
	if err := c.do(ctx, apiTimeout, http.MethodPost, "/tokens", "application/json", body, &tc); err != nil {
		if f != nil {
			os.Remove(out)
		}
		return fmt.Errorf("create token %s: %w", name, err)
	}
	if f != nil {
		if err := writeSecret(f, tc.Secret); err != nil {
			return fmt.Errorf("token %s created (id %s) but not written to %s: %w; revoke it with edgectl token revoke %s", name, tc.ID, out, err, tc.ID)
		}
		tc.Secret = ""
		fmt.Fprintf(cl.stderr, "token written to %s (mode 0600)\n", out)
	} else {
		fmt.Fprintln(cl.stderr, "the token is shown only this once: the controller keeps only its hash")
	}
	if api.json {
		return writeJSON(cl.stdout, tc)
	}
	fmt.Fprintf(cl.stdout, "id: %s\nname: %s\nrole: %s\n", tc.ID, tc.Name, tc.Role)
	if tc.Secret != "" {
		fmt.Fprintf(cl.stdout, "token: %s\n", tc.Secret)
	}
	return nil
}

func runTokenList(ctx context.Context, cl *cli, args []string) error {
	const cmd = "token list"
	c, api, _, err := cl.apiCommand(cmd, args)
	if err != nil {
		return err
	}
	var ts []wire.Token
	if err := c.get(ctx, "/tokens", &ts); err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	if api.json {
		return writeList(cl.stdout, ts)
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
	for _, t := range ts {
		revoked := "-"
		if t.Revoked != nil {
			revoked = t.Revoked.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Created.Local().Format(time.DateTime), revoked)
	}
	return tw.Flush()
}

func runTokenRevoke(ctx context.Context, cl *cli, args []string) error {
	const cmd = "token revoke"
	c, api, pos, err := cl.apiCommand(cmd, args, "ID")
	if err != nil {
		return err
	}
	var t wire.Token
	if err := c.do(ctx, apiTimeout, http.MethodPost, "/tokens/"+url.PathEscape(pos[0])+"/revoke", "", nil, &t); err != nil {
		return fmt.Errorf("revoke token %s: %w", pos[0], err)
	}
	if api.json {
		return writeJSON(cl.stdout, t)
	}
	fmt.Fprintf(cl.stdout, "token %s (%s, %s) revoked\n", t.ID, t.Name, t.Role)
	return nil
}

// authHint says where edgectl looked for a token when the controller
// refused it.
func (c *client) authHint(status int) string {
	switch {
	case status == http.StatusUnauthorized && c.token == "":
		return " (no token: set EDGE_TOKEN, --token-file or \"token\" in edgectl's config file; the controller wrote an admin token to admin.token in its data folder at first start)"
	case status == http.StatusUnauthorized:
		return " (the token was refused: revoked, mistyped, or for another controller)"
	}
	return ""
}
