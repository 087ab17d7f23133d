//go:build wasip1

// Command wasm is the telemetry module (package telemetry) as a Wasm
// reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o telemetry.wasm ./modules/telemetry/wasm
package main

import (
	"github.com/edgeplane/edge/modules/sdk"
	"github.com/edgeplane/edge/modules/telemetry"
)

func init() {
	telemetry.Register()
	sdk.Serve(telemetry.Handler())
}

func main() {}
