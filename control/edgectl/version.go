package edgectl

import (
	"context"

	"github.com/edgeplane/edge/internal/buildinfo"
)

// runVersion prints edgectl's version: the release it came from (the
// Debian package's and the tarball's version), for bug reports.
func runVersion(ctx context.Context, cl *cli, args []string) error {
	const cmd = "version"
	fset := flagSet(cmd)
	jsonOut := fset.Bool("json", false, "print {program, version, os, arch, go} as JSON on stdout")
	pos, err := cl.parse(fset, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos); err != nil {
		return err
	}
	return buildinfo.Print(cl.stdout, "edgectl", *jsonOut)
}
