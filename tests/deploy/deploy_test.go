// Package deploy tests the files in deploy/ with the real tools: make
// dist's tarballs through install.sh and its Debian packages through dpkg,
// each into a folder standing in for /, the systemd units with
// systemd-analyze, and the Mosquitto ACL with a real mosquitto.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
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

// serviceSection returns the [Service] settings of a unit file.
func serviceSection(t *testing.T, unit string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	section := ""
	for _, line := range strings.Split(stripComments(string(b)), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" {
			got[k] = v
		}
	}
	return got
}

// TestControlUnitHardening: edge-control's unit keeps every sandboxing
// setting of the agent's, with the same value or a stricter one.
func TestControlUnitHardening(t *testing.T) {
	agent := serviceSection(t, "edge-agent.service")
	control := serviceSection(t, "edge-control.service")
	hardening := regexp.MustCompile(`^(NoNewPrivileges|Protect.*|Private.*|Restrict.*|LockPersonality|RemoveIPC|SystemCall.*|CapabilityBoundingSet|UMask|MemoryDenyWriteExecute)$`)
	subset := func(a, b string) bool { // every word of a is in b
		for _, w := range strings.Fields(a) {
			if !strings.Contains(" "+b+" ", " "+w+" ") {
				return false
			}
		}
		return true
	}
	checked := 0
	for k, v := range agent {
		if !hardening.MatchString(k) {
			continue
		}
		checked++
		got, ok := control[k]
		switch {
		case !ok:
			t.Errorf("edge-control.service lacks the agent's %s=%s", k, v)
		case k == "CapabilityBoundingSet" || k == "RestrictAddressFamilies":
			if !subset(got, v) {
				t.Errorf("edge-control.service %s=%s, want a subset of the agent's %s", k, got, v)
			}
		case got != v:
			t.Errorf("edge-control.service %s=%s, the agent's is %s", k, got, v)
		}
	}
	if checked < 20 {
		t.Errorf("only %d hardening settings in the agent's unit: the pattern no longer matches", checked)
	}
	if control["AmbientCapabilities"] != "" {
		t.Errorf("edge-control.service grants capabilities: %s", control["AmbientCapabilities"])
	}

	// systemd's own judgement, where it can judge unit files offline.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exposure := map[string]float64{}
	level := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\w+)`)
	dir := t.TempDir()
	for _, unit := range []string{"edge-agent.service", "edge-control.service"} {
		b, _ := os.ReadFile(filepath.Join(repoRoot(), "deploy", "systemd", unit))
		p := filepath.Join(dir, unit)
		os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "ExecStart=/usr/local/bin/", "ExecStart=/bin/")), 0o644)
		out, err := exec.Command(analyze, "security", "--offline=yes", p).CombinedOutput()
		m := level.FindSubmatch(out)
		if err != nil || m == nil {
			t.Skipf("systemd-analyze security --offline: %v (systemd 250 or later needed)", err)
		}
		exposure[unit], _ = strconv.ParseFloat(string(m[1]), 64)
		if r := string(m[2]); r != "OK" && r != "SAFE" && r != "PERFECT" {
			t.Errorf("%s: systemd-analyze security rates it %s %s, want OK or better", unit, m[1], r)
		}
	}
	if exposure["edge-control.service"] > exposure["edge-agent.service"] {
		t.Errorf("edge-control.service exposure %.1f is above the agent's %.1f", exposure["edge-control.service"], exposure["edge-agent.service"])
	}
}
