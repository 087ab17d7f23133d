//go:build !wasip1

package main

import (
	"log"
	"net/http"
	"os"

	"github.com/edgeplane/edge/modules/sdk"
)

// The native build serves on $ADDR (default 127.0.0.1:8090), its store in
// $EDGE_KV, its calls to $EDGE_CALL_<MODULE>.
func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	log.Fatal(http.ListenAndServe(addr, sdk.NativeHandler(handler())))
}
