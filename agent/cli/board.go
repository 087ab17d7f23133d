package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/edgeplane/edge/boards"
)

// serviceMemoryMiB is the systemd MemoryMax for a board: room for two
// workers at their cap (old and new version side by side during a switch)
// plus the supervisor.
func serviceMemoryMiB(p boards.Profile) int { return 2*p.WorkerMemoryMiB + 64 }

// runBoard prints the board profile: detected, or the one --board names.
// --env prints shell assignments for install.sh.
func runBoard(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge-agent board", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("board", "", "profile `name` instead of detecting it")
	asJSON := fs.Bool("json", false, "print the profile as JSON")
	asEnv := fs.Bool("env", false, "print shell variable assignments (for install.sh)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || (*asJSON && *asEnv) {
		fmt.Fprintln(stderr, "edge-agent board: takes no arguments, and one of --json or --env")
		return exitUsage
	}
	p, model, err := selectBoard(*name)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent board: %v\n", err)
		return exitFail
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(p)
	case *asEnv:
		fmt.Fprintf(stdout, "BOARD=%s\nARCH=%s\nENGINE=%s\nPOOL=%d\nMEMORY_PAGES=%d\nWORKER_MEMORY_MIB=%d\nSERVICE_MEMORY_MIB=%d\n",
			p.Name, p.Arch, p.Engine, p.Pool, p.MemoryPages, p.WorkerMemoryMiB, serviceMemoryMiB(p))
	default:
		if model != "" {
			fmt.Fprintf(stdout, "model:         %s\n", model)
		}
		fmt.Fprintf(stdout, "board:         %s (%s)\narch:          %s\nengine:        %s\npool:          %d\nmemory pages:  %d (%d MiB per instance)\nworker cap:    %d MiB\nservice cap:   %d MiB\ndata:          %s\n",
			p.Name, p.Description, p.Arch, p.Engine, p.Pool, p.MemoryPages, p.MemoryPages/16, p.WorkerMemoryMiB, serviceMemoryMiB(p), p.DataDir)
	}
	return exitOK
}

// selectBoard returns the profile called name, or the detected one when
// name is empty. The model is what detection read, for the log.
func selectBoard(name string) (boards.Profile, string, error) {
	if name != "" {
		p, err := boards.Lookup(name)
		return p, "", err
	}
	return boards.DetectHost()
}
