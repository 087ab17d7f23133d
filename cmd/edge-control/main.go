// Command edge-control is the edge platform's controller: it stores signed
// module deployments, publishes each device's desired state over MQTT
// (embedding a broker by default), serves module chunks to agents and keeps
// the fleet inventory, behind an HTTP API and a small dashboard.
package main

import (
	"context"
	"os"

	"github.com/edgeplane/edge/control/server"
)

func main() {
	os.Exit(server.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
