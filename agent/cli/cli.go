// Package cli is the edge-agent command line: it parses arguments, builds
// the agent's parts and runs them. cmd/edge-agent is a thin main around Run,
// so tests drive the same code the binary runs.
//
//	edge-agent serve MODULE.wasm --http ADDR --db DSN   one module, no controller
//	edge-agent run --id ID --broker URL ...            the fleet agent
//	edge-agent status [--data DIR] [--json]            ask a running agent (admin socket)
//	edge-agent version [--json]                        (also --version)
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/edgeplane/edge/internal/buildinfo"
	"github.com/edgeplane/edge/internal/dbbind"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2 // a configuration error: flags, config file, the files they name
)

// configError marks an error in what the command was asked to do that is
// found only once it runs (a module file that cannot be read): it exits
// 2, as the errors validate finds before.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// exitCode maps the error a subcommand ended with to its exit code, the
// one place that does: 2 for a configuration error (configError, a
// malformed DSN, a SQLite file in a folder that does not exist), else 1.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(configError)), errors.Is(err, dbbind.ErrDSN), errors.Is(err, dbbind.ErrNoFolder):
		return exitUsage
	}
	return exitFail
}

const usage = `edge-agent runs Wasm modules on this board.

Usage:
  edge-agent run [flags]                 run the agent: controller, signed modules, worker processes
  edge-agent serve MODULE.wasm [flags]   run one module locally, without a controller
  edge-agent status [--data DIR] [--json]  show the running agent: broker connection, last error, serving versions
  edge-agent board [--board NAME]        show the board profile (detected, or NAME); --json, --env
  edge-agent version [--json]            print the version (also --version)
  edge-agent help                        show this help

Run "edge-agent serve -h" for the flags of serve.
`

// Run runs the command line args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "worker":
		return runWorker(ctx, args[1:], stdout, stderr)
	case "run":
		return runRun(ctx, args[1:], stdout, stderr)
	case "board":
		return runBoard(args[1:], stdout, stderr)
	case "status":
		return runStatus(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "edge-agent: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// newLogger returns the agent's logger: text on stderr at the given level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// defaultDataDir is where the agent keeps its private state: systemd's
// StateDirectory when run as a service, /var/lib/edge-agent for root, else
// a folder in the user's home.
func defaultDataDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if os.Geteuid() == 0 {
		return "/var/lib/edge-agent"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "edge-agent")
	}
	return ".edge-agent"
}

// defaultServeDir is where `edge-agent serve` keeps its compilation
// cache: edge-agent in the user's cache folder ($XDG_CACHE_HOME or
// ~/.cache on Linux), never the fleet agent's data folder, which a
// `serve` run as root would otherwise fill.
func defaultServeDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "edge-agent")
	}
	return filepath.Join(os.TempDir(), "edge-agent-cache")
}

// cacheDir is the compilation cache inside the data folder. It is keyed by
// the agent version: cached native code from another build is never read.
func cacheDir(data string) string {
	return filepath.Join(data, "cache", buildinfo.Version+"-"+runtime.GOARCH)
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runVersion prints the agent's version, as edge-control and edgectl do.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge-agent version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print {program, version, os, arch, go} as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edge-agent version: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if err := buildinfo.Print(stdout, "edge-agent", *asJSON); err != nil {
		return exitFail
	}
	return exitOK
}
