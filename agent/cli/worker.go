package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeplane/edge/agent/worker"
)

// runWorker is the hidden `edge-agent worker` subcommand: one module version
// in its own process, started by the supervisor (see package worker). The
// config comes as JSON on stdin; SIGTERM drains it.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	level := "info"
	if len(args) == 2 && args[0] == "--log-level" {
		level = args[1]
	} else if len(args) != 0 {
		fmt.Fprintln(stderr, "edge-agent worker: started by the agent's supervisor, not by hand")
		return exitUsage
	}
	log, err := newLogger(stderr, level)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent worker: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := worker.Main(ctx, os.Stdin, log); err != nil {
		log.Error("worker failed", "err", err)
		return exitFail
	}
	return exitOK
}
