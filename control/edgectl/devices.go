package edgectl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// The device life cycle: add (register, a password once), rotate (a new
// password; the old one and the live session end at once), remove
// (credentials revoked, session closed, retained topics cleared, out of
// the inventory).

// credentialFlags are the flags of device add and device rotate.
type credentialFlags struct {
	api          apiFlags
	passwordFile string
}

func (cl *cli) credentialCommand(cmd string, args []string) (*client, *credentialFlags, string, error) {
	var o credentialFlags
	fs := flagSet(cmd)
	o.api.register(fs)
	fs.StringVar(&o.passwordFile, "password-file", "", "write the password to this new `file` (mode 0600; an existing file is never overwritten) instead of printing it")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return nil, nil, "", err
	}
	if err := wantArgs(cmd, pos, "ID"); err != nil {
		return nil, nil, "", err
	}
	if err := wire.ValidateDeviceID(pos[0]); err != nil {
		return nil, nil, "", usagef(cmd, "%s: %v", cmd, err)
	}
	c, err := o.api.client(cl, cmd)
	return c, &o, pos[0], err
}

func runDeviceAdd(ctx context.Context, cl *cli, args []string) error {
	c, o, id, err := cl.credentialCommand("device add", args)
	if err != nil {
		return err
	}
	return o.issue(cl, id, "add device", func() (*wire.DeviceCredentials, error) { return c.addDevice(ctx, id) })
}

func runDeviceRotate(ctx context.Context, cl *cli, args []string) error {
	c, o, id, err := cl.credentialCommand("device rotate", args)
	if err != nil {
		return err
	}
	err = o.issue(cl, id, "rotate the password of device", func() (*wire.DeviceCredentials, error) {
		var cr wire.DeviceCredentials
		err := c.do(ctx, apiTimeout, http.MethodPost, "/devices/"+url.PathEscape(id)+"/rotate", "application/json", []byte("{}"), &cr)
		return &cr, err
	})
	if err == nil {
		fmt.Fprint(cl.stderr, restartNote(id, o.passwordFile))
	}
	return err
}

// restartNote tells the operator what a rotation leaves to do: the
// device's agent is locked out (its old password no longer works) until
// the file its --password-file names ("password_file" in agent.json)
// holds the new one and the agent restarted, as the README installs it.
func restartNote(id, newFile string) string {
	src := newFile
	if src == "" {
		src = "FILE (the password above, on one line)"
	}
	return fmt.Sprintf("%s's agent is locked out until it runs with the new password: on the board, replace the file its "+
		"--password-file names (password_file in /etc/edge-agent/agent.json) and restart it:\n"+
		"  sudo install -m 0640 -g edge-agent %s /etc/edge-agent/password\n"+
		"  sudo systemctl restart edge-agent\n", id, src)
}

// createSecret creates the file a secret is written to, mode 0600, before
// the secret is issued (a file that cannot be written costs no secret):
// an existing file is never overwritten (it may hold a secret still in
// use, as a token or a device's password).
func createSecret(flag, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s %s exists; it is never overwritten (remove it first, or choose another path)", flag, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return f, nil
}

// issue gets a password from call and prints it, or writes it to
// --password-file. The file is created (exclusively) before the call, so
// that a file that cannot be written costs no password.
func (o *credentialFlags) issue(cl *cli, id, what string, call func() (*wire.DeviceCredentials, error)) error {
	var f *os.File
	if o.passwordFile != "" {
		var err error
		if f, err = createSecret("--password-file", o.passwordFile); err != nil {
			return err
		}
	}
	cr, err := call()
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(o.passwordFile)
		}
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if f != nil {
		if err := writeSecret(f, cr.Password); err != nil {
			return fmt.Errorf("%s %s: the controller issued a password, but writing it to %s failed (run edgectl device rotate %s): %w", what, id, o.passwordFile, id, err)
		}
		if o.api.json {
			return writeJSON(cl.stdout, map[string]string{"id": cr.ID, "password_file": o.passwordFile})
		}
		fmt.Fprintf(cl.stdout, "id: %s\npassword-file: %s\n", cr.ID, o.passwordFile)
		return nil
	}
	fmt.Fprintln(cl.stderr, "the password is shown only this once: the controller keeps only its hash")
	if o.api.json {
		return writeJSON(cl.stdout, cr)
	}
	fmt.Fprintf(cl.stdout, "id: %s\npassword: %s\n", cr.ID, cr.Password)
	return nil
}

// writeSecret writes secret and a newline to f, syncs and closes it.
func writeSecret(f *os.File, pw string) error {
	_, err := f.WriteString(pw + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func runDeviceRemove(ctx context.Context, cl *cli, args []string) error {
	const cmd = "device remove"
	c, api, pos, err := cl.apiCommand(cmd, args, "ID")
	if err != nil {
		return err
	}
	id := pos[0]
	if err := wire.ValidateDeviceID(id); err != nil {
		return usagef(cmd, "%s: %v", cmd, err)
	}
	var rm wire.DeviceRemoval
	if err := c.do(ctx, apiTimeout, http.MethodDelete, "/devices/"+url.PathEscape(id), "", nil, &rm); err != nil {
		return fmt.Errorf("remove device %s: %w", id, err)
	}
	if api.json {
		return writeJSON(cl.stdout, rm)
	}
	printRemoval(cl.stdout, &rm)
	return nil
}

// printRemoval says what device remove did, and which deployments and
// rollouts went on without the device.
func printRemoval(w io.Writer, rm *wire.DeviceRemoval) {
	session := "no live session on the embedded broker (offline, or an external broker: remove the device from its password file or certificate list too)"
	if rm.SessionClosed {
		session = "its live session was closed"
	}
	fmt.Fprintf(w, "device %s removed: credentials revoked, %s, %s cleared\n", rm.ID, session, plural.Count(len(rm.Cleared), "retained topic"))
	if len(rm.Deployments) > 0 {
		fmt.Fprintf(w, "its part ended (removed) in %s: %s\n", plural.Count(len(rm.Deployments), "unfinished deployment"),
			strings.Join(rm.Deployments, ", "))
	}
	if len(rm.Rollouts) > 0 {
		fmt.Fprintf(w, "%s %s on without it: %s\n", plural.Of(len(rm.Rollouts), "rollout", "rollouts"),
			plural.Of(len(rm.Rollouts), "goes", "go"), strings.Join(rm.Rollouts, ", "))
	}
}
