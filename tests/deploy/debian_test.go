package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// debFiles is what each program's .deb installs (files, with modes);
// directories are checked in TestDebInstall.
var debFiles = map[string]map[string]os.FileMode{
	"edge-agent": {
		"/usr/bin/edge-agent":                    0o755,
		"/lib/systemd/system/edge-agent.service": 0o644,
		"/etc/edge-agent/agent.json":             0o640,
		"/usr/share/doc/edge-agent/README.md":    0o644,
	},
	"edge-control": {
		"/usr/bin/edge-control":                    0o755,
		"/lib/systemd/system/edge-control.service": 0o644,
		"/etc/edge-control/edge-control.env":       0o600,
		"/usr/share/doc/edge-control/README.md":    0o644,
	},
	"edgectl": {
		"/usr/bin/edgectl":                 0o755,
		"/usr/share/doc/edgectl/README.md": 0o644,
	},
}

var debConffiles = map[string]string{
	"edge-agent":   "/etc/edge-agent/agent.json",
	"edge-control": "/etc/edge-control/edge-control.env",
}

// dpkgDeb runs dpkg-deb and returns its stdout.
func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "dpkg-deb"), args...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %v: %v", args, err)
	}
	return string(out)
}

// TestDistDebs reads every .deb of the release with dpkg-deb: control
// fields, contents and modes, conffiles, maintainer scripts, and the
// binary it carries.
func TestDistDebs(t *testing.T) {
	d := built(t)
	for _, a := range d.archs {
		for _, p := range programs {
			deb := d.path(d.debs[p+"/"+a])
			fields := map[string]string{}
			for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Description"} {
				fields[f] = strings.TrimSpace(dpkgDeb(t, "--field", deb, f))
			}
			depends := "passwd"
			if p == "edgectl" {
				depends = ""
			}
			if fields["Package"] != p || fields["Version"] != d.version || fields["Architecture"] != archs[a].deb || fields["Depends"] != depends || fields["Description"] == "" {
				t.Errorf("%s: fields %q; want Package %s, Version %s, Architecture %s, Depends %q", deb, fields, p, d.version, archs[a].deb, depends)
			}

			// Contents: exactly the expected files, with their modes.
			got := map[string]os.FileMode{}
			for _, line := range strings.Split(dpkgDeb(t, "--contents", deb), "\n") {
				fs := strings.Fields(line)
				if len(fs) < 6 || !strings.HasPrefix(fs[0], "-") {
					continue
				}
				got[strings.TrimPrefix(fs[5], ".")] = parseMode(fs[0])
				if fs[1] != "root/root" {
					t.Errorf("%s: %s owned by %s", deb, fs[5], fs[1])
				}
			}
			if !reflect.DeepEqual(got, debFiles[p]) {
				t.Errorf("%s installs %v, want %v", deb, got, debFiles[p])
			}

			ctl := t.TempDir()
			dpkgDeb(t, "--control", deb, ctl)
			conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
			if want := debConffiles[p]; strings.TrimSpace(string(conffiles)) != want {
				t.Errorf("%s: conffiles %q, want %q", deb, conffiles, want)
			}
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				script := filepath.Join(ctl, s)
				b, err := os.ReadFile(script)
				if p == "edgectl" {
					if err == nil {
						t.Errorf("%s has a %s; edgectl needs none", deb, s)
					}
					continue
				}
				if err != nil || bytes.Contains(b, []byte("@NAME@")) || !bytes.Contains(b, []byte("name="+p+"\n")) {
					t.Errorf("%s %s: %v; want the script with name=%s", deb, s, err, p)
				}
				if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
					t.Errorf("%s %s: sh -n: %v %s", deb, s, err, out)
				}
			}

			root := t.TempDir()
			dpkgDeb(t, "--extract", deb, root)
			checkBinary(t, d, filepath.Join(root, "usr/bin", p), p, a)
			if unit := filepath.Join(root, "lib/systemd/system", p+".service"); debConffiles[p] != "" {
				if text := readFile(t, root, "lib/systemd/system/"+p+".service"); !strings.Contains(text, "ExecStart=/usr/bin/"+p+" ") || strings.Contains(stripComments(text), "/usr/local/") {
					t.Errorf("%s: unit %s must run /usr/bin/%s:\n%s", deb, unit, p, text)
				}
			}
		}
	}
}

// parseMode reads the permission bits of an ls-style mode (-rwxr-x---).
func parseMode(s string) os.FileMode {
	var m os.FileMode
	for i, c := range s[1:10] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

// scratchDpkg is a dpkg database in a scratch root. Maintainer scripts run
// outside a chroot (--force-script-chrootless) with DPKG_ROOT set, and act
// on the scratch root only: they skip useradd and systemctl there, like
// install.sh --root.
type scratchDpkg struct {
	root   string
	prefix []string // fakeroot when not root
}

func newScratchDpkg(t *testing.T) *scratchDpkg {
	t.Helper()
	tool(t, "dpkg")
	s := &scratchDpkg{root: t.TempDir()}
	if os.Geteuid() != 0 {
		s.prefix = []string{tool(t, "fakeroot")}
	}
	admin := filepath.Join(s.root, "var/lib/dpkg")
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The one dependency, present as on every Debian system (passwd is
	// priority required), so dpkg checks dependencies for real.
	status := fmt.Sprintf("Package: passwd\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: x <x@x>\nArchitecture: %s\nVersion: 1:4.13+dfsg1-1\nDescription: change and administer password and group data\n\n", archs[hostArch()].deb)
	if err := os.WriteFile(filepath.Join(admin, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *scratchDpkg) dpkg(t *testing.T, args ...string) string {
	t.Helper()
	argv := append(append([]string{}, s.prefix...), "dpkg", "--root="+s.root, "--force-script-chrootless", "--force-not-root", "--log=/dev/null")
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Env = append(os.Environ(), "EDGE_BOARD=rpi4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// status returns dpkg-query's Status and Version of each package.
func (s *scratchDpkg) status(t *testing.T) map[string]string {
	t.Helper()
	out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(s.root, "var/lib/dpkg"), "-W", "-f", "${Package} ${Status} ${Version}\n").Output()
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		pkg, rest, _ := strings.Cut(sc.Text(), " ")
		got[pkg] = rest
	}
	return got
}

// TestDebInstall installs the release's three packages for this machine
// with dpkg into a scratch root, then upgrades (reinstalls) them over an
// edited configuration, removes and purges them.
func TestDebInstall(t *testing.T) {
	d := built(t)
	s := newScratchDpkg(t)
	var debs []string
	for _, p := range programs {
		debs = append(debs, d.path(d.debs[p+"/"+hostArch()]))
	}
	out := s.dpkg(t, append([]string{"--install"}, debs...)...)
	st := s.status(t)
	for _, p := range programs {
		if want := "install ok installed " + d.version; st[p] != want {
			t.Errorf("dpkg status of %s: %q, want %q\n%s", p, st[p], want, out)
		}
	}
	for p, in := range map[string]installed{
		"edge-agent":   {"usr/bin/edge-agent", "lib/systemd/system/edge-agent.service", "etc/edge-agent/agent.json", "deploy/config/agent.json", 0o640},
		"edge-control": {"usr/bin/edge-control", "lib/systemd/system/edge-control.service", "etc/edge-control/edge-control.env", "deploy/config/edge-control.env", 0o600},
		"edgectl":      {binary: "usr/bin/edgectl"},
	} {
		checkInstalled(t, d, s.root, p, in)
	}
	// The package sizes the agent's memory like install.sh: same drop-in.
	tarRoot := t.TempDir()
	if out, err := runInstall(t, extract(t, d, "edge-agent", hostArch()), "--root", tarRoot, "--board", "rpi4"); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if got, want := readFile(t, s.root, agentDropIn), readFile(t, tarRoot, agentDropIn); got != want || !strings.Contains(got, "MemoryMax=576M\n") {
		t.Errorf("the package's drop-in\n%s\ndiffers from install.sh's\n%s\n(want MemoryMax=576M for rpi4)", got, want)
	}
	checkControlStarts(t, s.root)

	// Upgrade: an edited conffile, the operator's drop-in and the state
	// survive; dpkg must not ask (stdin is empty).
	writeFile(t, s.root, "etc/edge-agent/agent.json", `{"id":"edited"}`)
	writeFile(t, s.root, "etc/systemd/system/edge-agent.service.d/override.conf", "[Service]\n")
	writeFile(t, s.root, "var/lib/edge-agent/state", "x")
	writeFile(t, s.root, "var/lib/edge-control/state", "x")
	s.dpkg(t, append([]string{"--install"}, debs...)...)
	if got := readFile(t, s.root, "etc/edge-agent/agent.json"); got != `{"id":"edited"}` {
		t.Errorf("upgrade replaced the edited agent.json: %q", got)
	}

	s.dpkg(t, "--remove", "edge-agent", "edge-control", "edgectl")
	checkGone(t, s.root, "usr/bin/edge-agent", "usr/bin/edge-control", "usr/bin/edgectl",
		"lib/systemd/system/edge-agent.service", "lib/systemd/system/edge-control.service", agentDropIn)
	for _, kept := range []string{"etc/edge-agent/agent.json", "etc/edge-control/edge-control.env",
		"etc/systemd/system/edge-agent.service.d/override.conf", "var/lib/edge-agent/state", "var/lib/edge-control/state"} {
		if _, err := os.Stat(filepath.Join(s.root, kept)); err != nil {
			t.Errorf("remove took %s: %v", kept, err)
		}
	}
	if st := s.status(t); !strings.HasPrefix(st["edge-agent"], "deinstall ok config-files") {
		t.Errorf("after remove: edge-agent %q, want config-files", st["edge-agent"])
	}

	s.dpkg(t, "--purge", "edge-agent", "edge-control", "edgectl")
	checkGone(t, s.root, "etc/edge-agent", "etc/edge-control", "etc/systemd/system/edge-agent.service.d", "var/lib/edge-agent", "var/lib/edge-control")
	for _, p := range programs {
		if st := s.status(t)[p]; st != "" && !strings.HasPrefix(st, "unknown ok not-installed") && !strings.HasPrefix(st, "purge ok not-installed") {
			t.Errorf("after purge: %s %q", p, st)
		}
	}
}

// checkControlStarts runs the installed edge-control the way its unit
// does, with the flags of the installed edge-control.env (ports moved to
// free ones, data in a scratch folder), and waits for it to serve.
func checkControlStarts(t *testing.T, root string) {
	t.Helper()
	env := readFile(t, root, "etc/edge-control/edge-control.env")
	m := regexp.MustCompile(`(?m)^EDGE_CONTROL_ARGS=(.*)$`).FindStringSubmatch(env)
	if m == nil {
		t.Fatalf("edge-control.env sets no EDGE_CONTROL_ARGS:\n%s", env)
	}
	args := []string{"--data", t.TempDir()}
	fields := strings.Fields(m[1])
	for i := 0; i < len(fields); i++ {
		args = append(args, fields[i])
		if (fields[i] == "--http" || fields[i] == "--mqtt") && i+1 < len(fields) {
			args = append(args, "127.0.0.1:0")
			i++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "usr/bin/edge-control"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "edge-control: http on http://127.0.0.1:") {
		t.Errorf("edge-control %v: %q, %v; want it serving\n%s", args, line, err, stderr.String())
	}
}

// TestDebScriptsMatchInstallScript: the two install paths size the agent
// the same way; the drop-in text must not drift between them.
func TestDebScriptsMatchInstallScript(t *testing.T) {
	heredoc := regexp.MustCompile(`(?s)<<CONF\n(.*?)\nCONF\n`)
	var bodies []string
	for _, f := range []string{"deploy/install.sh", "deploy/debian/postinst"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(), f))
		if err != nil {
			t.Fatal(err)
		}
		m := heredoc.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s writes no board drop-in", f)
		}
		bodies = append(bodies, string(m[1]))
	}
	sort.Strings(bodies)
	if bodies[0] != bodies[1] {
		t.Errorf("install.sh and postinst write different drop-ins:\n%s\n---\n%s", bodies[0], bodies[1])
	}
}
