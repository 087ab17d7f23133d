// Package deploy tests the files in deploy/ with the real tools: the
// install script against a folder standing in for /, the systemd units with
// systemd-analyze, and the Mosquitto ACL with a real mosquitto.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// agentBinary builds edge-agent once (or takes it from EDGE_BIN).
func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		if d := os.Getenv("EDGE_BIN"); d != "" {
			agentPath = filepath.Join(d, "edge-agent")
			return
		}
		dir, err := os.MkdirTemp("", "edge-deploy-test")
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, "edge-agent")
		cmd := exec.Command("go", "build", "-o", agentPath, "./cmd/edge-agent")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = err
			agentPath = string(out)
		}
	})
	if agentErr != nil {
		t.Fatalf("build edge-agent: %v\n%s", agentErr, agentPath)
	}
	return agentPath
}

// tool returns the path of a command, skipping the test when it is missing
// outside CI and failing in CI, where .ci/run installs it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (CI must install it)", name)
		}
		t.Skipf("%s not installed; skipping", name)
	}
	return p
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// release lays out a release folder as make dist does.
func release(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	root := repoRoot()
	copyFile(t, agentBinary(t), filepath.Join(dir, "edge-agent"), 0o755)
	copyFile(t, filepath.Join(root, "deploy", "install.sh"), filepath.Join(dir, "install.sh"), 0o755)
	copyFile(t, filepath.Join(root, "deploy", "systemd", "edge-agent.service"), filepath.Join(dir, "systemd", "edge-agent.service"), 0o644)
	copyFile(t, filepath.Join(root, "deploy", "config", "agent.json"), filepath.Join(dir, "config", "agent.json"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "ARCH"), []byte(arch+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runInstall(t *testing.T, rel string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("sh", append([]string{filepath.Join(rel, "install.sh")}, args...)...).CombinedOutput()
	return string(out), err
}

func hostArch() string {
	if runtime.GOARCH == "arm" {
		return "armv7"
	}
	return runtime.GOARCH
}

func TestInstallScript(t *testing.T) {
	rel := release(t, hostArch())
	root := t.TempDir()
	out, err := runInstall(t, rel, "--root", root, "--board", "rpi4")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "installed for rpi4") {
		t.Errorf("install output = %q", out)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{"usr/local/bin/edge-agent", 0o755},
		{"etc/systemd/system/edge-agent.service", 0o644},
		{"etc/edge-agent/agent.json", 0o640},
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s not installed: %v", f.path, err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
	}
	dropIn, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/edge-agent.service.d/board.conf"))
	if err != nil || !strings.Contains(string(dropIn), "MemoryMax=576M") || !strings.Contains(string(dropIn), "EDGE_BOARD=rpi4") {
		t.Errorf("board drop-in = %q, %v; want MemoryMax=576M (2×256+64) and EDGE_BOARD=rpi4", dropIn, err)
	}

	// Idempotent: a second run keeps the operator's edited configuration.
	cfg := filepath.Join(root, "etc/edge-agent/agent.json")
	if err := os.WriteFile(cfg, []byte(`{"id":"edited"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := runInstall(t, rel, "--root", root, "--board", "rpi4", "--no-start"); err != nil {
		t.Fatalf("second install: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(cfg); string(b) != `{"id":"edited"}` {
		t.Errorf("second install overwrote the configuration: %q", b)
	}

	if out, err := runInstall(t, rel, "uninstall", "--root", root); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	for _, gone := range []string{"usr/local/bin/edge-agent", "etc/systemd/system/edge-agent.service", "etc/systemd/system/edge-agent.service.d"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s", gone)
		}
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Errorf("uninstall removed the configuration: %v", err)
	}
	if out, err := runInstall(t, rel, "uninstall", "--purge", "--root", root); err != nil {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("purge kept the configuration")
	}
}

// TestInstallRefuses: bad input to install.sh changes nothing.
func TestInstallRefuses(t *testing.T) {
	tests := []struct {
		name string
		arch string
		args []string
		want string
	}{
		{"wrong architecture", "riscv64-not-this", nil, "this release is for riscv64-not-this"},
		{"unknown board", hostArch(), []string{"--board", "rpi9"}, "unknown board rpi9"},
		{"unknown flag", hostArch(), []string{"--frobnicate"}, "unknown argument --frobnicate"},
	}
	for _, tt := range tests {
		rel := release(t, tt.arch)
		root := t.TempDir()
		out, err := runInstall(t, rel, append([]string{"--root", root}, tt.args...)...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: err %v, output %q; want failure mentioning %q", tt.name, err, out, tt.want)
		}
		if _, err := os.Stat(filepath.Join(root, "usr/local/bin/edge-agent")); !os.IsNotExist(err) {
			t.Errorf("%s: binary installed anyway", tt.name)
		}
	}
}

// TestSystemdUnits checks the units with systemd-analyze verify, pointing
// ExecStart at a real binary (verify checks that it exists).
func TestSystemdUnits(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	agent := agentBinary(t)
	dir := t.TempDir()
	for _, unit := range []string{"edge-agent.service", "edge-control.service"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("/usr/local/bin/edge-agent", agent, "/usr/local/bin/edge-control", agent).Replace(string(b))
		for _, forbidden := range []string{"MemoryDenyWriteExecute=yes", "~@resources"} {
			if unit == "edge-agent.service" && strings.Contains(stripComments(text), forbidden) {
				t.Errorf("%s sets %s", unit, forbidden)
			}
		}
		p := filepath.Join(dir, unit)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		// Lines about the host's own units are not ours to judge.
		var ours []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, unit) {
				ours = append(ours, line)
			}
		}
		if err != nil || len(ours) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, strings.Join(ours, "\n"))
		}
	}
}

func stripComments(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
