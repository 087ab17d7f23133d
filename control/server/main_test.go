package server

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/edgeplane/edge/internal/buildinfo"
)

func TestMainVersion(t *testing.T) {
	old := buildinfo.Version
	defer func() { buildinfo.Version = old }()
	buildinfo.Version = "1.2.3+git20250314.093000.d18bc0a01234"
	want := "edge-control 1.2.3+git20250314.093000.d18bc0a01234 " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version() + "\n"
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		// --version prints and exits before anything starts: the data
		// folder below does not exist and nothing listens.
		code := Main(context.Background(), append(args, "--data", "/nonexistent/edge-control"), &stdout, &stderr)
		if code != 0 || stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, stdout.String(), stderr.String(), want)
		}
	}
}
