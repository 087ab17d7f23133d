// Package buildinfo holds the version the three programs report, set once
// at link time for all of them:
//
//	go build -ldflags '-X github.com/edgeplane/edge/internal/buildinfo.Version=1.2.3' ./cmd/...
//
// make build and make dist compute the value with deploy/release (from git
// describe), the same string the release tarballs and Debian packages are
// named and versioned with. It is a standard-library-only leaf that
// edge-agent, edge-control and edgectl all import (tests/deps).
package buildinfo

import (
	"fmt"
	"runtime"
)

// Version is the build's version; "dev" when built without the -X flag
// (go build, go test).
var Version = "dev"

// String is the line each program prints for --version:
// "edge-control 1.2.3 linux/arm64 go1.26.8".
func String(program string) string {
	return fmt.Sprintf("%s %s %s/%s %s", program, Version, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
