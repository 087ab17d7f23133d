package e2e

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersionsAgree: the three programs answer `--version`, `-version`
// and `version` with the same line shape, and `--json` with the same JSON
// object, all naming the same build. edge-control used to refuse
// `version`, and edge-agent ignored --json.
func TestVersionsAgree(t *testing.T) {
	type info struct{ Program, Version, OS, Arch, Go string }
	var versions []string
	for _, prog := range []string{"edge-agent", "edge-control", "edgectl"} {
		path := bin(t, prog)
		var line string
		for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
			out, err := exec.Command(path, args...).CombinedOutput()
			if err != nil {
				t.Errorf("%s %v: %v\n%s", prog, args, err, out)
				continue
			}
			f := strings.Fields(string(out))
			if len(f) != 4 || f[0] != prog || f[2] != runtime.GOOS+"/"+runtime.GOARCH || !strings.HasPrefix(f[3], "go") {
				t.Errorf("%s %v = %q, want %q", prog, args, out, prog+" VERSION "+runtime.GOOS+"/"+runtime.GOARCH+" goX")
				continue
			}
			if line != "" && string(out) != line {
				t.Errorf("%s %v = %q, differs from %q", prog, args, out, line)
			}
			line = string(out)
		}
		for _, args := range [][]string{{"--version", "--json"}, {"version", "--json"}} {
			out, err := exec.Command(path, args...).Output()
			var got info
			if err != nil || json.Unmarshal(out, &got) != nil || got.Program != prog || got.Arch != runtime.GOARCH || got.Version == "" {
				t.Errorf("%s %v = %q (%v), want JSON naming %s", prog, args, out, err, prog)
				continue
			}
			if line != "" && !strings.Contains(line, " "+got.Version+" ") {
				t.Errorf("%s: JSON version %q differs from the line %q", prog, got.Version, line)
			}
			versions = append(versions, got.Version)
		}
	}
	for _, v := range versions {
		if v != versions[0] {
			t.Errorf("the programs report different versions: %q", versions)
			break
		}
	}
}
