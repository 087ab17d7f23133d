package edgectl

import (
	"encoding/json"
	"runtime"
	"testing"

	"github.com/edgeplane/edge/internal/buildinfo"
)

func TestVersion(t *testing.T) {
	old := buildinfo.Version
	defer func() { buildinfo.Version = old }()
	buildinfo.Version = "1.2.3~rc1"
	want := "edgectl 1.2.3~rc1 " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := run(t, args...)
		if code != ExitOK || stdout != want || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, stdout, stderr, want)
		}
	}
	code, stdout, _ := run(t, "version", "--json")
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(stdout), &got); code != ExitOK || err != nil || got.Version != "1.2.3~rc1" || got.Program != "edgectl" || got.Arch != runtime.GOARCH {
		t.Errorf("version --json: exit %d, %q (%v); want version 1.2.3~rc1", code, stdout, err)
	}
	// Extra arguments are a usage error, also behind --version.
	for _, args := range [][]string{{"version", "x"}, {"--version", "x"}} {
		if code, stdout, _ := run(t, args...); code != ExitUsage || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want 2 and nothing on stdout", args, code, stdout)
		}
	}
}
