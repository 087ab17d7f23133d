package edgectl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitTimeout = 3
)

// DefaultControl is the controller address used when neither --control nor
// EDGE_CONTROL is set. It is not 8080, which the order service uses.
const DefaultControl = "http://127.0.0.1:7080"

// command is one verb (or "noun verb") of the CLI.
type command struct {
	name    string // "push", "device add"
	args    string // synopsis of arguments and main flags
	summary string
	run     func(ctx context.Context, cl *cli, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"keygen", "--out DIR [--force]", "create the operator's ed25519 signing key pair", runKeygen},
		{"push", "(FILE.wasm | oci://REGISTRY/REPO:TAG) --key KEY --version V --port P (--node ID | --label K=V)... [--waves 1,10%,100%]", "sign a module, upload it (or have the controller pull it from the registry), deploy it (in waves with a health gate) and wait for the devices", runPush},
		{"publish", "FILE.wasm oci://REGISTRY/REPO:TAG", "push a module to an OCI registry as a Wasm artifact (signs nothing; push oci://... signs and deploys it)", runPublish},
		{"devices", "", "list the fleet: per module the serving version, port, state, and the last attempt when it differs", runDevices},
		{"device add", "ID [--password-file PATH]", "register a device; prints its broker password once (or writes it to a new 0600 file)", runDeviceAdd},
		{"device rotate", "ID [--password-file PATH]", "give a device a new password; the old one and its live session end at once", runDeviceRotate},
		{"device remove", "ID", "revoke a device's credentials, close its session, clear its retained state, drop it from the inventory", runDeviceRemove},
		{"device show", "ID", "one device: modules, labels, board, agent, connection, key metrics, recent errors and events", runDeviceShow},
		{"modules", "", "each module across the fleet: versions serving and on how many devices, attempts not serving", runModules},
		{"history", "[MODULE] [--device ID] [--since D] [--step D]", "the trend the controller keeps: request rate, 5xx, p99 (or the agent's CPU and memory)", runHistory},
		{"logs", "DEVICE [MODULE] [--since D] [--max N] [-f]", "recent log lines of a device's module (or of its agent), asked of the device", runLogs},
		{"rollback", "NAME [--to VERSION] --key KEY (--node ID | --label K=V)...", "send devices back to an earlier version with a new signed statement", runRollback},
		{"undeploy", "NAME (--node ID | --label K=V)... [--wait D]", "remove a module from devices' desired state and wait until each stopped it (its data is kept)", runUndeploy},
		{"rollouts", "", "list staged rollouts, newest first", runRollouts},
		{"rollout status", "ID [--watch DURATION]", "show a staged rollout: waves, devices, gate figures", runRollout("status")},
		{"rollout pause", "ID", "start no new wave of a rollout", runRollout("pause")},
		{"rollout resume", "ID", "go on with a paused rollout (a soaking wave soaks again in full)", runRollout("resume")},
		{"rollout abort", "ID", "stop a rollout and send its updated devices back (while it rolls back: end it now)", runRollout("abort")},
		{"deployments", "", "list deployments, newest first", runDeployments},
		{"deployment cancel", "ID", "cancel a deployment on the devices that have not finished it", runDeploymentCancel},
		{"deployment", "ID", "show one deployment, per device", runDeployment},
		{"label", "ID [K=V | K-]...", "show, set (K=V) or remove (K-) a device's central labels", runLabel},
		{"quarantine list", "[DEVICE]", "show the modules devices quarantined", runQuarantineList},
		{"quarantine clear", "DEVICE MODULE", "let a device try a module's quarantined versions again", runQuarantineClear},
		{"token create", "--role read|admin --name NAME [--out FILE]", "create an operator token (admin only); printed once", runTokenCreate},
		{"token list", "", "list operator tokens: id, name, role, revoked (admin only)", runTokenList},
		{"token revoke", "ID", "revoke an operator token (admin only)", runTokenRevoke},
		{"version", "[--json]", "print edgectl's version (also --version)", runVersion},
		{"help", "[COMMAND]", "show this help, or one command's flags", nil},
	}
}

// cli carries the process's streams and environment to the commands.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// usageError is a malformed command line: exit code 2.
type usageError struct {
	cmd string // "" for the top level
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned by a command whose -h flag was given.
var errHelp = errors.New("help requested")

// Run runs edgectl with args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cl := &cli{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		printUsage(stderr)
		return ExitUsage
	}
	if args[0] != "--version" && args[0] != "-version" && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		hoisted, msg := hoistGlobals(args)
		if msg != "" {
			fmt.Fprintf(stderr, "edgectl: %s\n\n", msg)
			printUsage(stderr)
			return ExitUsage
		}
		args = hoisted
		if len(args) == 0 {
			printUsage(stderr)
			return ExitUsage
		}
	}
	switch args[0] {
	case "--version", "-version":
		args = append([]string{"version"}, args[1:]...)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1:]); c != nil && c.run != nil {
				c.run(ctx, cl, []string{"-h"})
				return ExitOK
			}
		}
		printUsage(stdout)
		return ExitOK
	}
	c := lookup(args)
	if c == nil || c.run == nil {
		fmt.Fprintf(stderr, "edgectl: unknown command %q\n\n", strings.Join(args[:min(len(args), 2)], " "))
		printUsage(stderr)
		return ExitUsage
	}
	err := c.run(ctx, cl, args[len(strings.Fields(c.name)):])
	return exitCode(err, stdout, stderr)
}

// lookup finds the command named by the first one or two words of args.
func lookup(args []string) *command {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == commands[i].name {
			return &commands[i]
		}
	}
	return nil
}

func exitCode(err error, stdout, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "edgectl: %s\n", ue.msg)
		if ue.cmd != "" {
			fmt.Fprintf(stderr, "run 'edgectl help %s' for its flags\n", ue.cmd)
		} else {
			printUsage(stderr)
		}
		return ExitUsage
	case isTimeout(err):
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return ExitTimeout
	default:
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return ExitFailed
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "edgectl: sign, push and watch Wasm modules on an edgeplane fleet.\n\n")
	fmt.Fprintf(w, "Usage:\n  edgectl [--control URL] [--ca-file FILE] [--token-file FILE] [--json] <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintf(w, `
Flags of every command that talks to the controller:
  --control URL   controller address (default: $EDGE_CONTROL, else the config file's, else %s)
  --token-file F  read the operator token from F (default: $EDGE_TOKEN, else the config file's)
  --ca-file FILE  CA certificate (PEM) an https:// controller's certificate is
                  verified with (default: $EDGE_CA_FILE, else the system's CAs)
  --json          print stable JSON (the wire API types) on stdout instead of text
These may also come before the command: edgectl --control URL push ...

Results go to stdout; progress and diagnostics to stderr.
Exit codes: 0 ok, 1 operation failed (e.g. a device rejected the module, a
newer push superseded it, a staged rollout rolled back), 2 usage error, 3
timeout (a device timed out at the deployment's deadline, or --wait elapsed).
Config file: $EDGECTL_CONFIG, else ~/.config/edgectl/config.json (mode 0600):
{"control": "URL", "token": "TOKEN"}. Flags win over the environment, the
environment over the file.
Key files: edgectl keygen writes DIR/edge.key (private, 0600, never leaves
this machine) and DIR/edge.pub (for the agents).
`, DefaultControl)
}

// flagSet returns a FlagSet for cmd whose errors and help are handled by
// parse, not printed by the flag package.
func flagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs, allowing flags after positional arguments
// ("push m.wasm --key k"), and returns the positional arguments. Everything
// after "--" is positional. On -h it prints cmd's help to cl.stdout.
func (cl *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			cl.commandHelp(fs)
			return nil, errHelp
		}
		if err != nil {
			return nil, usagef(fs.Name(), "%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func (cl *cli) commandHelp(fs *flag.FlagSet) {
	c := lookup(strings.Fields(fs.Name()))
	fmt.Fprintf(cl.stdout, "usage: edgectl %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, c.summary)
	fs.SetOutput(cl.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// wantArgs checks the number of positional arguments.
func wantArgs(cmd string, pos []string, names ...string) error {
	if len(pos) < len(names) {
		return usagef(cmd, "%s: missing %s", cmd, strings.Join(names[len(pos):], " "))
	}
	if len(pos) > len(names) {
		return usagef(cmd, "%s: unexpected argument %q", cmd, pos[len(names)])
	}
	return nil
}
