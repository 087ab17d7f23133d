package edgectl

import (
	"context"
	"fmt"
	"runtime"

	"github.com/edgeplane/edge/internal/buildinfo"
)

// versionResult is edgectl version --json.
type versionResult struct {
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Go      string `json:"go"`
}

// runVersion prints edgectl's version: the release it came from (the
// Debian package's and the tarball's version), for bug reports.
func runVersion(ctx context.Context, cl *cli, args []string) error {
	const cmd = "version"
	fset := flagSet(cmd)
	jsonOut := fset.Bool("json", false, "print {version, os, arch, go} as JSON on stdout")
	pos, err := cl.parse(fset, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos); err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(cl.stdout, versionResult{buildinfo.Version, runtime.GOOS, runtime.GOARCH, runtime.Version()})
	}
	_, err = fmt.Fprintln(cl.stdout, buildinfo.String("edgectl"))
	return err
}
