// Command edge-agent runs Wasm modules on a board. See package agent/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeplane/edge/agent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
