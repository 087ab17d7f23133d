// Package buildinfo holds the version the three programs report, set once
// at link time for all of them:
//
//	go build -ldflags '-X github.com/edgeplane/edge/internal/buildinfo.Version=1.2.3' ./cmd/...
//
// make build and make dist compute the value with deploy/release (from git
// describe), the same string the release tarballs and Debian packages are
// named and versioned with. It is a standard-library-only leaf that
// edge-agent, edge-control and edgectl all import (tests/deps).
//
// The three programs answer alike: `PROGRAM --version`, `-version` and
// `PROGRAM version` print String's line; adding `--json` prints Info.
package buildinfo

import (
	"encoding/json"
	"fmt"
	"io"
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

// Info is what `PROGRAM version --json` prints, the same for the three
// programs.
type Info struct {
	Program string `json:"program"`
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Go      string `json:"go"`
}

// Get returns program's Info.
func Get(program string) Info {
	return Info{Program: program, Version: Version, OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
}

// Print writes program's version to w: the line of String, or Info as
// indented JSON when asJSON is set.
func Print(w io.Writer, program string, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintln(w, String(program))
		return err
	}
	b, err := json.MarshalIndent(Get(program), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
