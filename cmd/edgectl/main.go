// Command edgectl is the operator's CLI: it signs modules with a key that
// never leaves this machine and pushes them through edge-control. See
// package github.com/edgeplane/edge/control/edgectl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeplane/edge/control/edgectl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := edgectl.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
