// Command version prints the release version of the checkout it runs in
// (see package deploy/release): make build and make dist link it into the
// binaries and name the packages with it.
//
//	go run ./deploy/version
//
// Outside a git checkout it prints 0.0.0~unknown and says why on stderr; a
// malformed release tag (v1.2.3.4) is an error, exit status 1.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeplane/edge/deploy/release"
)

func main() {
	v, warning, err := release.FromGit(context.Background(), ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "version:", err)
		os.Exit(1)
	}
	if warning != nil {
		fmt.Fprintf(os.Stderr, "version: %v; using %s\n", warning, v)
	}
	fmt.Println(v)
}
